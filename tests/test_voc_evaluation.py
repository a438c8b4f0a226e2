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

"""VOC metrics against hand-computed fixtures: the devkit's matching (>=
at the threshold, difficult objects ignored, duplicates false), its
all-point and 11-point AP."""
import numpy as np
import pytest

from official_projects_backbone_reuse.evaluation import voc_evaluator


def _gt():
  """Class 1: a plain and a difficult object in image 1, one in image 2;
  class 2: one object in image 2; class 3: only a difficult one."""
  annotations = [
      (1, 1, [0, 0, 10, 10], 0),      # g1
      (1, 1, [50, 50, 10, 10], 1),    # g2, difficult
      (2, 1, [0, 0, 10, 10], 0),      # g3
      (2, 2, [20, 20, 5, 5], 0),
      (2, 3, [30, 30, 5, 5], 1),
  ]
  return {
      'images': [{'id': 1}, {'id': 2}],
      'categories': [{'id': c, 'name': f'c{c}'} for c in (1, 2, 3)],
      'annotations': [
          {'id': i, 'image_id': image, 'category_id': category, 'bbox': box,
           'difficult': difficult}
          for i, (image, category, box, difficult) in enumerate(annotations)],
  }


def _det(image, category, box, score):
  return {'image_id': image, 'category_id': category, 'bbox': box,
          'score': score}


DETECTIONS = [
    _det(1, 1, [0, 0, 10, 10], 0.9),    # g1: IoU 1, true
    _det(1, 1, [0, 0, 10, 8], 0.8),     # g1 again: IoU 0.8, duplicate
    _det(1, 1, [50, 50, 10, 10], 0.7),  # g2: difficult, ignored
    _det(2, 1, [80, 80, 5, 5], 0.6),    # nothing there: false
    _det(2, 1, [0, 0, 10, 20], 0.5),    # g3: IoU exactly 0.5
    _det(2, 3, [30, 30, 5, 5], 0.4),    # class 3 has no positive
]


def test_hand_computed_fixture():
  result = voc_evaluator.evaluate(_gt(), DETECTIONS)
  per_class = result['per_class']
  # Class 1 at 0.5, ranked (difficult dropped): TP FP FP TP; 2 positives.
  # recall .5 .5 .5 1, precision 1 .5 1/3 .5.
  # All points: .5 x 1 + .5 x .5 = .75.  11 points: 6 x 1 + 5 x .5 = 8.5/11.
  assert per_class[1]['AP50'] == pytest.approx(0.75)
  assert per_class[1]['AP50_voc07'] == pytest.approx(8.5 / 11)
  # At 0.7 the IoU-0.5 detection is false: TP FP FP FP -> .5 x 1.
  assert per_class[1]['AP70'] == pytest.approx(0.5)
  # 0.50 counts the IoU-0.5 match, 0.55-0.80 do not (IoU 0.8 is the
  # duplicate), 0.85-0.95 likewise: 0.75 once, 0.5 nine times.
  assert per_class[1]['AP'] == pytest.approx((0.75 + 9 * 0.5) / 10)
  assert per_class[2] == {'AP50': 0.0, 'AP50_voc07': 0.0, 'AP70': 0.0,
                          'AP': 0.0}
  assert per_class[3] == {'AP50': None, 'AP50_voc07': None, 'AP70': None,
                          'AP': None}
  assert result['positives'] == {1: 2, 2: 1, 3: 0}
  metrics = result['metrics']
  assert metrics['AP50'] == pytest.approx(0.375)
  assert 'AP50_novel' not in metrics  # only with novel classes given
  assert metrics['AP50_voc07'] == pytest.approx(8.5 / 22)
  assert metrics['AP70'] == pytest.approx(0.25)


def test_the_threshold_is_inclusive_as_the_devkit():
  gt = _gt()
  exact = [_det(2, 1, [0, 0, 10, 20], 0.5)]  # IoU 0.5 with g3 exactly
  assert voc_evaluator.evaluate(gt, exact)['per_class'][1]['AP50'] == (
      pytest.approx(0.5))  # one of the two positives, at precision 1
  under = [_det(2, 1, [0, 0, 10, 20.01], 0.5)]
  assert voc_evaluator.evaluate(gt, under)['per_class'][1]['AP50'] == 0.0


def test_a_difficult_best_match_hides_a_plain_one():
  # The devkit takes the best overlap among all objects of the class; when
  # it is difficult the detection is ignored, even if it also overlaps a
  # plain object enough.
  gt = _gt()
  gt['annotations'].append({'id': 9, 'image_id': 1, 'category_id': 1,
                            'bbox': [50, 50, 10, 12], 'difficult': 0})
  on_difficult = [_det(1, 1, [50, 50, 10, 10], 0.9)]
  assert voc_evaluator.evaluate(gt, on_difficult)['per_class'][1][
      'AP50'] == 0.0


def test_average_precision_definitions():
  recall, precision = np.array([0.2, 0.4, 0.4, 0.8]), np.array(
      [1.0, 1.0, 0.5, 0.75])
  # Envelope 1 to recall .4, .75 to .8, nothing after.
  assert voc_evaluator.average_precision(recall, precision, False) == (
      pytest.approx(0.4 + 0.4 * 0.75))
  # 11 points: t = 0..0.4 -> 1 (5), 0.5..0.8 -> .75 (4), 0.9, 1 -> 0.
  assert voc_evaluator.average_precision(recall, precision, True) == (
      pytest.approx((5 + 4 * 0.75) / 11))
  assert voc_evaluator.average_precision([], [], False) == 0.0


def test_the_evaluator_takes_model_garden_predictions(tmp_path):
  # A detector that finds every object but class 2's (in the resized
  # frame, image_info scale 0.5) scores AP 1 on class 1 and 0 on class 2;
  # padding slots past num_detections are not detections.
  import json
  gt = _gt()
  path = tmp_path / 'voc.json'
  path.write_text(json.dumps(gt))
  evaluator = voc_evaluator.VOCEvaluator(str(path), novel_category_ids=[2])
  by_image = {1: [], 2: []}
  for ann in gt['annotations']:
    x, y, w, h = ann['bbox']
    if ann['category_id'] != 2:
      by_image[ann['image_id']].append(
          ([y / 2, x / 2, (y + h) / 2, (x + w) / 2], ann['category_id']))
  slots = 4
  boxes = np.zeros((2, slots, 4), np.float32)
  classes = np.full((2, slots), 2, np.int64)  # padding: class 2, score .9
  scores = np.full((2, slots), 0.9, np.float32)
  for row, image in enumerate((1, 2)):
    for k, (box, category) in enumerate(by_image[image]):
      boxes[row, k], classes[row, k], scores[row, k] = box, category, 0.5
  evaluator.update_state(None, {
      'source_id': np.array([1, 2]),
      'num_detections': np.array([len(by_image[1]), len(by_image[2])]),
      'detection_boxes': boxes, 'detection_classes': classes,
      'detection_scores': scores,
      'image_info': np.tile(np.array([[[100, 100], [50, 50], [0.5, 0.5],
                                       [0, 0]]], np.float32), (2, 1, 1))})
  metrics = evaluator.result()
  assert metrics['AP50/c1'] == metrics['AP70/c1'] == 1.0
  assert metrics['AP50/c2'] == metrics['AP50_voc07/c2'] == 0.0
  assert metrics['AP50/c3'] == -1.0  # no positive
  assert metrics['AP50'] == metrics['AP'] == 0.5
  # Few-shot means: novel {2}; base {1, 3}, 3 without an AP.
  assert metrics['AP50_novel'] == 0.0 and metrics['AP50_base'] == 1.0
  assert evaluator.last_evaluation['positives'] == {1: 2, 2: 1, 3: 0}


def test_a_missing_annotation_file_is_named(tmp_path):
  with pytest.raises(ValueError, match='missing.json does not exist'):
    voc_evaluator.VOCEvaluator(str(tmp_path / 'missing.json'))


@pytest.mark.parametrize('key, value, where', [
    ('category_id', 9, 'categories'), ('image_id', 5, 'images')])
def test_an_annotation_of_an_unknown_id_is_named(tmp_path, key, value,
                                                 where):
  import json
  gt = _gt()
  gt['annotations'][2][key] = value
  path = tmp_path / 'voc.json'
  path.write_text(json.dumps(gt))
  with pytest.raises(ValueError, match=f'annotation id 2 has {key} {value}, '
                                       f'which is not the id of any of its '
                                       f'{where}'):
    voc_evaluator.VOCEvaluator(str(path))


def _detectron2_voc_ap(rec, prec, use_07_metric):
  """Detectron2's `pascal_voc_evaluation.voc_ap` (py-faster-rcnn's, and
  FsDet's), transcribed."""
  if use_07_metric:
    ap = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
      if np.sum(rec >= t) == 0:
        p = 0
      else:
        p = np.max(prec[rec >= t])
      ap = ap + p / 11.0
  else:
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
      mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    ap = np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])
  return ap


def _matlab_colon(a, d, b):
  """MATLAB's `a:d:b` for a whole number of steps: from both ends to the
  middle (the symmetric algorithm), the middle itself (a + b) / 2."""
  n = int(round((b - a) / d))
  half = n // 2
  values = [a + k * d for k in range(half + 1)]
  values += [b - (n - k) * d for k in range(half + 1, n + 1)]
  if n % 2 == 0:
    values[half] = (a + b) / 2
  return values


def _devkit_11_point_ap(rec, prec):
  """VOCevaldet.m's 11-point AP (VOC2007 devkit), transcribed:
  ap=0; for t=0:0.1:1, p=max(prec(rec>=t)); if isempty(p), p=0; end;
  ap=ap+p/11; end"""
  ap = 0
  for t in _matlab_colon(0, 0.1, 1):
    p = prec[rec >= t]
    p = 0 if p.size == 0 else p.max()
    ap = ap + p / 11
  return ap


def _random_curves(count, seed=0):
  """Recall and precision of random ranked lists; positives of 10 or 20
  make recalls of exactly 0.3, 0.6 and 0.7, where the conventions part."""
  rng = np.random.default_rng(seed)
  for _ in range(count):
    positives = int(rng.choice([3, 7, 10, 20, 33]))
    hits = rng.random(int(rng.integers(1, 40))) < rng.random()
    hits[np.cumsum(hits) > positives] = False
    tp, fp = np.cumsum(hits), np.cumsum(~hits)
    yield tp / positives, tp / np.maximum(tp + fp, np.finfo(np.float64).eps)


def test_11_point_ap_is_each_references_to_the_bit():
  parted = 0
  for recall, precision in _random_curves(500):
    ours = {points: voc_evaluator.average_precision(recall, precision, True,
                                                    points)
            for points in voc_evaluator.ELEVEN_POINT_RECALLS}
    assert ours['detectron2'] == _detectron2_voc_ap(recall, precision, True)
    assert ours['devkit'] == _devkit_11_point_ap(recall, precision)
    assert voc_evaluator.average_precision(recall, precision, False) == (
        _detectron2_voc_ap(recall, precision, False))
    parted += ours['detectron2'] != ours['devkit']
  assert parted > 10  # the conventions do differ on such curves
  # Where: only at 0.3 (3 * 0.1 above 0.3), and arange's 0.6 and 0.7.
  tens = [k / 10 for k in range(11)]
  assert [a != k for a, k in zip(voc_evaluator.ELEVEN_POINT_RECALLS[
      'detectron2'], tens)] == [k in (3, 6, 7) for k in range(11)]
  assert [a != k for a, k in zip(voc_evaluator.ELEVEN_POINT_RECALLS[
      'devkit'], tens)] == [k == 3 for k in range(11)]


def test_a_recall_of_exactly_0_6_parts_the_conventions():
  # 6 of 10 positives found first, then only false positives: the devkit
  # counts 0.6 as reached, np.arange's 0.6000000000000001 does not. Neither
  # reaches 0.3 at a recall of 3 / 10 (both take 3 * 0.1), which k / 10
  # did, and this evaluator too before it followed the references.
  tp = np.array([1, 2, 3, 4, 5, 6, 6, 6])
  recall, precision = tp / 10, tp / np.arange(1, 9)
  ap = {points: voc_evaluator.average_precision(recall, precision, True,
                                                points)
        for points in voc_evaluator.ELEVEN_POINT_RECALLS}
  assert ap['devkit'] == pytest.approx(7 / 11)
  assert ap['detectron2'] == pytest.approx(6 / 11)
  assert voc_evaluator.average_precision(recall[:3], precision[:3], True,
                                         'devkit') == pytest.approx(3 / 11)
