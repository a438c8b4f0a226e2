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

"""The reuse core: restore, verify, freeze, and what the frozen part computes."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.core import task_factory
from official.core import train_lib

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.common.errors import CheckpointError
from official_projects_backbone_reuse.modeling import parameters
from tests import reuse_helpers as h


def _build(params):
  task = task_factory.get_task(params.task)
  model = task.build_model()
  task.initialize(model)
  return task, model


def test_restored_backbone_computes_the_classifier_features(
    upstream_checkpoint):
  directory, _, classifier = upstream_checkpoint
  _, model = _build(h.retinanet_config(directory, input_size=64))
  images = tf.random.uniform([2, 64, 64, 3], seed=1)
  expected = classifier.backbone(images, training=False)
  # The detector trains with training=True: a frozen backbone must still
  # use its moving statistics.
  got = model.backbone(images, training=True)
  assert set(got) == set(expected)
  for level in expected:
    np.testing.assert_array_equal(got[level].numpy(),
                                  expected[level].numpy())


@pytest.mark.slow
def test_every_backbone_variable_is_restored_and_counted(
    upstream_checkpoint):
  directory, _, classifier = upstream_checkpoint
  _, model = _build(h.retinanet_config(directory))
  report = restore.restore_backbone(model.backbone, directory)
  assert len(report.restored) == len(model.backbone.weights)
  assert len(report.restored) == len(classifier.backbone.weights)
  assert any('moving_mean' in name for name in report.restored)
  assert restore.backbone_differences(model.backbone, directory) == []


def test_head_of_another_label_space_is_ignored(tmp_path):
  # A "JFT-style" checkpoint: same backbone, a classification head of 18,291
  # classes that the detector has no use for.
  prefix, _ = h.make_upstream_checkpoint(str(tmp_path), num_classes=18291)
  _, model = _build(h.retinanet_config(str(tmp_path)))
  assert restore.backbone_differences(model.backbone, prefix) == []


def test_mismatched_checkpoint_names_the_variables(upstream_checkpoint):
  directory, prefix, _ = upstream_checkpoint
  params = h.retinanet_config(prefix, model_id=18)
  params.task.model.backbone.resnet.model_id = 18
  task = task_factory.get_task(params.task)
  model = task.build_model()
  with pytest.raises(CheckpointError) as e:
    restore.restore_backbone(model.backbone, prefix)
  message = str(e.value)
  assert prefix in message
  assert 'missing: backbone/' in message
  assert 'task.model.backbone' in message
  # params.yaml beside the checkpoint tells the initialize() path why.
  with pytest.raises(CheckpointError,
                     match=r'backbone\.resnet\.model_id: upstream 10, here 18'):
    task.initialize(model)


def test_missing_checkpoint_is_named(tmp_path):
  params = h.retinanet_config(str(tmp_path / 'nope' / 'ckpt-1'))
  task = task_factory.get_task(params.task)
  model = task.build_model()
  with pytest.raises(CheckpointError,
                     match=r'task\.init_checkpoint=.*nope/ckpt-1.*no such'):
    task.initialize(model)


def test_norm_activation_must_match_pretraining(upstream_checkpoint):
  directory, _, _ = upstream_checkpoint
  params = h.retinanet_config(directory)
  params.task.model.backbone_norm_activation = None  # falls back to relu
  task = task_factory.get_task(params.task)
  model = task.build_model()
  with pytest.raises(CheckpointError,
                     match=r"norm_activation\.activation: upstream 'swish', "
                           r"here 'relu'"):
    task.initialize(model)


def test_frozen_backbone_has_no_stochastic_depth_and_no_l2():
  params = h.retinanet_config()
  params.task.model.backbone.resnet.stochastic_depth_drop_rate = 0.5
  params.task.losses.l2_weight_decay = 1e-4
  model = task_factory.get_task(params.task).build_model()
  images = tf.random.uniform([1, 128, 128, 3], seed=2)
  a = model.backbone(images, training=True)
  b = model.backbone(images, training=True)
  for level in a:
    np.testing.assert_array_equal(a[level].numpy(), b[level].numpy())
  assert model.backbone.losses == []
  assert model.losses  # the decoder and head keep their L2 penalty

  params.task.freeze_backbone = False
  finetuned = task_factory.get_task(params.task).build_model()
  assert finetuned.backbone.losses


def test_parameter_counts():
  params = h.retinanet_config()
  frozen = parameters.count_parameters(
      task_factory.get_task(params.task).build_model())
  assert frozen['backbone'].trained == 0
  assert frozen['backbone'].total > 0
  assert frozen['total'].total == sum(
      frozen[k].total for k in ('backbone', 'decoder', 'head'))
  assert frozen['total'].trained == frozen['decoder'].total + frozen[
      'head'].total
  params.task.freeze_backbone = False
  finetuned = parameters.count_parameters(
      task_factory.get_task(params.task).build_model())
  assert finetuned['total'].trained == finetuned['total'].total
  assert finetuned['total'].total == frozen['total'].total


def _train(params, model_dir):
  task = task_factory.get_task(params.task, logging_dir=str(model_dir))
  model, _ = train_lib.run_experiment(
      distribution_strategy=tf.distribute.get_strategy(), task=task,
      mode='train', params=params, model_dir=str(model_dir))
  return model


@pytest.mark.slow
@pytest.mark.parametrize('detector', ['retinanet', 'maskrcnn'])
def test_frozen_backbone_is_bit_identical_after_training(
    detector, upstream_checkpoint, tiny_world, tmp_path):
  directory, _, _ = upstream_checkpoint
  make = h.retinanet_config if detector == 'retinanet' else h.maskrcnn_config
  params = h.set_data(make(directory), tiny_world.det_train_pattern, steps=2)
  if detector == 'maskrcnn':  # its training input with Copy-Paste
    params.task.train_data.copy_paste.enabled = True
  model = _train(params, tmp_path / 'frozen')
  # Every backbone variable, batch-norm moving statistics included.
  assert restore.backbone_differences(model.backbone, directory) == []
  if detector != 'retinanet':
    return  # the control below does not depend on the detector

  # The same run with the backbone trained does change it: the comparison
  # above is not vacuous.
  params.task.freeze_backbone = False
  model = _train(params, tmp_path / 'finetuned')
  changed = restore.backbone_differences(model.backbone, directory)
  assert any('kernel' in n for n in changed)
  assert any('moving_mean' in n for n in changed)


@pytest.mark.slow
def test_cascade_heads_train_while_the_backbone_stays_frozen():
  params = h.maskrcnn_config()
  params.override({'task': {'model': {
      'include_mask': False,
      'roi_sampler': {'cascade_iou_thresholds': [0.7, 0.8]},
      'detection_head': {'cascade_class_ensemble': True,
                         'class_agnostic_bbox_pred': True}}}})
  model = task_factory.get_task(params.task).build_model()
  counts = parameters.count_parameters(model)
  stages = [k for k in counts if k.startswith('detection_head')]
  assert len(stages) == 3  # the first head and two cascade stages
  assert all(counts[k].trained == counts[k].total > 0 for k in stages)
  assert counts['backbone'].trained == 0
  backbone_ids = {id(v) for v in model.backbone.weights}
  assert not backbone_ids & {id(v) for v in model.trainable_variables}


@pytest.mark.parametrize('config', [h.retinanet_config, h.maskrcnn_config])
def test_bfloat16_detectors_evaluate_with_batched_nms(config):
  # runtime.mixed_precision_dtype: bfloat16 makes the heads' outputs
  # bfloat16; Model Garden's batched NMS takes float32 only.
  params = config()
  params.task.model.detection_generator.nms_version = 'batched'
  tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
  try:
    model = task_factory.get_task(params.task).build_model()
    outputs = model(tf.random.uniform([1, 128, 128, 3]),
                    image_shape=tf.constant([[128.0, 128.0]]),
                    training=False)
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')
  assert outputs['detection_scores'].dtype == tf.float32
  assert outputs['detection_boxes'].shape[:2] == (
      1, params.task.model.detection_generator.max_num_detections)
