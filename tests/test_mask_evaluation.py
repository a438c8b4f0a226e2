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

"""Masks pasted only where they count: Model Garden's annotations, RLEs and
COCO / LVIS metrics, without pasting the padding.

Run: python -m pytest tests/test_mask_evaluation.py -q
"""
import copy
import json
from unittest import mock

import cv2
import numpy as np
from pycocotools import mask as mask_api
import pytest
import tensorflow as tf

from official.core import task_factory
from official.vision.evaluation import coco_evaluator
from official.vision.evaluation import coco_utils
from official.vision.ops import mask_ops
from official_projects_backbone_reuse.evaluation import coco_mask_evaluator
from official_projects_backbone_reuse.evaluation import lvis_evaluator
from official_projects_backbone_reuse.evaluation import mask_paste
from tests import reuse_helpers as h
from tests.benchmarks import lvis_eval_full
from tests.benchmarks import mask_eval_speed
from tests.test_lvis_evaluation import _model_garden_batches
from tests.test_lvis_evaluation import make_gt


def _model_garden(predictions):
  """Model Garden's annotations of every slot (`predictions` untouched)."""
  return coco_utils.convert_predictions_to_coco_annotations(
      {k: list(v) for k, v in predictions.items()})


def _edge_case_box(rng, kind, height, width):
  """[y1, x1, y2, x2] in image pixels, of one kind of edge case."""
  y, x = rng.uniform(0, height), rng.uniform(0, width)
  h, w = rng.uniform(1, height), rng.uniform(1, width)
  return {
      'inside': [y, x, y + h / 2, x + w / 2],
      'top_left_out': [y - height, x - width, y, x],
      'bottom_right_out': [y, x, y + height, x + width],
      'zero_width': [y, x, y + h, x],
      'zero_height': [y, x, y, x + w],
      'inverted': [y + h, x + w, y, x],
      'outside': [height + 5, width + 5, height + 9, width + 9],
      'whole_image': [0, 0, height, width],
      'subpixel': [y, x, y + 0.3, x + 0.4],
  }[kind]


def _edge_case_predictions(rng, batch_sizes=(3, 1, 4), k_slots=9,
                           mask_shape=(5, 7), outer=False):
  """Predictions (original-image pixels) with every edge case: boxes partly
  or wholly outside, of zero size, inverted, covering the image; masks of
  noise, all ones (whole columns of the image) and all zeros; images of
  their own sizes; num_detections 0, K and between."""
  kinds = ['inside', 'top_left_out', 'bottom_right_out', 'zero_width',
           'zero_height', 'inverted', 'outside', 'whole_image', 'subpixel']
  predictions = {k: [] for k in (
      'source_id', 'num_detections', 'detection_boxes', 'detection_classes',
      'detection_scores', 'detection_masks', 'image_info')}
  if outer:
    predictions['detection_outer_boxes'] = []
  for i, b in enumerate(batch_sizes):
    sizes = rng.integers(1, 40, (b, 2))
    boxes = np.zeros((b, k_slots, 4), np.float32)
    for j, (height, width) in enumerate(sizes):
      for k in range(k_slots):
        boxes[j, k] = _edge_case_box(rng, kinds[(i + j + k) % len(kinds)],
                                     height, width)
    masks = rng.uniform(0, 1, (b, k_slots) + mask_shape).astype(np.float32)
    masks[:, ::3] = 1.0
    masks[:, 1::5] = 0.0
    num = rng.integers(0, k_slots + 1, b)
    if i == 0:
      num[:2] = [0, k_slots]
    predictions['source_id'].append(np.arange(b) + 10 * i)
    predictions['num_detections'].append(num.astype(np.int32))
    predictions['detection_boxes'].append(boxes)
    predictions['detection_classes'].append(
        rng.integers(0, 6, (b, k_slots)).astype(np.int32))
    predictions['detection_scores'].append(
        rng.uniform(0, 1, (b, k_slots)).astype(np.float32))
    predictions['detection_masks'].append(masks)
    info = np.zeros((b, 4, 2), np.float32)
    info[:, 0] = sizes
    predictions['image_info'].append(info)
    if outer:
      center = (boxes[..., :2] + boxes[..., 2:]) / 2
      half = (boxes[..., 2:] - boxes[..., :2]) * 0.6
      predictions['detection_outer_boxes'].append(
          np.concatenate([center - half, center + half], -1))
  return predictions


def test_paste_and_encode_equals_model_garden():
  rng = np.random.default_rng(0)
  for trial in range(150):
    height, width = (int(v) for v in rng.integers(1, 50, 2))
    n = int(rng.integers(0, 8))
    masks = rng.uniform(0, 1, (n,) + tuple(rng.integers(1, 9, 2)))
    if trial % 4 == 0:
      masks[:] = 1.0
    boxes = np.concatenate([rng.uniform(-15, 55, (n, 2)),
                            rng.uniform(-3, 60, (n, 2))], axis=1)
    boxes[::3, 2 + trial % 2] = 0.0
    if trial % 5 == 0:
      boxes[:, :] = [0, 0, width, height]
    boxes = boxes.astype(np.float64 if trial % 3 == 0 else np.float32)
    pasted = mask_ops.paste_instance_masks(masks, boxes, height, width)
    want = [mask_api.encode(np.asfortranarray(m))
            for m in (pasted > 0.0).astype(np.uint8)]
    assert mask_paste.paste_and_encode(masks, boxes, height, width) == want


@pytest.mark.parametrize('outer', [False, True])
def test_convert_predictions_equals_model_garden(outer):
  predictions = _edge_case_predictions(np.random.default_rng(1), outer=outer)
  before = copy.deepcopy(predictions)
  model_garden = _model_garden(predictions)
  real = np.concatenate([
      (np.arange(9)[None, :] < n[:, None]).reshape(-1)
      for n in predictions['num_detections']])
  assert 0 < real.sum() < real.size

  def assert_same(got, want, mask_too=True):
    assert set(got) == set(want)
    for key in ('image_id', 'category_id', 'score'):
      assert got[key] == want[key] and type(got[key]) is type(want[key])
    assert got['bbox'].dtype == want['bbox'].dtype
    np.testing.assert_array_equal(got['bbox'], want['bbox'])
    if mask_too:
      assert got['segmentation'] == want['segmentation']

  dropped = mask_paste.convert_predictions(predictions, drop_padding=True)
  assert len(dropped) == real.sum()
  for got, want in zip(dropped, np.array(model_garden)[real]):
    assert_same({k: v for k, v in got.items() if k != 'id'},
                {k: v for k, v in want.items() if k != 'id'})
  assert [a['id'] for a in dropped] == list(range(1, len(dropped) + 1))

  every_slot = mask_paste.convert_predictions(predictions, drop_padding=False)
  assert len(every_slot) == len(model_garden)
  for got, want in zip(every_slot, model_garden):
    assert_same(got, want)
  np.testing.assert_equal(predictions, before)  # Not modified.


def _coco_inputs(tmp_path, garbage_padding=False):
  """An annotation file, and Model Garden batches (tensors) for it; the
  first batch split into two per-replica halves (tuples)."""
  gt = make_gt(6, num_images=8)
  for ann in gt['annotations']:  # COCO's key; LVIS has none.
    ann['iscrowd'] = 0
  annotation_file = tmp_path / 'val.json'
  annotation_file.write_text(json.dumps(gt))
  batches = _model_garden_batches(gt, np.random.default_rng(2), True)
  for _, p in batches:
    padding = np.arange(12)[None, :] >= p['num_detections'][:, None]
    if garbage_padding:  # Pasting these fails: 1e9-pixel boxes, NaN masks.
      p['detection_boxes'][padding] = [0, 0, 1e9, 1e9]
      p['detection_masks'][padding] = np.nan
    else:  # As Model Garden's NMS pads: score 0, zero box, a real class.
      p['detection_classes'][padding] = gt['categories'][0]['id']
      p['detection_scores'][padding] = 0.0
  if not garbage_padding:  # Padding that counts: a detection's double.
    p = batches[0][1]
    j = int(np.argmin(p['num_detections']))
    p['detection_scores'][j, -1] = 0.9
    p['detection_boxes'][j, -1] = p['detection_boxes'][j, 0]
    p['detection_masks'][j, -1] = p['detection_masks'][j, 0]
  batches = [tf.nest.map_structure(tf.constant, batch) for batch in batches]
  batches[0] = tf.nest.map_structure(lambda t: (t[:2], t[2:]), batches[0])
  return gt, str(annotation_file), batches


def _evaluate(evaluator, batches):
  for groundtruths, predictions in batches:
    evaluator.update_state(groundtruths, predictions)
  return evaluator.result()


def test_fast_coco_evaluator_equals_model_garden(tmp_path):
  _, annotation_file, batches = _coco_inputs(tmp_path)
  settings = {'annotation_file': annotation_file, 'include_mask': True,
              'per_category_metrics': True}
  want = _evaluate(coco_evaluator.COCOEvaluator(**settings), batches)
  assert want['mask_AP'] > 0.01
  fast = coco_mask_evaluator.FastMaskCOCOEvaluator
  for evaluator in (fast(**settings), fast.from_evaluator(
      coco_evaluator.COCOEvaluator(**settings))):
    got = _evaluate(evaluator, batches)
    assert list(got) == list(want)
    np.testing.assert_array_equal(list(got.values()), list(want.values()))


def test_padded_slots_are_never_pasted(tmp_path):
  _, annotation_file, batches = _coco_inputs(tmp_path, garbage_padding=True)
  with pytest.raises(cv2.error):  # Model Garden pastes them.
    _evaluate(coco_evaluator.COCOEvaluator(annotation_file, True), batches)
  num_real = sum(int(np.sum(np.concatenate(
      tf.nest.flatten(p['num_detections'])))) for _, p in batches)
  resize = mock.Mock(wraps=cv2.resize)
  with mock.patch.object(cv2, 'resize', resize):
    metrics = _evaluate(lvis_evaluator.LVISEvaluator(annotation_file, True),
                        batches)
  assert resize.call_count == num_real
  assert metrics['mask_AP'] > 0.01


def test_lvis_evaluator_detections_are_model_gardens(tmp_path):
  gt, annotation_file, batches = _coco_inputs(tmp_path)
  evaluator = lvis_evaluator.LVISEvaluator(annotation_file, True)
  # Model Garden's own evaluator, which keeps every batch's predictions.
  model_garden = coco_evaluator.COCOEvaluator(annotation_file, True)
  for groundtruths, predictions in batches:
    evaluator.update_state(groundtruths, predictions)
    model_garden.update_state(groundtruths, predictions)
    # Each batch converted as it arrives: no arrays kept.
    assert not evaluator._predictions  # pylint: disable=protected-access
  detections = evaluator.detections()
  assert detections == mask_eval_speed.model_garden_detections(
      model_garden._predictions)  # pylint: disable=protected-access
  metrics = evaluator.result()
  for iou_type, prefix in (('bbox', ''), ('segm', 'mask_')):
    want = lvis_evaluator.evaluate(gt, detections, iou_type)['metrics']
    assert {k: metrics[prefix + k] for k in want} == {
        k: np.float32(v) for k, v in want.items()}


def test_tasks_use_the_fast_coco_evaluator_with_masks(tmp_path):
  annotation_file = tmp_path / 'val.json'
  gt = make_gt(0, num_images=2)
  for ann in gt['annotations']:
    ann['iscrowd'] = 0
  annotation_file.write_text(json.dumps(gt))
  params = h.maskrcnn_config()
  params.task.annotation_file = str(annotation_file)
  params.task.per_category_metrics = True
  for include_mask, expected in (
      (True, coco_mask_evaluator.FastMaskCOCOEvaluator),
      (False, coco_evaluator.COCOEvaluator)):
    params.task.model.include_mask = include_mask
    task = task_factory.get_task(params.task, logging_dir=str(tmp_path))
    assert task.build_metrics(training=False) == []
    assert type(task.coco_metric) is expected
    assert task.coco_metric._per_category_metrics  # pylint: disable=protected-access
    assert task.coco_metric.name == 'coco_metric'


def test_errors():
  with pytest.raises(ValueError, match='does not convert keypoints'):
    mask_paste.convert_predictions({'detection_keypoints': []}, True)
  with pytest.raises(TypeError, match='takes a Model Garden COCOEvaluator, '
                     'not a LVISEvaluator'):
    coco_mask_evaluator.FastMaskCOCOEvaluator.from_evaluator(
        lvis_evaluator.LVISEvaluator.__new__(lvis_evaluator.LVISEvaluator))


def test_mask_benchmark_prints_the_figures(capsys):
  assert mask_eval_speed.main(['--images', '2', '--slots', '10',
                               '--detections', '6', '--repeats', '1',
                               '--categories', '8']) == 0
  out = capsys.readouterr().out
  assert 'speed ratio (before / after, wall):' in out
  assert 'detections identical: True; RLEs identical: True' in out
  assert 'max abs metric difference (bbox and segm): 0\n' in out
  assert 'full LVIS val (19809 images x 300 detections)' in out


def test_full_size_lvis_benchmark_prints_the_figures(capsys):
  assert lvis_eval_full.main(['--images', '3', '--detections', '5',
                              '--slots', '8', '--batch_size', '2']) == 0
  out = capsys.readouterr().out
  assert 'update_state (mask conversion): wall ' in out
  assert 'peak resident memory of the process ' in out
