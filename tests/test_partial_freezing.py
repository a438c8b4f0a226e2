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

"""Partial freezing (`task.freeze_at`, Detectron2's FREEZE_AT) on ResNet.

The tiny ResNet-10 in the paper's ResNet-RS form has one block per stage:
block j (in computation order) is the stage of level j + 2, and the stem is
every weighted layer before the first block.
"""
import re

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.vision.modeling import backbones as model_garden_backbones
from official.vision.modeling.backbones import efficientnet

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.modeling import detector
from tests import reuse_helpers as h
from tests.test_reuse import _train

WEIGHT_DECAY = 1e-3


def _model_config():
  return h.retinanet_config().task.model


def _expected_stages(backbone):
  """{id(variable): stage} from the structure of Model Garden's ResNet-10."""
  stages, block = {}, None
  for layer in backbone.layers:
    if list(layer._flatten_layers(include_self=False, recursive=False)):  # pylint: disable=protected-access
      block = 0 if block is None else block + 1
    stage = 1 if block is None else block + 2
    stages.update({id(v): stage for v in layer.weights})
  return stages


def _trained_ids(backbone):
  return {id(v) for v in backbone.trainable_variables}


@pytest.fixture(scope='module')
def backbones():
  return {k: h.build_backbone(_model_config(), freeze_at=k,
                              l2_weight_decay=WEIGHT_DECAY)
          for k in range(6)}


@pytest.mark.parametrize('freeze_at', range(6))
def test_exactly_the_stages_above_freeze_at_train(backbones, freeze_at):
  backbone = backbones[freeze_at]
  stages = _expected_stages(backbone)
  assert sorted(set(stages.values())) == [1, 2, 3, 4, 5]
  expected = {id(v) for v in backbone.weights
              if v.trainable and stages[id(v)] > freeze_at}
  assert _trained_ids(backbone) == expected
  assert bool(expected) == (freeze_at < 5)


@pytest.mark.parametrize('freeze_at', range(6))
def test_l2_penalty_only_on_trained_kernels(backbones, freeze_at):
  backbone = backbones[freeze_at]
  trained = _trained_ids(backbone)
  kernels = [v for v in backbone.trainable_weights if 'kernel' in v.name]
  assert all(id(v) in trained for v in kernels)
  assert len(backbone.losses) == len(kernels)
  expected = sum(WEIGHT_DECAY / 2 * tf.reduce_sum(v ** 2) for v in kernels)
  np.testing.assert_allclose(float(tf.add_n(backbone.losses or [0.0])),
                             float(expected), rtol=1e-6)


def _leaves(backbone):
  return [layer for layer in backbone._flatten_layers()  # pylint: disable=protected-access
          if not list(layer._flatten_layers(include_self=False))]  # pylint: disable=protected-access


@pytest.mark.parametrize('freeze_at', [0, 2])
def test_penalty_is_model_gardens_on_the_trained_layers(backbones, freeze_at):
  ours = backbones[freeze_at]
  config = _model_config()
  theirs = model_garden_backbones.factory.build_backbone(
      input_specs=tf_keras.layers.InputSpec(shape=[None, 64, 64, 3]),
      backbone_config=config.backbone,
      norm_activation_config=config.backbone_norm_activation,
      l2_regularizer=detector.l2_regularizer_for(WEIGHT_DECAY))
  expected = []
  for mine, model_gardens in zip(_leaves(ours), _leaves(theirs)):
    assert type(mine) is type(model_gardens)
    if hasattr(mine, 'kernel'):
      model_gardens.kernel.assign(mine.kernel)
    if mine.trainable:
      expected += model_gardens.losses
  assert len(ours.losses) == len(expected) > 0
  np.testing.assert_allclose(float(tf.add_n(ours.losses)),
                             float(tf.add_n(expected)), rtol=1e-6)


def test_frozen_stages_do_not_move_in_a_training_step(backbones):
  backbone = backbones[3]
  stages = _expected_stages(backbone)
  before = {id(v): v.numpy() for v in backbone.weights}
  optimizer = tf_keras.optimizers.SGD(0.1)
  images = tf.random.uniform([2, 64, 64, 3], seed=3)
  with tf.GradientTape() as tape:
    outputs = backbone(images, training=True)
    loss = tf.add_n([tf.reduce_mean(o ** 2) for o in outputs.values()])
  variables = backbone.trainable_variables
  optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
  moved = {id(v) for v in backbone.weights
           if not np.array_equal(before[id(v)], v.numpy())}
  assert not any(stages[i] <= 3 for i in moved)
  names = {v.name.split('/')[-1] for v in backbone.weights
           if id(v) in moved}
  assert {'kernel:0', 'moving_mean:0', 'moving_variance:0'} <= names


def test_no_stochastic_depth_once_anything_is_frozen():
  config = _model_config()
  config.backbone.resnet.stochastic_depth_drop_rate = 0.5
  images = tf.random.uniform([4, 64, 64, 3], seed=4)

  def differs(backbone):
    a = backbone(images, training=True)
    b = backbone(images, training=True)
    return any(not np.array_equal(a[k], b[k]) for k in a)

  assert differs(h.build_backbone(config, freeze_at=0))
  assert not differs(h.build_backbone(config, freeze_at=2))


def test_efficientnet_stem_is_told_apart():
  config = _model_config().replace(backbone={
      'type': 'efficientnet', 'efficientnet': {'model_id': 'b0'}})
  backbone = h.build_backbone(config, freeze_at=1)
  assert isinstance(backbone, efficientnet.EfficientNet)
  frozen = {id(v) for v in backbone.weights
            if v.trainable and id(v) not in _trained_ids(backbone)}
  # The stem: a convolution and its batch norm, before the first block.
  stem = [layer for layer in backbone.layers[:4] if layer.weights]
  assert [type(layer).__name__ for layer in stem] == [
      'Conv2D', 'BatchNormalization']
  assert frozen == {id(v) for layer in stem for v in layer.weights
                    if v.trainable}


def test_yaml_key_and_contradictions():
  params = loading.load_experiment(
      'backbone_reuse_retinanet', [h.RETINANET_YAML],
      'task.freeze_backbone=false,task.freeze_at=3')
  assert params.task.freeze_at == 3
  validation.check_reuse(params.task)
  assert validation.freeze_at_of(True, None) == 5
  assert validation.freeze_at_of(False, None) == 0
  assert validation.freeze_at_of(True, 5) == 5
  with pytest.raises(ConfigError,
                     match=r'task\.freeze_at=3 contradicts '
                           r'task\.freeze_backbone=true'):
    validation.freeze_at_of(True, 3)
  with pytest.raises(ConfigError, match=r'task\.freeze_at=6: '):
    validation.freeze_at_of(False, 6)


@pytest.mark.slow
def test_training_moves_only_the_stages_above_freeze_at(tiny_world,
                                                        tmp_path):
  directory = str(tmp_path / 'upstream')
  h.make_upstream_checkpoint(directory)
  params = h.set_data(h.retinanet_config(directory),
                      tiny_world.det_train_pattern, steps=2)
  params.task.freeze_backbone = False
  params.task.freeze_at = 3
  model = _train(params, tmp_path / 'run')
  stages = _expected_stages(model.backbone)
  stages = {v.name: stages[id(v)] for v in model.backbone.weights}
  changed = {re.search(r'\((\S+), shape', line).group(1) for line in
             restore.backbone_differences(model.backbone, directory)}
  assert changed and all(stages[name] > 3 for name in changed)
  assert any('moving_mean' in name for name in changed)
  assert any('kernel' in name for name in changed)
  # A training step penalises what trains, and only that.
  assert len(model.backbone.losses) == len(
      [v for v in model.backbone.trainable_weights if 'kernel' in v.name])
  assert model.backbone.losses


def test_a_backbone_without_a_stage_table_is_frozen_whole_or_not_at_all():
  config = _model_config().replace(backbone={
      'type': 'mobilenet', 'mobilenet': {'model_id': 'MobileNetV2'}})
  with pytest.raises(ConfigError, match=r'^task\.freeze_at: stages are known '
                                        r'for .*not for .*\(MobileNet\)'):
    h.build_backbone(config, freeze_at=2)
  whole = h.build_backbone(config, freeze_at=5)
  assert whole.weights and not whole.trainable_weights
  assert h.build_backbone(config, freeze_at=0).trainable_weights


def test_the_run_config_records_one_freeze_at():
  frozen = loading.load_experiment('backbone_reuse_retinanet',
                                   [h.RETINANET_YAML])
  assert frozen.task.freeze_backbone and frozen.task.freeze_at == 5
  trained = loading.load_experiment('backbone_reuse_retinanet',
                                    [h.RETINANET_YAML],
                                    'task.freeze_backbone=false')
  assert trained.task.freeze_at == 0
