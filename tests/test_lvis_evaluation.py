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

"""Tests of the LVIS evaluator against the official LVIS API.

Run: python -m pytest tests/test_lvis_evaluation.py -q
"""

import json
from unittest import mock

import numpy as np
from pycocotools import mask as mask_api
import pytest
import tensorflow as tf

from tests.benchmarks import lvis_eval_speed
from official_projects_backbone_reuse.evaluation import detection_table
from official_projects_backbone_reuse.evaluation import lvis_evaluator
from tests import lvis_reference

TOL = 1e-4


def _uncompressed_rle(binary_mask):
  flat = binary_mask.flatten(order='F')
  changes = np.flatnonzero(np.diff(flat)) + 1
  runs = np.diff(np.concatenate([[0], changes, [flat.size]]))
  counts = ([0] if flat[0] else []) + runs.tolist()
  return {'size': list(binary_mask.shape), 'counts': counts}


def _random_box(rng, width, height):
  """A box of a random LVIS area range (small, medium, large)."""
  side = [rng.uniform(6, 28), rng.uniform(35, 90), rng.uniform(100, 180)][
      rng.integers(3)]
  w, h = side * rng.uniform(0.6, 1.4), side * rng.uniform(0.6, 1.4)
  return [rng.uniform(0, width - w), rng.uniform(0, height - h), w, h]


def make_gt(seed, num_images=14, no_rare_objects=False):
  """LVIS v1 ground truth exercising every LVIS rule (see the test names)."""
  rng = np.random.default_rng(seed)
  cat_ids = sorted(rng.choice(np.arange(1, 60), 9, replace=False).tolist())
  categories = [{'id': c, 'name': f'c{c}', 'frequency': 'rcf'[i % 3]}
                for i, c in enumerate(cat_ids)]
  rare = {c['id'] for c in categories if c['frequency'] == 'r'}
  images, annotations = [], []
  for i in range(num_images):
    image_id = 100 + 7 * i
    height, width = (int(v) for v in rng.integers(300, 560, 2))
    positive = [] if i % 5 == 4 else sorted(  # Every fifth image is empty.
        rng.choice(cat_ids, rng.integers(1, 4), replace=False).tolist())
    if no_rare_objects:
      positive = [c for c in positive if c not in rare]
    others = [c for c in cat_ids if c not in positive]
    images.append({
        'id': image_id, 'height': height, 'width': width,
        'neg_category_ids': sorted(
            rng.choice(others, rng.integers(0, 4), replace=False).tolist()),
        'not_exhaustive_category_ids': [
            c for c in positive if rng.random() < 0.3]})
    for c in positive:
      for _ in range(int(rng.integers(1, 5))):
        x, y, w, h = _random_box(rng, width, height)
        polygon = [x, y, x + w, y + 0.2 * h, x + 0.8 * w, y + h, x + 0.1 * w,
                   y + 0.9 * h]
        rle = mask_api.merge(mask_api.frPyObjects([polygon], height, width))
        segmentation = [
            [polygon],  # Polygons, compressed RLE, uncompressed RLE.
            {'size': rle['size'], 'counts': rle['counts'].decode()},
            _uncompressed_rle(mask_api.decode(rle)),
        ][len(annotations) % 3]
        annotations.append({
            'id': len(annotations) + 1, 'image_id': image_id,
            'category_id': c, 'bbox': [x, y, w, h],
            'area': float(mask_api.area(rle)), 'segmentation': segmentation})
  annotations[5]['area'] = 0.0  # LVIS.get_ann_ids drops area-0 objects.
  return {'images': images, 'categories': categories,
          'annotations': annotations}


def _box_rle(box, height, width):
  """A box-shaped mask with a notch, as an RLE with a str 'counts'."""
  x, y, w, h = box
  mask = np.zeros((height, width), np.uint8)
  x0, y0 = int(max(0, round(x))), int(max(0, round(y)))
  x1, y1 = int(min(width, round(x + w))), int(min(height, round(y + h)))
  mask[y0:y1, x0:x1] = 1
  mask[y0:y0 + (y1 - y0) // 3, x0:x0 + (x1 - x0) // 3] = 0
  rle = mask_api.encode(np.asfortranarray(mask))
  return {'size': rle['size'], 'counts': rle['counts'].decode()}


def make_detections(gt, seed, tied_scores=False):
  """Detections near objects, of negative, unverified and any categories."""
  rng = np.random.default_rng(seed)
  cat_ids = [c['id'] for c in gt['categories']]
  objects = {}
  for ann in gt['annotations']:
    objects.setdefault(ann['image_id'], []).append(ann)
  # A category with objects but without any detection.
  silent = gt['annotations'][0]['category_id']
  detections = []
  for i, image in enumerate(gt['images']):
    height, width = image['height'], image['width']
    anns = objects.get(image['id'], [])
    # Image 1 has more than the 300 detections that LVIS keeps.
    for j in range(360 if i == 1 else int(rng.integers(0, 25))):
      if anns and rng.random() < 0.5:
        ann = anns[rng.integers(len(anns))]
        jitter = rng.uniform(0, 0.15) * rng.normal(size=4)
        x, y, w, h = np.array(ann['bbox']) * (1 + jitter)
        category_id = (ann['category_id'] if rng.random() < 0.8 else
                       int(rng.choice(cat_ids)))
      else:
        x, y, w, h = _random_box(rng, width, height)
        category_id = int(rng.choice(image['neg_category_ids'] or cat_ids)
                          if rng.random() < 0.7 else rng.choice(cat_ids))
      if category_id == silent:
        continue
      box = [float(x), float(y), max(float(w), 1.0), max(float(h), 1.0)]
      if j == 3:
        box[2] = 0.0  # LVISResults: area 0; never evaluated, but capped.
      score = float(rng.random())
      detections.append({
          'image_id': image['id'], 'category_id': category_id, 'bbox': box,
          'score': round(score, 1) if tied_scores else score,
          'segmentation': _box_rle(box, height, width)})
  rng.shuffle(detections)
  return detections


def _assert_close(got, want):
  assert set(got) == set(want)
  for name, value in want.items():
    assert abs(got[name] - value) <= TOL, (name, got[name], value)


@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
@pytest.mark.parametrize('seed,tied_scores', [(0, False), (1, True),
                                              (2, False), (3, True)])
def test_evaluate_equals_lvis_api(seed, tied_scores, iou_type):
  gt = make_gt(seed)
  detections = make_detections(gt, seed, tied_scores)
  gt_before = json.dumps(gt)
  result = lvis_evaluator.evaluate(gt, detections, iou_type)
  reference = lvis_reference.reference_lvis_eval(gt, detections, iou_type)
  _assert_close(result['metrics'], {
      name: float(reference.results[name])
      for name in lvis_reference.METRIC_NAMES})
  assert json.dumps(gt) == gt_before  # Inputs are not modified.
  # Per category: AP over IoU thresholds and recalls, all areas, as LVIS.
  precision = reference.eval['precision'][..., 0]
  for k, cat_id in enumerate(reference.params.cat_ids):
    valid = precision[:, :, k][precision[:, :, k] > -1]
    ap = result['per_category_ap'][cat_id]
    if valid.size:
      assert abs(ap - valid.mean()) <= TOL
    else:
      assert np.isnan(ap)
  assert result['metrics']['AP'] == pytest.approx(
      np.nanmean(list(result['per_category_ap'].values())))
  silent = gt['annotations'][0]['category_id']
  assert result['per_category_num_gt'][silent] > 0
  assert result['per_category_num_detections'][silent] == 0
  assert result['per_category_ap'][silent] == 0.0


@pytest.mark.parametrize('seed,tied_scores', [(0, False), (1, True)])
def test_capped_order_is_lvis_results_own(seed, tied_scores):
  """The detections LVISResults.limit_dets_per_image keeps, in its order
  (which numbers them): images as they first appear, ties in input order."""
  import lvis  # pylint: disable=g-import-not-at-top
  gt = make_gt(seed)
  detections = make_detections(gt, seed, tied_scores)
  for max_dets in (300, 7):
    want = lvis.LVISResults.limit_dets_per_image(None, detections, max_dets)
    order = detection_table.Table.from_results(detections).capped_order(
        max_dets)
    assert [id(detections[i]) for i in order] == [id(d) for d in want]


def test_a_table_gives_back_the_results_it_holds():
  boxes = make_detections(make_gt(0), 0)[:50]
  rle = mask_api.encode(np.asfortranarray(np.ones((4, 5), np.uint8)))
  rle['counts'] = rle['counts'].decode('ascii')
  masks_only = [{'image_id': d['image_id'], 'category_id': d['category_id'],
                 'score': d['score'], 'segmentation': rle} for d in boxes]
  for results in (boxes, masks_only):
    assert detection_table.Table.from_results(results).results() == results
  halves = [detection_table.Table.from_results(boxes[:20]),
            detection_table.Table.from_results(boxes[20:])]
  assert detection_table.Table.concat(halves).results() == boxes


def test_fixture_exercises_the_lvis_rules():
  gt = make_gt(0)
  detections = make_detections(gt, 0)
  per_image = {}
  for det in detections:
    per_image[det['image_id']] = per_image.get(det['image_id'], 0) + 1
  assert max(per_image.values()) > 300
  assert any(not img['neg_category_ids'] for img in gt['images'])
  assert any(img['not_exhaustive_category_ids'] for img in gt['images'])
  with_objects = {a['image_id'] for a in gt['annotations']}
  assert any(img['id'] not in with_objects for img in gt['images'])
  areas = [a['area'] for a in gt['annotations']]
  assert min(areas) == 0 and any(0 < a < 32**2 for a in areas)
  assert any(32**2 < a < 96**2 for a in areas) and max(areas) > 96**2
  # Without the per-image cap, the result would differ.
  uncapped = lvis_evaluator.evaluate(gt, detections, 'bbox', max_dets=400)
  capped = lvis_evaluator.evaluate(gt, detections, 'bbox')
  assert uncapped['metrics'] != capped['metrics']


def test_unverified_categories_are_ignored():
  gt = make_gt(0)
  detections = make_detections(gt, 0)
  image = gt['images'][2]
  positive = {a['category_id'] for a in gt['annotations']
              if a['image_id'] == image['id']}
  unverified = [c['id'] for c in gt['categories'] if c['id'] not in positive
                and c['id'] not in image['neg_category_ids']]
  extra = [{'image_id': image['id'], 'category_id': c, 'score': 0.99,
            'bbox': [10.0, 10.0, 50.0, 40.0]} for c in unverified]
  before = lvis_evaluator.evaluate(gt, detections, 'bbox')['metrics']
  after = lvis_evaluator.evaluate(gt, detections + extra, 'bbox')['metrics']
  assert unverified and after == before


def test_rare_group_without_objects_is_minus_one():
  gt = make_gt(4, no_rare_objects=True)
  detections = make_detections(gt, 4)
  result = lvis_evaluator.evaluate(gt, detections, 'bbox')['metrics']
  reference = lvis_reference.reference_evaluate(gt, detections, 'bbox')
  assert result['APr'] == reference['APr'] == -1
  _assert_close(result, reference)


def test_segm_results_without_boxes_use_mask_areas():
  gt = make_gt(5)
  detections = [{k: v for k, v in d.items() if k != 'bbox'}
                for d in make_detections(gt, 5)]
  _assert_close(lvis_evaluator.evaluate(gt, detections, 'segm')['metrics'],
                lvis_reference.reference_evaluate(gt, detections, 'segm'))


def test_no_detections_scores_zero():
  result = lvis_evaluator.evaluate(make_gt(0), [], 'segm')
  assert set(result['metrics'].values()) == {0.0}


def test_reference_needs_the_numpy_shim_and_leaves_numpy_alone():
  gt = make_gt(0)
  detections = make_detections(gt, 0)[:50]
  from lvis import eval as lvis_eval  # pylint: disable=g-import-not-at-top
  lvis_reference.reference_evaluate(gt, detections, 'bbox')
  assert not hasattr(np, 'float')
  assert lvis_eval.np is np
  with mock.patch.object(lvis_reference, 'lvis_numpy', mock.MagicMock()):
    with pytest.raises(AttributeError, match='float'):
      lvis_reference.reference_evaluate(gt, detections, 'bbox')


def test_evaluate_errors():
  gt = make_gt(0)
  with pytest.raises(ValueError, match='iou_type'):
    lvis_evaluator.evaluate(gt, [], 'keypoints')
  with pytest.raises(ValueError, match='image id 5'):
    lvis_evaluator.evaluate(gt, [{'image_id': 5, 'category_id': 1,
                                  'bbox': [0, 0, 1, 1], 'score': 1.0}])
  del gt['images'][3]['not_exhaustive_category_ids']
  with pytest.raises(ValueError, match="images.3. .id 121. lacks key "
                     "'not_exhaustive_category_ids'"):
    lvis_evaluator.evaluate(gt, [])


def _model_garden_batches(gt, rng, include_mask):
  """Predictions as Model Garden's detection tasks give them to evaluators.

  Boxes are [y1, x1, y2, x2] in the resized image (original * scale), with
  K = 12 slots per image of which num_detections are real (the rest is
  padding); masks are [K, 28, 28] per image, relative to the boxes. The last
  image of `gt` gets no predictions.
  """
  k_slots, images = 12, gt['images'][:-1]
  objects = {}
  for ann in gt['annotations']:
    objects.setdefault(ann['image_id'], []).append(ann)
  batches = []
  for start in range(0, len(images), 4):
    batch = images[start:start + 4]
    b = len(batch)
    boxes = np.zeros((b, k_slots, 4), np.float32)
    classes = np.zeros((b, k_slots), np.int32)
    scores = -np.ones((b, k_slots), np.float32)
    num = rng.integers(3, k_slots + 1, b).astype(np.int32)
    image_info = np.zeros((b, 4, 2), np.float32)
    for j, image in enumerate(batch):
      scale = rng.uniform(0.5, 2.0)
      image_info[j] = [[image['height'], image['width']],
                       [image['height'] * scale, image['width'] * scale],
                       [scale, scale], [0, 0]]
      anns = objects.get(image['id'], [])
      for k in range(num[j]):
        if anns and rng.random() < 0.7:
          ann = anns[rng.integers(len(anns))]
          x, y, w, h = np.array(ann['bbox']) * (1 + rng.normal(0, 0.05, 4))
          classes[j, k] = ann['category_id']
        else:
          x, y, w, h = _random_box(rng, image['width'], image['height'])
          classes[j, k] = rng.choice(image['neg_category_ids'] or
                                     [gt['categories'][0]['id']])
        boxes[j, k] = np.array([y, x, y + h, x + w]) * scale
        scores[j, k] = rng.random()
    predictions = {
        'detection_boxes': boxes, 'detection_scores': scores,
        'detection_classes': classes, 'num_detections': num,
        'source_id': np.array([img['id'] for img in batch], np.int64),
        'image_info': image_info}
    if include_mask:
      predictions['detection_masks'] = rng.uniform(
          0.2, 1.0, (b, k_slots, 28, 28)).astype(np.float32)
    groundtruths = {'source_id': predictions['source_id']}
    batches.append((groundtruths, predictions))
  return batches


def test_lvis_evaluator_end_to_end(tmp_path):
  gt = make_gt(6)
  annotation_file = tmp_path / 'lvis_val.json'
  annotation_file.write_text(json.dumps(gt))
  predictions_path = str(tmp_path / 'detections.json')
  evaluator = lvis_evaluator.LVISEvaluator(
      str(annotation_file), include_mask=True,
      predictions_path=predictions_path)
  batches = _model_garden_batches(gt, np.random.default_rng(0), True)
  # Tensors, as the tasks hand them over, work as well as numpy arrays.
  batches[0] = tf.nest.map_structure(tf.constant, batches[0])
  for groundtruths, predictions in batches:
    evaluator.update_state(groundtruths, predictions)
  metrics = evaluator.result()

  assert evaluator.name == 'lvis_metric'
  assert list(metrics) == list(lvis_evaluator.METRIC_NAMES) + [
      'mask_' + name for name in lvis_evaluator.METRIC_NAMES]
  assert all(isinstance(v, np.float32) for v in metrics.values())
  assert metrics['AP'] > 0.1 and metrics['mask_AP'] > 0.01
  with open(predictions_path) as f:
    detections = json.load(f)
  assert len(detections) == sum(
      int(np.sum(p['num_detections'])) for _, p in batches)
  # Boxes are back in original-image pixels, as xywh.
  p = batches[1][1]
  y1, x1, y2, x2 = p['detection_boxes'][0, 0] / p['image_info'][0, 2, 0]
  first = next(d for d in detections if d['image_id'] == p['source_id'][0])
  np.testing.assert_allclose(first['bbox'], [x1, y1, x2 - x1, y2 - y1],
                             rtol=1e-5)
  # Masks are pasted into the original image, inside their boxes.
  assert first['segmentation']['size'] == [gt['images'][4]['height'],
                                           gt['images'][4]['width']]
  np.testing.assert_allclose(mask_api.toBbox(first['segmentation']),
                             first['bbox'], atol=2.0)
  for iou_type, prefix in (('bbox', ''), ('segm', 'mask_')):
    reference = lvis_reference.reference_evaluate(gt, detections, iou_type)
    _assert_close({k: float(metrics[prefix + k]) for k in reference},
                  reference)
  assert evaluator.last_evaluation['segm']['per_category_ap']
  assert not evaluator._predictions  # result() resets the state.


def test_lvis_evaluator_errors(tmp_path):
  with pytest.raises(ValueError, match='missing.json does not exist'):
    lvis_evaluator.LVISEvaluator(str(tmp_path / 'missing.json'), False)
  bad = tmp_path / 'bad.json'
  bad.write_text('{"images": [')
  with pytest.raises(ValueError, match='bad.json is not JSON'):
    lvis_evaluator.LVISEvaluator(str(bad), False)
  gt = make_gt(0)
  del gt['images'][0]['neg_category_ids']
  bad.write_text(json.dumps(gt))
  with pytest.raises(ValueError, match="bad.json: images.0. .id 100. lacks "
                     "key 'neg_category_ids'"):
    lvis_evaluator.LVISEvaluator(str(bad), False)
  with pytest.raises(ValueError, match='needs annotation_file'):
    lvis_evaluator.LVISEvaluator('', False)

  gt = make_gt(0)
  good = tmp_path / 'good.json'
  good.write_text(json.dumps(gt))
  evaluator = lvis_evaluator.LVISEvaluator(str(good), False)
  _, predictions = _model_garden_batches(
      gt, np.random.default_rng(0), False)[0]
  with pytest.raises(ValueError, match='Missing the required key'):
    evaluator.update_state(None, {k: v for k, v in predictions.items()
                                  if k != 'num_detections'})
  predictions['source_id'] = predictions['source_id'] + 1
  evaluator.update_state(None, predictions)
  with pytest.raises(ValueError, match=f'image id 101 .* annotation file '
                     f'{good}'):
    evaluator.result()


_URL_2014 = 'http://images.cocodataset.org/val2014/COCO_val2014_1.jpg'


@pytest.mark.parametrize('change, seen', [
    (lambda gt: gt.update(info={'version': '0.5'}), "info.version '0.5'"),
    (lambda gt: gt['images'][0].update(coco_url=_URL_2014),
     f'COCO 2014 image urls ({_URL_2014})'),
])
def test_the_evaluator_refuses_lvis_v0_5_as_the_converter_does(
    tmp_path, change, seen):
  gt = make_gt(0)
  change(gt)
  path = tmp_path / 'lvis_v0.5_val.json'
  path.write_text(json.dumps(gt))
  with pytest.raises(ValueError) as raised:
    lvis_evaluator.LVISEvaluator(str(path), False)
  # The converter's message (tests/test_convert_lvis.py), naming the file.
  assert str(raised.value) == (
      f'LVIS annotation file {path}: this is LVIS v0.5 ({seen}); the LVIS '
      'converter, evaluator and recipes are for LVIS v1 (1,203 categories '
      'on COCO 2017 images): use lvis_v1_*.json')


def test_benchmark_prints_the_ratio(capsys):
  assert lvis_eval_speed.main(['--images', '50', '--categories', '30']) == 0
  out = capsys.readouterr().out
  assert 'speed ratio (reference / evaluate):' in out
  assert 'max abs metric difference: ' in out
