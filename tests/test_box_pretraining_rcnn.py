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

"""Box-domain pre-training (AlignDet) of Faster R-CNN's decoder, RPN and
box head on proposals: the box head's own features, regions that line up
across the two views, and one training run: only those parts trained, the
momentum copy's rule, and what fine-tuning takes from it."""
import numpy as np
import pytest
import tensorflow as tf

from official.core import task_factory
from official.core import train_lib

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.tasks import box_pretraining
from official_projects_backbone_reuse.tasks import detection
from tests import reuse_helpers as h
from tests import runtime_helpers as rh
from tests.test_box_pretraining import copy_follows_from_step_1_to_2

EXPERIMENT = 'backbone_reuse_fasterrcnn_box_pretraining'


def _config(upstream, pattern, steps=2):
  params = h.set_data(h.maskrcnn_config(upstream, num_classes=2,
                                        experiment=EXPERIMENT),
                      pattern, steps=steps)
  options = params.task.box_pretraining
  options.embedding_dim, options.projection_width = 16, 32
  options.max_proposals, options.momentum_steps = 10, steps
  return params


def test_box_head_features_are_what_its_outputs_read(upstream):
  params = _config(upstream, 'unused')
  model = task_factory.get_task(params.task).build_model()
  head = model.detection_head[0]
  regions = tf.random.uniform([2, 5, 7, 7, 32])
  features = box_pretraining.box_head_features(head, regions, False)
  assert features.shape == (2, 5, params.task.model.detection_head.fc_dims)
  classes, boxes = head(regions, training=False)
  np.testing.assert_allclose(head._classifier(features), classes, atol=1e-6)  # pylint: disable=protected-access
  np.testing.assert_allclose(head._box_regressor(features), boxes,  # pylint: disable=protected-access
                             atol=1e-6)


def test_regions_line_up_across_the_views(upstream, tiny_world):
  params = _config(upstream, tiny_world.det_train_pattern)
  task = task_factory.get_task(params.task)
  (_, labels1), (_, labels2) = next(iter(
      task.build_inputs(params.task.train_data)))
  for image in range(2):
    # The resized image's width (not the padded 128: sizes vary).
    width = float(labels1['image_info'][image][1, 1])
    ids1, ids2 = (l['gt_classes'][image].numpy() for l in (labels1, labels2))
    found = ids1[ids1 > 0]
    # The proposals, in order, as ids 1..P (P at most max_proposals); the
    # same ids in both views, each the same box or its mirror image.
    assert list(found) == list(range(1, len(found) + 1)) and len(found) <= 10
    assert list(ids2[ids2 > 0]) == list(found)
    boxes1, boxes2 = (l['gt_boxes'][image].numpy()[:len(found)]
                      for l in (labels1, labels2))
    mirrored = boxes1[:, [0, 3, 2, 1]] * [1, -1, 1, -1] + [0, width, 0, width]
    assert (np.allclose(boxes1, boxes2, atol=1e-3)
            or np.allclose(mirrored, boxes2, atol=1e-3))


@pytest.mark.slow
def test_a_run_trains_decoder_and_heads_and_fine_tuning_takes_them(
    upstream, tiny_world, tmp_path, capsys):
  params = _config(upstream, tiny_world.det_train_pattern)
  trainer = params.trainer
  trainer.steps_per_loop = trainer.summary_interval = 1
  trainer.checkpoint_interval = 1
  task = task_factory.get_task(params.task, logging_dir=str(tmp_path))
  run = tmp_path / 'pretrain'
  model, _ = train_lib.run_experiment(
      distribution_strategy=tf.distribute.get_strategy(), task=task,
      mode='train', params=params, model_dir=str(run))
  pairs = box_pretraining._online_and_target(model)  # pylint: disable=protected-access
  averaged = {id(v) for _, v in pairs}
  assert {id(v) for v in model.trainable_variables} < averaged
  assert not {id(v) for v in model.backbone.weights} & averaged
  assert any('rpn' in v.name for _, v in pairs)
  copy_follows_from_step_1_to_2(model, run)
  assert restore.backbone_differences(model.backbone, upstream) == []
  log = capsys.readouterr().out
  for loss in ('contrastive_loss', 'frcnn_cls_loss', 'rpn_score_loss'):
    values = rh.train_losses(log, loss)
    assert sorted(values) == [1, 2] and min(values.values()) > 0, loss

  fine = h.maskrcnn_config(experiment='backbone_reuse_fasterrcnn')
  fine.task.init_checkpoints = [
      {'checkpoint': upstream, 'modules': ['backbone']},
      {'checkpoint': str(run),
       'modules': ['decoder', 'rpn_head', 'detection_head'], 'frozen': False}]
  validation.check_task_config(fine.task, for_run=False)
  model = task_factory.get_task(fine.task).build_model()
  reports = detection.restore_parts(model, fine.task)
  assert [r.label for r in reports] == ['backbone', 'decoder', 'rpn_head',
                                        'detection_head']
  assert [r.note for r in reports] == ['frozen', 'trained', 'trained',
                                       'trained']
  # The box head's one-class classifier and box regressor are label space.
  head = reports[-1]
  assert len(head.skipped) == 4, head.skipped
  assert sum(len(r.restored) + len(r.skipped) for r in reports) == len(
      model.weights)
  reader = tf.train.load_checkpoint(str(run))
  assert any(k.startswith('model/momentum_target/')
             for k in reader.get_variable_to_shape_map())
