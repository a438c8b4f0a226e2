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

"""NAS-FPN whose merge-cell convolutions are ResNet bottleneck blocks.

The EfficientNet-B7 detectors of the paper (Table 4) use the NAS-FPN of the
Copy-Paste / Cloud TPU detection codebase with `nasfpn.block_fn:
bottleneck` (tensorflow/tpu, models/official/detection/modeling/architecture/
nasfpn.py, `block_group`): each merge cell ends with

  activation -> bottleneck block(filters=num_filters, projection shortcut)

instead of Model Garden's activation -> 3x3 conv -> batch norm. The block
expands to 4 * num_filters channels, so every pyramid level, and the heads,
get 4 * num_filters channels; inside the pyramid, every input to a merge cell
is resampled back to num_filters channels by a 1x1 conv + batch norm.

`BottleneckNASFPN` is Model Garden's `NASFPN` (same topology, resampling and
combination code) with that one op swapped. Model Garden's `NASFPN.__init__`
picks its conv and norm classes as `self._conv_op` / `self._norm_op` and calls
them for every layer it builds: a 1x1 conv + norm when it resamples, a 3x3
conv + norm to finish a merge cell. The two properties below keep its choice
for resampling and build a bottleneck block in place of the 3x3 conv; the
norm that Model Garden applies after it is the identity, since the block
ends with its own norm, residual sum and activation.
"""
from typing import List, Mapping, Optional

import tensorflow as tf
import tf_keras

from official.modeling import hyperparams
from official.vision.modeling.decoders import factory
from official.vision.modeling.decoders import nasfpn
from official.vision.modeling.layers import nn_blocks


@tf_keras.utils.register_keras_serializable(package='BackboneReuse')
class BottleneckNASFPN(nasfpn.NASFPN):
  """Model Garden's NAS-FPN with bottleneck blocks in its merge cells."""

  def __init__(self,
               input_specs: Mapping[str, tf.TensorShape],
               block_specs: Optional[List[nasfpn.BlockSpec]] = None,
               stochastic_depth_drop_rate: float = 0.0,
               use_sum_for_combination: bool = False,
               **kwargs):
    """Initializes the decoder.

    Args:
      input_specs: {level: TensorShape} of the backbone's outputs.
      block_specs: the NAS-FPN topology; Model Garden's (the NAS-FPN paper's)
        when None.
      stochastic_depth_drop_rate: drop rate of every bottleneck block's
        residual branch (the Cloud TPU codebase's `init_drop_connect_rate`).
      use_sum_for_combination: combine every merge cell's two inputs by sum,
        also where the topology says global attention.
      **kwargs: `NASFPN` arguments (num_filters, num_repeats, activation,
        normalisation, initializer, regularizers, ...).
    """
    self._stochastic_depth_drop_rate = stochastic_depth_drop_rate
    self._norm_follows_block = False
    block_specs = block_specs or nasfpn.build_block_specs()
    if use_sum_for_combination:
      block_specs = [nasfpn.BlockSpec(b.level, 'sum', b.input_offsets,
                                      b.is_output) for b in block_specs]
    super().__init__(input_specs=input_specs, block_specs=block_specs,
                     **kwargs)
    self._config_dict.update(
        stochastic_depth_drop_rate=stochastic_depth_drop_rate,
        use_sum_for_combination=use_sum_for_combination)

  @property
  def _conv_op(self):
    return self._conv_or_bottleneck

  @_conv_op.setter
  def _conv_op(self, conv_op):
    # NASFPN.__init__ chooses Conv2D or SeparableConv2D; resampling uses it.
    self._resample_conv_op = conv_op

  @property
  def _norm_op(self):
    return self._norm_unless_after_block

  @_norm_op.setter
  def _norm_op(self, norm_op):
    self._resample_norm_op = norm_op

  def _conv_or_bottleneck(self, filters: int, kernel_size, **conv_kwargs):
    """A 1x1 resampling conv, or a bottleneck block for the 3x3 merge conv."""
    if kernel_size == 1:
      return self._resample_conv_op(filters=filters, kernel_size=1,
                                    **conv_kwargs)
    self._norm_follows_block = True
    config = self._config_dict
    return nn_blocks.BottleneckBlock(
        filters=filters,
        strides=1,
        use_projection=True,
        stochastic_depth_drop_rate=self._stochastic_depth_drop_rate,
        kernel_initializer=config['kernel_initializer'],
        kernel_regularizer=config['kernel_regularizer'],
        bias_regularizer=config['bias_regularizer'],
        activation=config['activation'],
        use_sync_bn=config['use_sync_bn'],
        norm_momentum=config['norm_momentum'],
        norm_epsilon=config['norm_epsilon'])

  def _norm_unless_after_block(self, **norm_kwargs):
    if self._norm_follows_block:
      self._norm_follows_block = False
      return tf_keras.layers.Identity()
    return self._resample_norm_op(**norm_kwargs)

  def _resample_feature_map(self, inputs, input_level, target_level,
                            target_num_filters=None):
    # Model Garden's merge cells resample to its default of 256 channels;
    # the Cloud TPU codebase resamples to the pyramid width.
    return super()._resample_feature_map(
        inputs, input_level, target_level,
        target_num_filters or self._config_dict['num_filters'])


@factory.register_decoder_builder('bottleneck_nasfpn')
def build_bottleneck_nasfpn_decoder(
    input_specs: Mapping[str, tf.TensorShape],
    model_config: hyperparams.Config,
    l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None
) -> tf_keras.Model:
  """Builds `BottleneckNASFPN` from `task.model.decoder.bottleneck_nasfpn`.

  Normalisation comes from `task.model.norm_activation` (the decoder trains
  with the heads); the activation from the decoder config when set there.
  """
  decoder_type = model_config.decoder.type
  if decoder_type != 'bottleneck_nasfpn':
    raise ValueError(f'task.model.decoder.type is {decoder_type!r}; this '
                     'builder builds `bottleneck_nasfpn`.')
  topology_levels = sorted({b.level for b in nasfpn.build_block_specs()})
  levels = list(range(model_config.min_level, model_config.max_level + 1))
  if levels != topology_levels:
    raise ValueError(
        f'task.model.min_level/max_level give levels {levels}; the NAS-FPN '
        f'topology of bottleneck_nasfpn outputs levels {topology_levels}.')
  decoder_cfg = model_config.decoder.get()
  norm_activation = model_config.norm_activation
  return BottleneckNASFPN(
      input_specs=input_specs,
      min_level=model_config.min_level,
      max_level=model_config.max_level,
      num_filters=decoder_cfg.num_filters,
      num_repeats=decoder_cfg.num_repeats,
      use_separable_conv=decoder_cfg.use_separable_conv,
      stochastic_depth_drop_rate=decoder_cfg.stochastic_depth_drop_rate,
      use_sum_for_combination=decoder_cfg.use_sum_for_combination,
      activation=decoder_cfg.activation or norm_activation.activation,
      use_sync_bn=norm_activation.use_sync_bn,
      norm_momentum=norm_activation.norm_momentum,
      norm_epsilon=norm_activation.norm_epsilon,
      kernel_regularizer=l2_regularizer)
