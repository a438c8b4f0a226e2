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

"""TF1 name-based checkpoints (tensorflow/tpu's EfficientNet) restore into
Model Garden's EfficientNet: every weight from its reference name, the
moving-average shadow where the checkpoint has one; a config that would
not compute what the checkpoint was trained to compute is one error; a
frozen detector trains from one with its backbone bit-identical.

The checkpoints are written here with the reference's names and shapes
(tests/data/tf1_efficientnet-b0.txt, listed from the reference code), each
tensor distinct, so that where each one went can be read off the model."""
import ast
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import efficientnet
from official.vision.modeling.layers import nn_blocks

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse import inspect_checkpoint
from official_projects_backbone_reuse import train
from official_projects_backbone_reuse.common.errors import CheckpointError
from official_projects_backbone_reuse.tasks import detection
from tests import reuse_helpers as h
from tests import runtime_helpers as rh

REFERENCE = os.path.join(os.path.dirname(__file__), 'data',
                         'tf1_efficientnet-b0.txt')
SCOPE = 'efficientnet-b0/'
EMA = '/ExponentialMovingAverage'
# How the reference trained it, in this project's config.
AS_TRAINED = {'se_ratio': 0.25, 'se_inner_activation': 'swish'}


def _reference_shapes():
  shapes = {}
  with open(REFERENCE) as f:
    for line in f:
      if not line.startswith('#'):
        name, shape = line.rstrip('\n').split('\t')
        shapes[name] = ast.literal_eval(shape)
  return shapes


def _save_by_name(prefix, tensors):
  """As tf.compat.v1.train.Saver writes: names, no object graph."""
  names = sorted(tensors)
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                    shape_and_slices=[''] * len(names),
                    tensors=[tf.constant(tensors[n]) for n in names])


@pytest.fixture(scope='module')
def tf1_b0(tmp_path_factory):
  """(directory with EMA shadows, directory without, {name: tensor}): the
  reference's B0 checkpoint as downloaded (model.ckpt-N, no state file);
  a shadow is its weight + 0.01."""
  rng = np.random.RandomState(0)
  # Small enough for 16 blocks not to overflow; variances positive.
  tensors = {name: 0.1 * rng.normal(size=shape).astype(np.float32)
             for name, shape in _reference_shapes().items()
             if name != 'global_step'}
  tensors = {n: np.abs(t) + 0.5 if n.endswith('moving_variance') else t
             for n, t in tensors.items()}
  shadows = {n + EMA: t + 0.01 for n, t in tensors.items()}
  root = tmp_path_factory.mktemp('tf1')
  with_ema, without = root / 'with_ema', root / 'without'
  step = {'global_step': np.int64(218949)}
  _save_by_name(str(with_ema / 'model.ckpt-218949'),
                {**tensors, **shadows, **step})
  _save_by_name(str(without / 'model.ckpt-218949'), {**tensors, **step})
  return str(with_ema), str(without), {**tensors, **shadows}


def _b0():
  return efficientnet.EfficientNet('b0', activation='swish', **AS_TRAINED)


def _sources(backbone, tensors):
  """The checkpoint name each weight's value came from."""
  by_value = {t.tobytes(): n for n, t in tensors.items()}
  return [by_value.get(w.numpy().tobytes()) for w in backbone.weights]


def _layer(name):
  """`blocks_1/se/conv2d` of `efficientnet-b0/blocks_1/se/conv2d/bias/EMA`."""
  return name[len(SCOPE):].replace(EMA, '').rpartition('/')[0]


def test_every_weight_comes_from_its_reference_name(tf1_b0):
  with_ema, without, tensors = tf1_b0
  backbone = _b0()
  report = restore.restore_backbone(backbone, with_ema)
  assert report.summary() == (
      f'Restored 309 backbone variables from {with_ema}/model.ckpt-218949; '
      '0 new by design; TF1 names of efficientnet-b0 (tensorflow/tpu '
      'EfficientNet), 309 of 309 from their ExponentialMovingAverage.')
  sources = _sources(backbone, tensors)
  # One to one: every shadow but the classifier's went to one weight.
  assert sorted(sources) == sorted(
      n for n in tensors if n.endswith(EMA) and '/head/dense/' not in n)
  # In each weight's own kind, and block by block in order: the second
  # block (expansion 6) in the reference's creation order.
  for weight, source in zip(backbone.weights, sources):
    kind = weight.name.rpartition('/')[2].partition(':')[0]
    assert source.endswith(f'/{kind}{EMA}'), (weight.name, source)
  blocks = [l for l in backbone.layers
            if isinstance(l, nn_blocks.InvertedBottleneckBlock)]
  assert len(blocks) == 16
  for n, block in enumerate(blocks):
    assert {_layer(s).split('/')[0]
            for s in _sources(block, tensors)} == {f'blocks_{n}'}
  bn = 'tpu_batch_normalization'
  assert [_layer(s) for s in _sources(blocks[1], tensors)][:12] == [
      'blocks_1/conv2d', f'blocks_1/{bn}', f'blocks_1/{bn}',
      'blocks_1/depthwise_conv2d', f'blocks_1/{bn}_1', f'blocks_1/{bn}_1',
      'blocks_1/se/conv2d', 'blocks_1/se/conv2d', 'blocks_1/se/conv2d_1',
      'blocks_1/se/conv2d_1', 'blocks_1/conv2d_1', f'blocks_1/{bn}_2']
  # The first block has no expansion: its projection is conv2d.
  assert [_layer(s) for s in _sources(blocks[0], tensors)][:3] == [
      'blocks_0/depthwise_conv2d', f'blocks_0/{bn}', f'blocks_0/{bn}']
  assert _layer(_sources(blocks[0], tensors)[7]) == 'blocks_0/conv2d'
  stem, head = [l for l in backbone.layers
                if isinstance(l, tf_keras.layers.Conv2D)]
  assert [_layer(_sources(l, tensors)[0]) for l in (stem, head)] == [
      'stem/conv2d', 'head/conv2d']
  assert restore.backbone_differences(backbone, with_ema) == []

  # Without shadows, the weights themselves.
  backbone = _b0()
  report = restore.restore_backbone(backbone, without)
  assert report.summary().endswith(', 0 of 309 from their '
                                   'ExponentialMovingAverage.')
  assert sorted(_sources(backbone, tensors)) == sorted(
      n for n in tensors if EMA not in n and '/head/dense/' not in n)


def _detector(init_checkpoint, **efficientnet_options):
  params = h.retinanet_config(init_checkpoint)
  params.override({'task': {'model': {
      'backbone': {'type': 'efficientnet', 'efficientnet': {
          'model_id': 'b0', **efficientnet_options}},
      'backbone_norm_activation': {'activation': 'swish',
                                   'norm_epsilon': 0.001}}}})
  return params


def test_a_config_unlike_the_reference_training_is_one_error(tf1_b0):
  with_ema, _, _ = tf1_b0
  detection.check_upstream_config(_detector(with_ema, **AS_TRAINED).task)
  params = _detector(with_ema, model_id='b1')  # Model Garden's SE defaults
  prefix = f'{with_ema}/model.ckpt-218949'
  with pytest.raises(CheckpointError) as e:
    detection.check_upstream_config(params.task)
  assert str(e.value).splitlines() == [
      'The backbone would not compute what it computed in pre-training: '
      f'{prefix} holds TF1 names of efficientnet-b0 (tensorflow/tpu '
      'EfficientNet), and this config differs in',
      "  backbone.efficientnet.model_id: checkpoint 'b0', here 'b1'",
      '  backbone.efficientnet.se_ratio: checkpoint 0.25, here 0.0',
      "  backbone.efficientnet.se_inner_activation: checkpoint 'swish', "
      "here 'relu'",
      '(norm_activation is task.model.backbone_norm_activation where set.)']
  # Parts other than a backbone have no TF1 names to come from.
  head = tf_keras.layers.Dense(2)
  head.build([None, 3])
  with pytest.raises(CheckpointError, match=(
      f'task.init_checkpoints: Checkpoint {prefix} is a TF1 name-based '
      'checkpoint \\(no object graph\\) of efficientnet-b0: only the backbone '
      "of Model Garden's EfficientNet restores from TF1 names")):
    restore.restore_parts([(with_ema, 'task.init_checkpoints', [
        restore.Part('head', head, restore.part_paths('head'))])])


@pytest.mark.slow
def test_a_frozen_detector_trains_from_a_tf1_checkpoint(tf1_b0, tiny_world,
                                                         tmp_path):
  with_ema, _, _ = tf1_b0
  config = rh.write_config(_detector(with_ema, **AS_TRAINED),
                           tmp_path / 'b0.yaml')
  # What backbone-reuse-inspect-checkpoint reports before training.
  assert inspect_checkpoint.check_restore(
      with_ema, 'backbone_reuse_retinanet', [config], '') == [
          f'Restored 309 backbone variables from {with_ema}/'
          'model.ckpt-218949; 0 new by design; TF1 names of efficientnet-b0 '
          '(tensorflow/tpu EfficientNet), 309 of 309 from their '
          'ExponentialMovingAverage.']
  params = h.set_data(_detector(with_ema, **AS_TRAINED),
                      tiny_world.det_train_pattern, batch=2, steps=2)
  model_dir = str(tmp_path / 'run')
  train.run_experiment(params, 'train', model_dir,
                       tf.distribute.get_strategy())
  model = rh.restored_detector(params, tf.train.latest_checkpoint(model_dir))
  assert rh.checkpoint_step(tf.train.latest_checkpoint(model_dir)) == 2
  assert restore.backbone_differences(model.backbone, with_ema) == []
