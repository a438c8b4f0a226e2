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

"""Residual adapters on frozen Model Garden backbones.

Each adapted backbone is restored from the checkpoint of an unadapted one
(the plain classification checkpoint case), so that both compute with the
same original weights.
"""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.core import task_factory

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.common.errors import CheckpointError
from official_projects_backbone_reuse.modeling import adapters
from official_projects_backbone_reuse.modeling import parameters
from tests import reuse_helpers as h
from tests.test_reuse import _train

TYPES = ('parallel', 'series', 'film')
# The paper's ResNet-RS options (v1 stem, ResNet-D shortcut, squeeze-
# excitation, no stem max pool) on basic (ResNet-10) and bottleneck
# (ResNet-50, a quarter wide) blocks, and EfficientNet-B0.
BACKBONES = {
    'resnet10': {'type': 'resnet', 'resnet': {'model_id': 10}},
    'resnet50': {'type': 'resnet',
                 'resnet': {'model_id': 50, 'depth_multiplier': 0.25}},
    'efficientnet_b0': {'type': 'efficientnet',
                        'efficientnet': {'model_id': 'b0', 'se_ratio': 0.25}},
}


def _backbone_config(name):
  config = h.retinanet_config().task.model
  config = config.replace(backbone=BACKBONES[name])
  if name.startswith('resnet'):
    resnet = config.backbone.resnet
    assert resnet.stem_type == 'v1' and resnet.resnetd_shortcut
    assert resnet.se_ratio == 0.25 and resnet.replace_stem_max_pool
  return config


@pytest.fixture(scope='module')
def unadapted(tmp_path_factory):
  """name -> (checkpoint, variable count, outputs on `images`) of the
  unadapted frozen backbone, built once per name."""
  images = tf.random.uniform([2, 64, 64, 3], seed=5)
  cache = {}

  def get(name):
    if name not in cache:
      plain = h.build_backbone(_backbone_config(name), freeze_backbone=True)
      prefix = tf.train.Checkpoint(backbone=plain).save(
          str(tmp_path_factory.mktemp(name) / 'ckpt'))
      cache[name] = (prefix, len(plain.weights),
                     plain(images, training=False))
    return cache[name]

  return images, get


@pytest.mark.parametrize('adapter', TYPES)
@pytest.mark.parametrize('backbone', sorted(BACKBONES))
def test_adapters_start_as_the_unadapted_function(backbone, adapter,
                                                  unadapted):
  images, get = unadapted
  prefix, num_weights, expected = get(backbone)
  adapted = h.build_backbone(_backbone_config(backbone), freeze_backbone=True,
                             adapter=adapter)
  new = adapters.adapter_variables(adapted)
  report = restore.restore_backbone(adapted, prefix, new_by_design=new)
  assert len(report.restored) == num_weights
  assert len(report.new_by_design) == len(new) > 0
  assert len(adapted.weights) == num_weights + len(new)

  # training=True: the frozen originals run in inference mode, the
  # adapters (and a series adapter's batch norm) in training mode.
  got = adapted(images, training=True)
  assert set(got) == set(expected)
  for level in expected:
    np.testing.assert_allclose(got[level], expected[level], rtol=1e-6,
                               atol=1e-6)
  assert restore.backbone_differences(adapted, prefix, new) == []


@pytest.mark.parametrize('adapter', TYPES)
def test_a_training_step_moves_the_adapters_only(adapter):
  backbone = h.build_backbone(_backbone_config('resnet10'),
                              freeze_backbone=True, adapter=adapter,
                              l2_weight_decay=1e-4)
  new = adapters.adapter_variables(backbone)
  assert ({id(v) for v in backbone.trainable_variables}
          == {id(v) for v in new if v.trainable})
  before = [v.numpy() for v in backbone.weights]
  optimizer = tf_keras.optimizers.SGD(0.1)

  @tf.function
  def step(images):
    with tf.GradientTape() as tape:
      outputs = backbone(images, training=True)
      loss = tf.add_n([tf.reduce_sum(o) for o in outputs.values()] +
                      backbone.losses)
    variables = backbone.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

  for seed in range(2):
    step(tf.random.uniform([2, 64, 64, 3], seed=seed))
  new_ids = {id(v) for v in new}
  for start, v in zip(before, backbone.weights):
    if id(v) not in new_ids:
      np.testing.assert_array_equal(start, v.numpy(), err_msg=v.name)
    elif v.trainable and np.all(start == start.flat[0]):
      # Constant-initialised: zero kernels and scales, FiLM's ones/zeros.
      assert not np.array_equal(start, v.numpy()), v.name
  # L2 on the adapters' kernels only (FiLM has none).
  assert len(backbone.losses) == len([v for v in new if 'kernel' in v.name])


def test_adapters_sit_where_the_papers_do():
  config = _backbone_config('resnet50')
  shapes = {}
  for adapter in TYPES:
    backbone = h.build_backbone(config, freeze_backbone=True, adapter=adapter)
    names = sorted({v.name.split('/')[1] for v in
                    adapters.adapter_variables(backbone)})
    shapes[adapter] = names
    # Each bottleneck block has one 3x3 convolution.
    blocks = adapters.blocks(backbone)
    assert len(blocks) == 16
    assert all(b.name.startswith('bottleneck_block') for b in blocks)
  assert shapes == {'parallel': ['adapter_conv2'],
                    'series': ['adapter_norm2'],
                    'film': ['adapter_output']}


def test_checkpoint_without_adapters_names_them_missing(
    upstream_checkpoint):
  directory, _, classifier = upstream_checkpoint
  params = h.retinanet_config(directory)
  params.task.model.backbone_adapter.type = 'parallel'
  model = task_factory.get_task(params.task).build_model()
  with pytest.raises(CheckpointError,
                     match=r'missing: backbone/.*adapter_conv1/conv/kernel'):
    restore.restore_backbone(model.backbone, directory)
  new = adapters.adapter_variables(model.backbone)
  report = restore.restore_backbone(model.backbone, directory,
                                        new_by_design=new)
  assert len(report.restored) == len(classifier.backbone.weights)
  assert len(report.new_by_design) == len(new) == 8
  assert all('adapter_conv' in name for name in report.new_by_design)


def test_parameter_report_shows_the_adapters():
  params = h.retinanet_config()
  params.task.model.backbone_adapter.type = 'parallel'
  model = task_factory.get_task(params.task).build_model()
  counts = parameters.count_parameters(model)
  assert list(counts)[:2] == ['backbone', 'adapters']
  assert counts['backbone'].trained == 0
  adapter_params = sum(int(np.prod(v.shape))
                       for v in adapters.adapter_variables(model.backbone))
  assert counts['adapters'].total == counts['adapters'].trained
  assert counts['adapters'].total == adapter_params > 0
  parts = [c for k, c in counts.items() if k != 'total']
  assert counts['total'].total == sum(c.total for c in parts)
  assert counts['total'].trained == sum(c.trained for c in parts)


@pytest.mark.slow
def test_only_adapters_train_and_originals_stay_bit_identical(
    upstream_checkpoint, tiny_world, tmp_path):
  # Series adapters: the most moving parts (a batch norm of their own,
  # called from inside a frozen one). The other types: the step above.
  directory = upstream_checkpoint.directory
  params = h.set_data(h.retinanet_config(directory),
                      tiny_world.det_train_pattern, steps=3)
  params.task.model.backbone_adapter.type = 'series'
  params.task.losses.l2_weight_decay = 1e-4
  model = _train(params, tmp_path / 'run')

  new = adapters.adapter_variables(model.backbone)
  assert restore.backbone_differences(model.backbone, directory,
                                          new) == []
  trained = {id(v) for v in model.trainable_variables}
  trained_in_backbone = {id(v) for v in model.backbone.weights} & trained
  assert trained_in_backbone == {id(v) for v in new if v.trainable}
  scales = [v for v in new if 'norm/gamma' in v.name]
  statistics = [v for v in new if 'norm/moving_mean' in v.name]
  assert scales and all(np.any(v.numpy() != 0) for v in scales)
  assert statistics and all(np.any(v.numpy() != 0) for v in statistics)
  assert len(model.backbone.losses) == len(
      [v for v in new if 'kernel' in v.name])
