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

"""Pascal VOC detection metrics: per-class AP and mAP, as the devkit.

The rules of the official VOC devkit (`VOCevaldet.m`, `VOCap.m`):

* per class, detections of every image are ranked by score (ties keep their
  order); each is matched to the ground-truth box of its image and class
  it overlaps most (IoU); it is a true positive when that overlap is at
  least the threshold (**>=**, the devkit's rule; py-faster-rcnn and
  Detectron2 use >) and the box was not matched before, a false positive
  when it was (a duplicate) or the overlap is under the threshold;
* a detection whose best match is a *difficult* object counts neither way,
  and difficult objects are not among the positives to recall;
* AP is the area under the precision envelope (VOC2010 and later, "all
  points"), or the sum of eleven 1/11ths of the best precision at recall
  >= t for t of 0, 0.1, ..., 1 (VOC2007, "11 points"). Which floats those
  ts are moves a class's AP by 1/11 where its recall is exactly one of
  them: Detectron2, MMDetection and py-faster-rcnn (and so FsDet and TFA)
  take `np.arange(0, 1.1, 0.1)`, whose 0.3, 0.6 and 0.7 lie a hair above
  k/10 (the default, `detectron2`); the devkit's MATLAB `0:0.1:1` is k/10
  but for 3 * 0.1 (`devkit`; `task.evaluation.voc07_recall_points`);
* mAP is the mean over the classes that have a positive; a class without
  one has no AP (left out, None).

Boxes are continuous pixel coordinates (COCO's [x, y, width, height]):
the VOC converter stores VOC's 1-based inclusive corners (xmin, ymin,
xmax, ymax) as [xmin - 1, ymin - 1, xmax, ymax], so width = xmax - xmin +
1, the devkit's own; the IoU here needs no +1.

Reported: `AP50` (all points at IoU 0.5, VOC2010+), `AP50_voc07` (11
points), `AP70` (all points at IoU 0.7: the localisation metric of Li et
al.'s analysis of detection pre-training) and `AP` (the VOC rules' all-point
AP averaged over IoU 0.50:0.05:0.95, as Detectron2's VOC evaluator names it:
not COCO's AP, which interpolates 101 recall points and sets crowds apart),
each also per class. With novel classes (few-shot), `AP50_novel` and
`AP50_base` are FsDet's nAP50 and bAP50: 11-point, as FsDet's evaluator
computes them on VOC2007 test.
"""
import re
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from official_projects_backbone_reuse.evaluation import lvis_evaluator
from official_projects_backbone_reuse.evaluation import results_evaluator

COCO_THRESHOLDS = tuple(t / 100 for t in range(50, 100, 5))
# The recalls of the 11-point AP (module docstring), as each reference
# computes them: numpy's arange (start + k * step), MATLAB's colon (from
# the start up to the middle, from the end down after it).
ELEVEN_POINT_RECALLS = {
    'detectron2': tuple(float(t) for t in np.arange(0.0, 1.1, 0.1)),
    'devkit': tuple(k * 0.1 if k <= 5 else 1.0 - (10 - k) * 0.1
                    for k in range(11)),
}


def average_precision(recall: np.ndarray, precision: np.ndarray,
                      eleven_point: bool,
                      recall_points: str = 'detectron2') -> float:
  """Computes the AP of a ranked list's recall and precision.

  VOC2007 11-point at `ELEVEN_POINT_RECALLS[recall_points]`, or VOC2010+
  all-point."""
  recall, precision = np.asarray(recall, float), np.asarray(precision, float)
  if eleven_point:
    ap = 0.0
    for t in ELEVEN_POINT_RECALLS[recall_points]:  # summed as they sum
      ap += (precision[recall >= t].max() if (recall >= t).any() else 0.0
             ) / 11
    return float(ap)
  recall = np.concatenate([[0.0], recall, [1.0]])
  precision = np.concatenate([[0.0], precision, [0.0]])
  envelope = np.maximum.accumulate(precision[::-1])[::-1]
  steps = np.nonzero(recall[1:] != recall[:-1])[0] + 1
  return float(np.sum((recall[steps] - recall[steps - 1]) * envelope[steps]))


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
  """IoU of one [x, y, w, h] box with each of `boxes`."""
  left = np.maximum(box[0], boxes[:, 0])
  top = np.maximum(box[1], boxes[:, 1])
  right = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
  bottom = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
  inter = np.maximum(right - left, 0) * np.maximum(bottom - top, 0)
  union = box[2] * box[3] + boxes[:, 2] * boxes[:, 3] - inter
  return inter / np.maximum(union, np.finfo(np.float64).tiny)


def _ranked_outcomes(truth: Dict[Any, Dict[str, np.ndarray]],
                     detections: List[Dict[str, Any]],
                     threshold: float) -> np.ndarray:
  """Marks each detection of one class as true or false positive.

  +1 (true positive), -1 (false positive) or 0 (matched a difficult
  object) for each detection of one class, ranked by score."""
  order = np.argsort([-d['score'] for d in detections], kind='stable')
  matched = {image: np.zeros(len(t['boxes']), bool)
             for image, t in truth.items()}
  outcomes = np.full(len(detections), -1)
  for rank, index in enumerate(order):
    detection = detections[index]
    objects = truth.get(detection['image_id'])
    if objects is None or not len(objects['boxes']):
      continue
    overlaps = _iou(np.asarray(detection['bbox'], float), objects['boxes'])
    best = int(np.argmax(overlaps))
    if overlaps[best] < threshold:
      continue
    if objects['difficult'][best]:
      outcomes[rank] = 0
    elif not matched[detection['image_id']][best]:
      matched[detection['image_id']][best] = True
      outcomes[rank] = 1
  return outcomes


def _curve(truth: Dict[Any, Dict[str, np.ndarray]],
           detections: List[Dict[str, Any]], threshold: float,
           positives: int):
  """Computes the recall and precision curve of one class.

  Recall and precision down the ranked detections of one class:
  `truth` maps image id -> {'boxes' [n, 4] xywh, 'difficult' [n] bool};
  `detections` are COCO results of that class; `positives` > 0."""
  outcomes = _ranked_outcomes(truth, detections, threshold)
  outcomes = outcomes[outcomes != 0]
  true_positives = np.cumsum(outcomes == 1)
  false_positives = np.cumsum(outcomes == -1)
  recall = true_positives / positives
  precision = true_positives / np.maximum(true_positives + false_positives,
                                          np.finfo(np.float64).eps)
  return recall, precision


def class_aps(truth: Dict[Any, Dict[str, np.ndarray]],
              detections: List[Dict[str, Any]], positives: int,
              recall_points: str = 'detectron2'
              ) -> Dict[str, Optional[float]]:
  """Computes the APs of one class.

  AP50, AP50_voc07, AP70 and AP of one class (see `_curve`), the
  matching done once per IoU threshold; all None without a positive."""
  if not positives:
    return dict.fromkeys(('AP50', 'AP50_voc07', 'AP70', 'AP'))
  curves = {t: _curve(truth, detections, t, positives)
            for t in COCO_THRESHOLDS}
  aps = {t: average_precision(*curve, eleven_point=False)
         for t, curve in curves.items()}
  return {'AP50': aps[0.5],
          'AP50_voc07': average_precision(*curves[0.5], eleven_point=True,
                                          recall_points=recall_points),
          'AP70': aps[0.7],
          'AP': float(np.mean(list(aps.values())))}


def _mean(values: Sequence[Optional[float]]) -> float:
  defined = [v for v in values if v is not None]
  return float(np.mean(defined)) if defined else -1.0


def evaluate(gt: Dict[str, Any], detections: Sequence[Dict[str, Any]],
             recall_points: str = 'detectron2') -> Dict[str, Any]:
  """Computes the VOC metrics of COCO-format detections.

  VOC metrics of COCO-format `detections` against a COCO-format `gt`
  whose annotations carry `difficult` (0/1; absent: 0); `recall_points`:
  the 11-point AP's (`ELEVEN_POINT_RECALLS`).

  Returns {'metrics': {'AP50', 'AP50_voc07', 'AP70', 'AP'}, 'per_class':
  {category_id: the same four (None: no positive)}, 'positives':
  {category_id: non-difficult objects}}; a mean is -1 when no class has a
  positive.
  """
  truth = {c['id']: {} for c in gt['categories']}
  for ann in gt['annotations']:
    objects = truth[ann['category_id']].setdefault(
        ann['image_id'], {'boxes': [], 'difficult': []})
    objects['boxes'].append(ann['bbox'])
    objects['difficult'].append(bool(ann.get('difficult', 0)))
  for per_image in truth.values():
    for objects in per_image.values():
      objects['boxes'] = np.reshape(np.asarray(objects['boxes'], float),
                                    (-1, 4))
      objects['difficult'] = np.asarray(objects['difficult'], bool)
  by_class = {c: [] for c in truth}
  for detection in detections:
    by_class.setdefault(detection['category_id'], []).append(detection)
  positives = {c: sum(int(np.sum(~o['difficult'])) for o in t.values())
               for c, t in truth.items()}
  per_class = {c: class_aps(truth[c], by_class[c], positives[c],
                            recall_points) for c in truth}
  metrics = {name: _mean([ap[name] for ap in per_class.values()])
             for name in ('AP50', 'AP50_voc07', 'AP70', 'AP')}
  return {'metrics': metrics, 'per_class': per_class,
          'positives': positives}


def load_annotations(annotation_file: str) -> Dict[str, Any]:
  """Loads the COCO-format JSON of `backbone-reuse-convert-voc`.

  A ValueError names the file when it cannot be loaded."""
  gt = lvis_evaluator.load_json(
      annotation_file, 'VOC annotation file',
      'the JSON that backbone-reuse-convert-voc writes beside the shards: '
      'the difficult flags are part of the metric.')
  if not isinstance(gt, dict) or any(
      not isinstance(gt.get(key), list)
      for key in ('images', 'annotations', 'categories')):
    raise ValueError(f'VOC annotation file {annotation_file}: expected a '
                     'COCO-format object with images, annotations and '
                     'categories lists.')
  categories = {c.get('id') for c in gt['categories']}
  images = {i.get('id') for i in gt['images']}
  for ann in gt['annotations']:
    for key, known, where in (('category_id', categories, 'categories'),
                              ('image_id', images, 'images')):
      if ann.get(key) not in known:
        raise ValueError(f'VOC annotation file {annotation_file}: annotation '
                         f'id {ann.get("id")} has {key} {ann.get(key)!r}, '
                         f'which is not the id of any of its {where}.')
  return gt


def _tag(name: str) -> str:
  return re.sub(r'[^A-Za-z0-9_.-]', '_', str(name))


class VOCEvaluator(results_evaluator.ResultsEvaluator):
  """VOC metrics for Model Garden detection tasks.

  See the module docstring. They replace COCOEvaluator
  (`task.evaluation.type: voc`).

  `result()` returns AP50, AP50_voc07, AP70 and AP (with
  `novel_category_ids`, AP50_novel and AP50_base: the mean 11-point AP50
  of the novel and of the other classes, FsDet's nAP50 / bAP50),
  then per class
  `AP50/<name>`, `AP50_voc07/<name>` and `AP70/<name>` (-1 for a class
  without a positive); `self.last_evaluation` keeps `evaluate`'s output.
  """

  def __init__(self, annotation_file: str,
               novel_category_ids: Sequence[int] = (),
               need_rescale_bboxes: bool = True,
               recall_points: str = 'detectron2'):
    self._gt = load_annotations(annotation_file)
    self._recall_points = recall_points
    self._novel = set(novel_category_ids)
    self._annotation_file = annotation_file
    self._names = {c['id']: c.get('name', c['id'])
                   for c in self._gt['categories']}
    super().__init__(include_mask=False,
                     need_rescale_bboxes=need_rescale_bboxes)

  @property
  def name(self) -> str:
    return 'voc_metric'

  def evaluate(self) -> Dict[str, np.float32]:
    detections = self.detections()
    lvis_evaluator.check_image_ids(
        detections, self._gt,
        source=f'the annotation file {self._annotation_file}')
    self.last_evaluation = evaluate(self._gt, detections,
                                    self._recall_points)
    metrics = {name: np.float32(value) for name, value
               in self.last_evaluation['metrics'].items()}
    if self._novel:  # few-shot detection: FsDet's nAP50 and bAP50
      per_class = self.last_evaluation['per_class']
      for name, novel in (('AP50_novel', True), ('AP50_base', False)):
        metrics[name] = np.float32(_mean(
            [v['AP50_voc07'] for c, v in per_class.items()
             if (c in self._novel) == novel]))
    for category, values in self.last_evaluation['per_class'].items():
      for name in ('AP50', 'AP50_voc07', 'AP70'):
        value = values[name]
        metrics[f'{name}/{_tag(self._names[category])}'] = np.float32(
            -1.0 if value is None else value)
    return metrics
