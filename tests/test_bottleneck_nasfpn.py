# Copyright 2026 The TensorFlow Authors. All Rights Reserved.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""The EfficientNet-B7 setup's pieces: bottleneck NAS-FPN and 2-conv RPN head.

Parameter counts are Keras' `count_params()` (batch-norm moving statistics
included) checked against formulas derived from the configuration.
"""
import pytest
import tensorflow as tf
import tf_keras

from official.core import exp_factory
from official.vision.modeling.backbones import resnet
from official.vision.modeling.decoders import nasfpn
from official.vision.modeling.heads import dense_prediction_heads
from official.vision.modeling.layers import nn_blocks

from official_projects_backbone_reuse.modeling import bottleneck_nasfpn
from official_projects_backbone_reuse.modeling import detector
from tests import reuse_helpers as h

SIZE = 128
MIN_LEVEL, MAX_LEVEL = 3, 7
FILTERS = 8


def conv(c_in, c_out, kernel=1, bias=True):
  return kernel * kernel * c_in * c_out + (c_out if bias else 0)


def bn(channels):  # gamma, beta, moving mean, moving variance
  return 4 * channels


def bottleneck(c_in, filters):
  """A projection-shortcut bottleneck block: 1x1, 3x3, 1x1 (4x), no bias."""
  out = 4 * filters
  return (conv(c_in, out, bias=False) + bn(out)
          + conv(c_in, filters, bias=False) + bn(filters)
          + conv(filters, filters, 3, bias=False) + bn(filters)
          + conv(filters, out, bias=False) + bn(out))


def resampled_inputs(block_specs, num_levels):
  """Per NAS-FPN cell: how many resampled inputs are the cell's own inputs
  and how many are outputs of its merge cells. An output cell also sums in
  the nodes of its level that nothing has used yet."""
  uses = [0] * num_levels
  levels = list(range(MIN_LEVEL, MIN_LEVEL + num_levels))
  used = []
  for spec in block_specs:
    nodes = list(spec.input_offsets)
    for j in nodes:
      uses[j] += 1
    if spec.is_output:
      unused = [j for j, (n, level) in enumerate(zip(uses, levels))
                if n == 0 and level == spec.level]
      for j in unused:
        uses[j] += 1
      nodes += unused
    used += nodes
    uses.append(0)
    levels.append(spec.level)
  from_inputs = sum(j < num_levels for j in used)
  return from_inputs, len(used) - from_inputs


def expected_nasfpn_params(backbone_channels, filters, num_repeats):
  """Input projections, then per cell one bottleneck per block spec and the
  1x1 conv + BN that brings every 4*filters-channel input back to `filters`."""
  specs = nasfpn.build_block_specs()
  from_inputs, from_blocks = resampled_inputs(specs,
                                              MAX_LEVEL - MIN_LEVEL + 1)
  projections = sum(conv(c, filters) + bn(filters)
                    for c in backbone_channels if c != filters)
  resample = conv(4 * filters, filters) + bn(filters)
  blocks = len(specs) * bottleneck(filters, filters)
  first_cell = blocks + from_blocks * resample
  later_cell = blocks + (from_blocks + from_inputs) * resample
  return projections + first_cell + (num_repeats - 1) * later_cell


@pytest.fixture(scope='module')
def backbone():
  return resnet.ResNet(
      model_id=10, input_specs=tf_keras.layers.InputSpec(
          shape=[None, SIZE, SIZE, 3]))


def test_levels_shapes_and_parameter_count(backbone):
  decoder = bottleneck_nasfpn.BottleneckNASFPN(
      input_specs=backbone.output_specs, min_level=MIN_LEVEL,
      max_level=MAX_LEVEL, num_filters=FILTERS, num_repeats=2)
  features = decoder(backbone(tf.random.uniform([2, SIZE, SIZE, 3])))

  assert sorted(features) == [str(l) for l in range(MIN_LEVEL, MAX_LEVEL + 1)]
  for level, feature in features.items():
    side = SIZE // 2**int(level)
    assert feature.shape == (2, side, side, 4 * FILTERS)
  channels = [spec[-1] for level, spec in backbone.output_specs.items()
              if MIN_LEVEL <= int(level) <= MAX_LEVEL]  # levels 3-5 of 3-7
  assert decoder.count_params() == expected_nasfpn_params(
      channels, FILTERS, num_repeats=2)
  blocks = [l for l in decoder.layers if isinstance(l, nn_blocks.BottleneckBlock)]
  assert len(blocks) == 2 * len(nasfpn.build_block_specs())


def test_sum_combination_and_stochastic_depth(backbone):
  def build(**kwargs):
    return bottleneck_nasfpn.BottleneckNASFPN(
        input_specs=backbone.output_specs, num_filters=FILTERS,
        num_repeats=1, **kwargs)

  def uses_attention(decoder):
    return any('sigmoid' in layer.name for layer in decoder.layers)

  plain = build()
  summed = build(use_sum_for_combination=True, stochastic_depth_drop_rate=0.2)
  assert uses_attention(plain) and not uses_attention(summed)
  assert summed.count_params() == plain.count_params()
  rates = {l.get_config()['stochastic_depth_drop_rate']
           for l in summed.layers if isinstance(l, nn_blocks.BottleneckBlock)}
  assert rates == {0.2}
  rebuilt = bottleneck_nasfpn.BottleneckNASFPN.from_config(
      summed.get_config())
  assert not uses_attention(rebuilt)


def expected_rpn_params(c_in, filters, num_convs, num_levels, anchors):
  """Shared 3x3 convs (with bias), one BN per conv and level, 1x1 outputs."""
  convs = conv(c_in, filters, 3) + (num_convs - 1) * conv(filters, filters, 3)
  return (convs + num_convs * num_levels * bn(filters)
          + conv(filters, anchors) + conv(filters, 4 * anchors))


def test_rpn_extra_convolution_is_model_gardens_num_convs_2():
  levels = {str(l): tf.zeros([1, 2**(8 - l), 2**(8 - l), 16])
            for l in range(MIN_LEVEL, MAX_LEVEL + 1)}
  heads = {}
  for num_convs in (1, 2):
    heads[num_convs] = dense_prediction_heads.RPNHead(
        min_level=MIN_LEVEL, max_level=MAX_LEVEL, num_anchors_per_location=3,
        num_convs=num_convs, num_filters=FILTERS)
    scores, boxes = heads[num_convs](levels)
    for level, feature in levels.items():
      assert scores[level].shape == feature.shape[:3] + (3,)
      assert boxes[level].shape == feature.shape[:3] + (12,)
    assert heads[num_convs].count_params() == expected_rpn_params(
        16, FILTERS, num_convs, len(levels), anchors=3)
  # The extra conv: one shared 3x3 conv and a batch norm per level.
  assert heads[2].count_params() - heads[1].count_params() == (
      conv(FILTERS, FILTERS, 3) + len(levels) * bn(FILTERS))


@pytest.mark.slow
def test_registered_and_trained_on_a_frozen_backbone():
  params = h.maskrcnn_config(input_size=SIZE)
  params.override({'task': {'model': {
      'min_level': MIN_LEVEL, 'max_level': MAX_LEVEL,
      'decoder': {'type': 'bottleneck_nasfpn', 'bottleneck_nasfpn': {
          'num_filters': FILTERS, 'num_repeats': 1, 'activation': 'swish',
          'use_sum_for_combination': True,
          'stochastic_depth_drop_rate': 0.2}},
      'rpn_head': {'num_convs': 2, 'num_filters': FILTERS}}}},
                  is_strict=True)
  model_config = params.task.model
  model = detector.build_detector(
      model_config, tf_keras.layers.InputSpec(shape=[None, SIZE, SIZE, 3]),
      l2_weight_decay=0.0, freeze_at=5)

  assert isinstance(model.decoder, bottleneck_nasfpn.BottleneckNASFPN)
  assert model.decoder.get_config()['activation'] == 'swish'
  trained = {id(v) for v in model.trainable_variables}
  decoder_params = [v for v in model.decoder.weights if v.trainable]
  assert decoder_params and all(id(v) in trained for v in decoder_params)
  assert not trained & {id(v) for v in model.backbone.weights}
  anchors = (len(model_config.anchor.aspect_ratios)
             * model_config.anchor.num_scales)
  assert model.rpn_head.count_params() == expected_rpn_params(
      4 * FILTERS, FILTERS, 2, MAX_LEVEL - MIN_LEVEL + 1, anchors)


def test_levels_outside_the_topology_are_refused(backbone):
  params = exp_factory.get_exp_config('backbone_reuse_maskrcnn')  # levels 2-6
  params.task.model.decoder.type = 'bottleneck_nasfpn'
  with pytest.raises(ValueError, match=r'levels \[2, 3, 4, 5, 6\]'):
    bottleneck_nasfpn.build_bottleneck_nasfpn_decoder(
        backbone.output_specs, params.task.model)
