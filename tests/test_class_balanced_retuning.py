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

"""Stage 2 of the LVIS recipe: class-balanced re-tuning of the detection
heads' classification layers, everything else fixed."""
import numpy as np
import pytest
import tf_keras

from official.core import task_factory

from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.modeling import class_balance
from official_projects_backbone_reuse.modeling import reuse_policy
from tests import reuse_helpers as h


def test_effective_number_weights():
  counts = np.array([0, 1, 10, 1000, 0])
  beta = 0.99
  weights = class_balance.class_balanced_weights(counts, beta)
  raw = [(1 - beta) / (1 - beta**n) for n in (1, 10, 1000, 1)]
  expected = np.array(raw) * 4 / sum(raw)
  assert weights[0] == 1.0
  np.testing.assert_allclose(weights[1:], expected, rtol=1e-12)
  assert weights[1] > weights[2] > weights[3]  # rarer -> heavier
  np.testing.assert_allclose(
      class_balance.class_balanced_weights(counts, 0.0), [1.0] * 5)
  with pytest.raises(ConfigError, match=r'beta=1.0: expected'):
    class_balance.class_balanced_weights(counts, 1.0)


def test_counts_come_from_the_annotation_file(tiny_world, tmp_path):
  counts = class_balance.annotation_counts(tiny_world.det_train_json, 25)
  stats = {c['id']: c['annotation_count']
           for c in tiny_world.summary['train_classes']}
  assert counts[0] == 0
  assert {i: int(counts[i]) for i in stats} == stats
  with pytest.raises(ConfigError,
                     match=r'category_id 24 is outside 1\.\.23'):
    class_balance.annotation_counts(tiny_world.det_train_json, 24)
  bad = tmp_path / 'bad.json'
  bad.write_text('{"images": []}')
  with pytest.raises(ConfigError,
                     match=rf'annotation_file={bad}: not a COCO/LVIS JSON'):
    class_balance.annotation_counts(str(bad), 25)


def _cascade_config():
  params = h.maskrcnn_config()
  params.override({'task': {'model': {
      'include_mask': True,
      'roi_sampler': {'cascade_iou_thresholds': [0.7]},
      'detection_head': {'cascade_class_ensemble': True,
                         'class_agnostic_bbox_pred': True}}}})
  return params


def test_config_contradictions(tiny_world):
  train_json = tiny_world.det_train_json
  params = _cascade_config()
  params.task.class_balanced_retuning.enabled = True
  with pytest.raises(ConfigError,
                     match=r're-tunes a stage-1 detector: set '
                           r'task\.init_checkpoint'):
    validation.check_reuse(params.task)
  params.task.init_checkpoint = '/stage1'
  params.task.init_checkpoint_modules = 'all'
  with pytest.raises(ConfigError,
                     match=r"annotation_file='': expected the training "
                           r'annotations .* not set'):
    validation.check_reuse(params.task)
  params.task.class_balanced_retuning.annotation_file = train_json
  validation.check_reuse(params.task)
  params.task.losses.class_weights = [1.0] * 25
  with pytest.raises(ConfigError, match=r'remove '
                                                r'task\.losses\.class_weights'):
    validation.check_reuse(params.task)


@pytest.mark.slow  # builds a cascade Mask R-CNN (20 s)
def test_stage_two_trains_only_the_classification_layer_of_every_stage(
    tiny_world):
  # Built only: the LVIS job test trains stage 2 from a real stage-1 run
  # and checks that nothing else moved, batch-norm statistics included.
  params = _cascade_config()
  params.task.init_checkpoint = '/stage1'
  params.task.init_checkpoint_modules = 'all'
  params.task.class_balanced_retuning.enabled = True
  params.task.class_balanced_retuning.annotation_file = (
      tiny_world.det_train_json)
  validation.check_reuse(params.task)
  task = task_factory.get_task(params.task)
  weights = task.class_weights()
  assert len(weights) == 25 and weights[0] == 1.0
  assert np.isclose(sum(weights[1:]), 24)

  model = task.build_model()
  scores = [layer for layer in model._flatten_layers()  # pylint: disable=protected-access
            if layer.name == reuse_policy.SCORES_LAYER]
  assert len(scores) == 2  # the first head and one cascade stage
  score_ids = {id(v) for layer in scores for v in layer.weights}
  assert {id(v) for v in model.trainable_variables} == score_ids
  # A non-trainable batch norm runs in inference mode: its statistics stay.
  norms = [layer for layer in model._flatten_layers()  # pylint: disable=protected-access
           if isinstance(layer, tf_keras.layers.BatchNormalization)]
  assert norms and not any(layer.trainable for layer in norms)
