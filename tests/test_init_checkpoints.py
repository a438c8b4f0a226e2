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

"""`task.init_checkpoints`: a detector assembled from several checkpoints,
each part restored variable by variable, frozen or trained, label-space
layers left new."""
import os

import numpy as np
import pytest
import tensorflow as tf

from official.core import task_factory
from official.core import train_lib

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.common.errors import CheckpointError
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.modeling import detector_parts
from official_projects_backbone_reuse.tasks import detection
from tests import reuse_helpers as h

_HEADS = ['decoder', 'rpn_head', 'detection_head']


def _faster_rcnn(num_classes, **overrides):
  params = h.maskrcnn_config(num_classes=num_classes)
  params.override({'task': {'model': {'include_mask': False}}})
  params.override({'task': overrides})
  return params


def _moved(model, seed):
  rng = np.random.default_rng(seed)
  for v in model.weights:  # small and of either sign: the loss stays finite
    v.assign(v + (rng.uniform(1e-3, 5e-3, v.shape) * rng.choice(
        [-1, 1], v.shape)).astype(np.float32))
  return model


@pytest.fixture(scope='module')
def source_detector(upstream_checkpoint, tmp_path_factory):
  """A 25-class Faster R-CNN ("COCO") saved as Model Garden's trainer saves
  one (model and checkpoint_items at the top level), every weight moved."""
  params = _faster_rcnn(25)
  model = _moved(task_factory.get_task(params.task).build_model(), 1)
  directory = str(tmp_path_factory.mktemp('coco_detector'))
  tf.train.Checkpoint(model=model, **model.checkpoint_items).save(
      os.path.join(directory, 'ckpt'))
  return directory


def _two_sources(upstream, detector_dir, num_classes=21, frozen=True,
                 **entry):
  return _faster_rcnn(num_classes, init_checkpoints=[
      {'checkpoint': upstream, 'modules': ['backbone']},
      dict({'checkpoint': detector_dir, 'modules': _HEADS,
            'frozen': frozen}, **entry)])


def _build(params):
  validation.check_task_config(params.task, for_run=False)
  task = task_factory.get_task(params.task)
  return task, task.build_model()


def _parts(model, params):
  """The restore.Part of every part restored, by entry, as the task
  builds them."""
  return [[restore.Part(name, obj, restore.part_paths(name),
                            skipped=[v for leaf in skipped
                                     for v in leaf.weights])
           for name, obj, skipped in detector_parts.entry_parts(
               model, params.task.model, entry, 'entry')]
          for entry in params.task.init_checkpoints]


def test_a_detector_from_two_checkpoints(upstream, source_detector):
  params = _two_sources(upstream, source_detector)
  params.task.losses.l2_weight_decay = 1e-4
  _, model = _build(params)
  reports = detection.restore_parts(model, params.task)

  assert [r.label for r in reports] == ['backbone'] + _HEADS
  assert [os.path.dirname(r.checkpoint) for r in reports] == (
      [upstream] + [source_detector] * 3)
  assert [r.note for r in reports] == ['frozen'] * 3 + [
      'frozen, its label-space layers trained']
  # The 21-class label-space layers of the 25-class detector: skipped.
  heads = reports[-1]
  assert len(heads.skipped) == 4
  assert all('detection-scores' in n or 'detection-boxes' in n
             for n in heads.skipped)
  assert 'skipped on purpose: detection_head/0/' in heads.details()
  assert not reports[0].skipped and not reports[1].skipped
  assert sum(len(r.restored) + len(r.skipped) for r in reports) == len(
      model.weights)
  upstream_parts, detector_parts_ = _parts(model, params)
  assert restore.part_differences(upstream_parts, upstream) == []
  assert restore.part_differences(detector_parts_, source_detector) == []

  # Everything is frozen but the new class layers, which alone pay L2.
  trained = sorted(v.name.split('/')[-2] for v in model.trainable_variables)
  assert trained == ['detection-boxes'] * 2 + ['detection-scores'] * 2
  assert len(model.losses) == 2  # the two kernels

  # The same model, the class layers asked for: a mismatch that was not
  # asked to be skipped is an error naming it, and nothing is assigned.
  unskipped = _two_sources(upstream, source_detector, skip_label_space=False)
  _moved(model, 3)
  before = [v.numpy() for v in model.weights]
  with pytest.raises(CheckpointError) as e:
    detection.restore_parts(model, unskipped.task)
  message = str(e.value)
  assert message.startswith('task.init_checkpoints[1].checkpoint: ')
  assert 'detection-scores/kernel' in message
  assert 'checkpoint has shape [64, 25]' in message
  assert all(np.array_equal(a, v.numpy())
             for a, v in zip(before, model.weights))
  # A skip pattern that matches no layer is a typo, not a wish.
  entry = unskipped.task.init_checkpoints[1].replace(skip=['detection-score'])
  with pytest.raises(ConfigError, match=r"entry\.skip: 'detection-score' "
                                        r'matches no layer'):
    detector_parts.entry_parts(model, params.task.model, entry, 'entry')


def test_init_checkpoint_takes_the_same_restore_path(source_detector):
  """Model Garden's `task.init_checkpoint` is one entry of the parts its
  `init_checkpoint_modules` name: 'all' restores every part of a detector
  of the same label space, each variable checked, one report per part."""
  params = _faster_rcnn(25, init_checkpoint=source_detector,
                        init_checkpoint_modules='all', freeze_backbone=False)
  (key, entry), = detection.restore_entries(params.task)
  assert key == 'task.init_checkpoint' and not entry.skip_label_space
  assert list(entry.modules) == ['backbone'] + _HEADS
  _, model = _build(params)
  reports = detection.restore_parts(model, params.task)
  assert [r.label for r in reports] == ['backbone'] + _HEADS
  assert sum(len(r.restored) for r in reports) == len(model.weights)
  assert restore.part_differences(
      [restore.Part(r.label, obj, restore.part_paths(r.label))
       for r, obj in zip(reports, [model.backbone, model.decoder,
                                   model.rpn_head,
                                   model.detection_head])],
      source_detector) == []
  # A backbone alone, from the same checkpoint: the key the user set.
  params.override({'task': {'init_checkpoint_modules': 'backbone'}})
  assert [(k, list(e.modules)) for k, e in detection.restore_entries(
      params.task)] == [('task.init_checkpoint', ['backbone'])]
  params.override({'task': {'init_checkpoint': ''}})
  assert detection.restore_entries(params.task) == []


def test_same_label_space_with_novel_rows_reinitialised(upstream,
                                                       source_detector):
  # TFA's fine-tuning from a base detector of the same 25 outputs (FsDet's
  # randinit surgery): novel rows new, base rows and background restored.
  novel = [3, 6]
  params = _two_sources(upstream, source_detector, num_classes=25,
                        skip_label_space=False, reinit_novel_classes=True)
  params.task.evaluation.novel_category_ids = novel
  _, model = _build(params)
  reports = detection.restore_parts(model, params.task)
  assert not any(r.skipped for r in reports)
  assert 'rows of the novel classes re-initialised' in reports[-1].note
  reader = tf.train.load_checkpoint(source_detector)
  head = detector_parts.part_objects(model)['detection_head/0']
  layers = {leaf.name: leaf for leaf in detector_parts.leaves(head)}
  for name, width in (('detection-scores', 1), ('detection-boxes', 4)):
    kernel = layers[name].kernel.numpy()
    saved = reader.get_tensor(
        f'detection_head/0/_{"classifier" if width == 1 else "box_regressor"}'
        '/kernel/.ATTRIBUTES/VARIABLE_VALUE')
    new = [width * c + k for c in novel for k in range(width)]
    kept = [i for i in range(kernel.shape[1]) if i not in new]
    np.testing.assert_array_equal(kernel[:, kept], saved[:, kept])
    assert np.all(kernel[:, new] != saved[:, new])
    assert np.all(layers[name].bias.numpy()[new] == 0)
  # Frozen but the class layers, which were restored, not skipped.
  trained = sorted(v.name.split('/')[-2] for v in model.trainable_variables)
  assert trained == ['detection-boxes'] * 2 + ['detection-scores'] * 2

  params.task.init_checkpoints[1].skip_label_space = True
  with pytest.raises(ConfigError, match=r'\[1\]\.reinit_novel_classes '
                                        r're-initialises rows'):
    validation.check_task_config(params.task, for_run=False)


def test_one_cascade_stage_from_a_single_stage_detector(upstream,
                                                        source_detector):
  params = _faster_rcnn(25, init_checkpoints=[
      {'checkpoint': upstream, 'modules': ['backbone']},
      {'checkpoint': source_detector, 'modules': ['detection_head/0'],
       'skip_label_space': False}])
  params.override({'task': {'model': {
      'roi_sampler': {'cascade_iou_thresholds': [0.6, 0.7]},
      'detection_head': {'class_agnostic_bbox_pred': True,
                         'cascade_class_ensemble': True}}}})
  _, model = _build(params)
  with pytest.raises(CheckpointError,
                     match=r'detection-boxes/kernel.*checkpoint has shape '
                           r'\[64, 100\]'):
    detection.restore_parts(model, params.task)  # class-agnostic: 4 outputs
  params.task.init_checkpoints[1].skip = ['detection-boxes']
  reports = detection.restore_parts(model, params.task)
  assert reports[1].label == 'detection_head/0'
  assert len(reports[1].skipped) == 2


def test_retinanet_parts_from_a_model_only_checkpoint(upstream, tmp_path):
  # tf.train.Checkpoint(model=...): the parts sit under model/_decoder etc.
  source = h.retinanet_config(upstream, num_classes=25)
  model = _moved(task_factory.get_task(source.task).build_model(), 2)
  tf.train.Checkpoint(model=model).save(str(tmp_path / 'ckpt'))
  params = h.retinanet_config(num_classes=21)
  params.override({'task': {'init_checkpoints': [
      {'checkpoint': str(tmp_path), 'modules': ['backbone', 'decoder',
                                                'head'], 'frozen': True}]}})
  _, model = _build(params)
  reports = detection.restore_parts(model, params.task)
  assert [r.label for r in reports] == ['backbone', 'decoder', 'head']
  assert reports[2].skipped and all('scores' in n for n in reports[2].skipped)
  trained = {v.name.split('/')[-2] for v in model.trainable_variables}
  assert trained == {'scores'}


@pytest.mark.parametrize('override, message', [
    ({'init_checkpoint': '/x', 'init_checkpoints': [
        {'checkpoint': '/y', 'modules': ['backbone']}]},
     r'task\.init_checkpoint=.*and task\.init_checkpoints both'),
    ({'init_checkpoints': [{'checkpoint': '/x', 'modules': ['head']}]},
     r"\[0\]\.modules: 'head' is not a part of this detector; it has "
     r"\['backbone', 'decoder', 'rpn_head', 'detection_head', "
     r"'detection_head/0'\]"),
    ({'init_checkpoints': [
        {'checkpoint': '/x', 'modules': ['backbone', 'detection_head']},
        {'checkpoint': '/y', 'modules': ['detection_head/0']}]},
     r"\[1\]\.modules: 'detection_head/0' is already given by "
     r"task\.init_checkpoints\[0\]"),
    ({'init_checkpoints': [{'checkpoint': '/x', 'modules': ['backbone'],
                            'frozen': False}]},
     r'\[0\]\.frozen=false contradicts task\.freeze_backbone=true'),
    ({'init_checkpoints': [{'checkpoint': '/x', 'modules': ['decoder']}]},
     r'gives no backbone.*random initialisation'),
    ({'init_checkpoints': [{'checkpoint': '', 'modules': ['backbone']}]},
     r'\[0\]\.checkpoint is empty'),
    ({'init_checkpoints': [{'checkpoint': '/x', 'modules': 'backbone'}]},
     r"\[0\]\.modules='backbone': expected a list"),
    ({'init_checkpoints': [{'checkpoint': '/x', 'module': ['backbone']}]},
     r'\[0\]\.module: unknown key'),
    ({'init_checkpoint': '/x', 'init_checkpoint_modules': ['backbone', 'x']},
     r"task\.init_checkpoint_modules=\['backbone', 'x'\]: expected \"all\" "
     r'or a list of parts among'),
])
def test_bad_entries_are_named(override, message):
  params = _faster_rcnn(21)
  params.override({'task': override})
  with pytest.raises(ConfigError, match=message):
    validation.check_task_config(params.task)


@pytest.mark.slow
def test_frozen_parts_are_bit_identical_after_training(
    upstream, source_detector, tiny_world, tmp_path, monkeypatch):
  # The few-shot fine-tuning of Wang et al.: all frozen but the class layers.
  params = h.set_data(_two_sources(upstream, source_detector),
                      tiny_world.det_train_pattern, steps=2)
  initial = {}
  restore_parts = detection.restore_parts

  def restore_and_remember(model, task_config):
    reports = restore_parts(model, task_config)
    initial.update({v.name: v.numpy() for v in model.trainable_variables})
    return reports

  monkeypatch.setattr(detection, 'restore_parts', restore_and_remember)
  task = task_factory.get_task(params.task, logging_dir=str(tmp_path))
  model, _ = train_lib.run_experiment(
      distribution_strategy=tf.distribute.get_strategy(), task=task,
      mode='train', params=params, model_dir=str(tmp_path))
  upstream_parts, detector_parts_ = _parts(model, params)
  assert restore.part_differences(upstream_parts, upstream) == []
  assert restore.part_differences(detector_parts_, source_detector) == []
  # Not vacuous: the new class layers trained.
  assert len(initial) == 4
  assert all(not np.array_equal(initial[v.name], v.numpy())
             for v in model.trainable_variables)
