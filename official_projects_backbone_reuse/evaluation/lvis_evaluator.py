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

"""LVIS v1 evaluation: the official LVIS numbers, computed fast.

`evaluate` gives the same nine metrics as the LVIS API (`lvis.LVISEval`, see
`tests/lvis_reference.py`) -- tested equal on fixtures with every LVIS rule
at play -- in seconds instead of tens of minutes. Per category, the matching and the
precision/recall accumulation run in C++ in faster-coco-eval's `lvis_style`
mode (which also applies the not-exhaustive rule), on only the images where
the category is verified; the metrics are then the means LVISEval takes over
those precisions. What faster-coco-eval does not do the LVIS-API way is done
here before handing over:
  1. at most `max_dets` detections per image, the highest scores (ties: input
     order), as `LVISResults.limit_dets_per_image` does; categories outside
     the evaluation still take places under this cap;
  2. detection areas as `LVISResults` sets them: the box area w*h when the
     results carry boxes (also for 'segm'), otherwise the mask area;
  3. `LVIS.get_ann_ids` keeps only objects with 0 < area < inf, ground truth
     and detections alike (a zero-width box is never evaluated);
  4. the federated rule: a detection counts only in images where its category
     is positive (has annotations) or listed in `neg_category_ids`;
  5. every ground-truth object is a regular (non-crowd) object, as in LVISEval.

`LVISEvaluator` plugs into Model Garden's detection tasks in place of
`official.vision.evaluation.coco_evaluator.COCOEvaluator`.
"""
import collections
import contextlib
import gc
import json
from typing import Any, Dict, Iterator, Optional, Sequence, Union

from faster_coco_eval.core import coco as fce_coco
from faster_coco_eval.core import faster_eval_api
import numpy as np
from pycocotools import mask as mask_api
import tensorflow as tf

from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.evaluation import detection_table
from official_projects_backbone_reuse.evaluation import results_evaluator

METRIC_NAMES = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf')
_REQUIRED_KEYS = {
    'images': ('id', 'height', 'width', 'neg_category_ids',
               'not_exhaustive_category_ids'),
    'categories': ('id', 'frequency'),
    'annotations': ('id', 'image_id', 'category_id', 'bbox', 'area'),
}


def lvis_v0_5_refusal(gt: Dict[str, Any], source: str) -> Optional[str]:
  """Says why an annotation file is LVIS v0.5 and not v1, if it is.

  Why `gt` (with its 'images' and 'categories' lists) is LVIS v0.5 and
  not v1, as the message that refuses it, naming `source`; None when
  nothing says so. LVIS v0.5 has 1,230 categories on COCO 2014 images:
  other category ids and image urls than v1. The one check of both the
  converter (`data_tools/convert_lvis.py`) and this evaluator."""
  info = gt.get('info') if isinstance(gt.get('info'), dict) else {}
  version = str(info.get('version', ''))
  urls_2014 = [i['coco_url'] for i in gt['images']
               if isinstance(i, dict) and isinstance(i.get('coco_url'), str)
               and '2014/' in i['coco_url']]
  if version.startswith('0.5'):
    seen = f'info.version {version!r}'
  elif len(gt['categories']) == 1230:
    seen = f'{len(gt["categories"])} categories'
  elif urls_2014:
    seen = f'COCO 2014 image urls ({urls_2014[0]})'
  else:
    return None
  return (f'{source}: this is LVIS v0.5 ({seen}); the LVIS converter, '
          'evaluator and recipes are for LVIS v1 (1,203 categories on COCO '
          '2017 images): use lvis_v1_*.json')


def check_lvis_gt(gt: Any, source: str = 'LVIS ground truth') -> None:
  """Raises ValueError naming `source` and the key if `gt` is not LVIS v1."""
  if not isinstance(gt, dict):
    raise ValueError(f'{source}: expected a JSON object, found '
                     f'{type(gt).__name__}.')
  for section, keys in _REQUIRED_KEYS.items():
    if not isinstance(gt.get(section), list):
      raise ValueError(f'{source}: missing the list {section!r}.')
    for i, entry in enumerate(gt[section]):
      missing = [k for k in keys if k not in entry]
      if missing:
        raise ValueError(f'{source}: {section}[{i}] (id {entry.get("id")}) '
                         f'lacks key {missing[0]!r}; LVIS v1 {section} need '
                         f'{", ".join(keys)}.')
  for cat in gt['categories']:
    if cat['frequency'] not in ('r', 'c', 'f'):
      raise ValueError(f'{source}: category {cat["id"]} has frequency '
                       f'{cat["frequency"]!r}, expected "r", "c" or "f".')
  refusal = lvis_v0_5_refusal(gt, source)
  if refusal:
    raise ValueError(refusal)


def check_image_ids(detections: Union[Sequence[Dict[str, Any]],
                                      detection_table.Table],
                    gt: Dict[str, Any],
                    source: str = 'the ground truth') -> None:
  """Raises ValueError if a detection is for an image that `gt` lacks."""
  image_ids = (np.unique(detections.image_id).tolist()
               if isinstance(detections, detection_table.Table)
               else [d['image_id'] for d in detections])
  unknown = set(image_ids) - {img['id'] for img in gt['images']}
  if unknown:
    raise ValueError(f'Detections for image id {min(unknown)} ({len(unknown)} '
                     f'unknown image ids in all), which {source} does not '
                     'have.')


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
  enabled = gc.isenabled()
  gc.disable()
  try:
    yield
  finally:
    if enabled:
      gc.enable()


def _lvis_result(det, det_id, with_boxes, iou_type):
  """`det` with id, area and box as LVISResults sets them."""
  det['id'] = det_id
  if with_boxes:
    x, y, w, h = det['bbox']
    det['area'] = w * h
    if iou_type == 'segm':  # a box's polygon where a result has no mask
      det.setdefault('segmentation',
                     [[x, y, x, y + h, x + w, y + h, x + w, y]])
  else:
    det['area'] = float(mask_api.area(det['segmentation']))
    det['bbox'] = mask_api.toBbox(det['segmentation']).tolist()
  return det


def _category_precision(images, category, gts, dts, iou_type, max_dets):
  """LVIS precision [iou thresholds, recall thresholds, areas] of a category.

  Evaluated on the images where the category is verified (positive or
  negative): elsewhere it has no ground truth and its detections do not
  count, so the result is the one of an evaluation on all images, at a
  fraction of the cost (faster-coco-eval visits every image x category).
  """
  quiet = lambda *args, **kwargs: None
  base = {'images': images, 'categories': [category]}
  lvis_eval = faster_eval_api.COCOeval_faster(
      fce_coco.COCO(dict(base, annotations=gts), print_function=quiet),
      fce_coco.COCO(dict(base, annotations=dts), print_function=quiet),
      iou_type, print_function=quiet, lvis_style=True)
  lvis_eval.params.maxDets = [max_dets]  # Per image and category; see (1).
  lvis_eval.evaluate()
  lvis_eval.accumulate()
  return lvis_eval.eval['precision'][:, :, 0, :, -1]


def _mean(precision):
  valid = precision[precision > -1]
  return float(valid.mean()) if valid.size else -1.0


def _verified(gt: Dict[str, Any], gts) -> Dict[int, set]:
  """{category id: the image ids where it is verified}.

  Verified: positive or negative on the image."""
  verified = collections.defaultdict(set)
  for image in gt['images']:
    for category_id in image['neg_category_ids']:
      verified[category_id].add(image['id'])
  for category_id, anns in gts.items():
    verified[category_id].update(ann['image_id'] for ann in anns)
  return verified


def _counted(table: detection_table.Table, order: np.ndarray,
             verified: Dict[int, set]) -> np.ndarray:
  """The positions in `order` whose (image, category) is verified."""
  if not len(order):
    return np.zeros(0, np.int64)
  images = np.unique(table.image_id)
  present = set(images.tolist())
  slots = int(max([table.category_id.max()] + list(verified))) + 1
  key = lambda image_ids, category_ids: (
      np.searchsorted(images, image_ids) * slots + category_ids)
  pairs = [(i, c) for c, ids in verified.items() for i in ids & present]
  verified_keys = key(np.array([i for i, _ in pairs], np.int64),
                      np.array([c for _, c in pairs], np.int64))
  return np.flatnonzero(np.isin(
      key(table.image_id[order], table.category_id[order]), verified_keys))


def evaluate(gt: Dict[str, Any],
             detections: Union[Sequence[Dict[str, Any]],
                               detection_table.Table],
             iou_type: str = 'bbox', max_dets: int = 300) -> Dict[str, Any]:
  """LVIS evaluation of `detections`, equal to the official LVIS API.

  Args:
    gt: an LVIS v1 annotation dict (not modified). All its images are
      evaluated; an image without detections has zero detections.
    detections: LVIS results (not modified): dicts with image_id, category_id,
      score, bbox ([x, y, width, height] in pixels) and, for 'segm', a
      segmentation (RLE; or polygons); or a `detection_table.Table` of them.
    iou_type: 'bbox' or 'segm'.
    max_dets: detections kept per image (highest scores); 300 for LVIS.

  Returns:
    A dict with
      'metrics': {AP, AP50, AP75, APs, APm, APl, APr, APc, APf} -> float,
        -1.0 where no category has ground truth to average over (as LVIS);
      'per_category_ap': {category_id: AP over IoU 0.50:0.95, all areas},
        NaN for a category without ground truth in `gt` (it is left out of
        every mean; 'AP' is the mean of the non-NaN values);
      'per_category_num_gt': {category_id: ground-truth objects evaluated};
      'per_category_num_detections': {category_id: detections evaluated,
        i.e. after the per-image cap and the federated filter}.

  Raises:
    ValueError: for an unknown iou_type, a max_dets < 1, a `gt` that is not
      LVIS v1, or detections for images that `gt` does not have.
  """
  if iou_type not in ('bbox', 'segm'):
    raise ValueError(f'iou_type must be "bbox" or "segm", not {iou_type!r}.')
  if max_dets < 1:
    raise ValueError(f'max_dets must be at least 1, not {max_dets}.')
  check_lvis_gt(gt)
  if not isinstance(detections, detection_table.Table):
    detections = detection_table.Table.from_results(detections)
  check_image_ids(detections, gt)
  if any(a.get('ignore') for a in gt['annotations']):
    raise ValueError('LVIS ground truth with "ignore" flags is not supported.')
  images = {image['id']: image for image in gt['images']}
  with _gc_paused():  # Millions of small dicts: the collector would dominate.
    # Copies: faster-coco-eval writes its own keys into annotations.
    gts = collections.defaultdict(list)
    for ann in gt['annotations']:
      if ann['image_id'] in images and 0 < ann['area'] < float('inf'):
        gts[ann['category_id']].append(dict(ann, iscrowd=0))
    verified = _verified(gt, gts)
    order = detections.capped_order(max_dets)
    # As LVISResults: boxes, or masks, after the per-image cap.
    with_boxes = bool(len(order)) and bool(detections.has_bbox[order[0]])
    places = _counted(detections, order, verified)
    by_category = np.argsort(detections.category_id[order[places]],
                             kind='stable')  # places in order, per category
    sorted_ids = detections.category_id[order[places[by_category]]]
    ids = [c['id'] for c in gt['categories']]
    counted = {i: places[by_category[start:end]] for i, start, end in zip(
        ids, np.searchsorted(sorted_ids, ids, 'left'),
        np.searchsorted(sorted_ids, ids, 'right'))}

    def category_dts(category_id):
      """The detections the federated rule counts, a category at a time.

      Dicts; ids are their places in the capped results, as
      LVISResults numbers them."""
      dts = []
      for place in counted[category_id].tolist():
        det = _lvis_result(
            detections.result(order[place], with_segmentation=(
                iou_type == 'segm' or not with_boxes)),
            place + 1, with_boxes, iou_type)
        if 0 < det['area'] < float('inf'):
          dts.append(det)
      return dts

    categories = sorted(gt['categories'], key=lambda c: c['id'])
    num_detections = {}
    # [10 IoU thresholds, 101 recall thresholds, categories, 4 areas]
    precision = -np.ones((10, 101, len(categories), 4))
    for k, category in enumerate(categories):
      dts = category_dts(category['id'])
      num_detections[category['id']] = len(dts)
      if gts[category['id']]:  # Without ground truth, LVIS skips it.
        precision[:, :, k] = _category_precision(
            [images[i] for i in sorted(verified[category['id']])], category,
            gts[category['id']], dts, iou_type, max_dets)

  groups = {f: [c['frequency'] == f for c in categories] for f in 'rcf'}
  per_category_ap = {c['id']: _mean(precision[:, :, k, 0])
                     for k, c in enumerate(categories)}
  return {
      'metrics': {
          'AP': _mean(precision[..., 0]),
          'AP50': _mean(precision[0, ..., 0]),  # IoU thresholds 0.5:0.05:0.95
          'AP75': _mean(precision[5, ..., 0]),
          'APs': _mean(precision[..., 1]),  # areas: all, small, medium, large
          'APm': _mean(precision[..., 2]),
          'APl': _mean(precision[..., 3]),
          'APr': _mean(precision[:, :, groups['r'], 0]),
          'APc': _mean(precision[:, :, groups['c'], 0]),
          'APf': _mean(precision[:, :, groups['f'], 0]),
      },
      'per_category_ap': {c: ap if ap != -1 else np.nan
                          for c, ap in per_category_ap.items()},
      'per_category_num_gt': {c['id']: len(gts[c['id']]) for c in categories},
      'per_category_num_detections': num_detections,
  }


def load_json(annotation_file: str, what: str, needed_for: str) -> Any:
  """Loads a JSON file, local or gs://.

  Returns the JSON at `annotation_file`, or raises a ValueError naming it;
  `what` names the file in messages, `needed_for` says why one is needed."""
  if not annotation_file:
    raise ValueError(f'The evaluator needs annotation_file, {needed_for}')
  if not tf.io.gfile.exists(annotation_file):
    raise ValueError(f'{what} {annotation_file} does not exist.')
  with tf.io.gfile.GFile(annotation_file) as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f'{what} {annotation_file} is not JSON: {e}') from e


def load_lvis_annotations(annotation_file: str) -> Dict[str, Any]:
  """The LVIS v1 JSON at `annotation_file`, or a ValueError naming it."""
  gt = load_json(annotation_file, 'LVIS annotation file',
                 'the LVIS v1 JSON: the image-level neg_category_ids and '
                 'not_exhaustive_category_ids are part of the metric.')
  check_lvis_gt(gt, source=f'LVIS annotation file {annotation_file}')
  return gt


class LVISEvaluator(results_evaluator.ResultsEvaluator):
  """LVIS metrics for Model Garden detection tasks.

  It replaces COCOEvaluator (see `results_evaluator.ResultsEvaluator` for
  the interface and the conversion).

  All images of the annotation file are evaluated, as LVIS does (an image
  without predictions has zero detections; COCOEvaluator evaluates only the
  images with predictions); model classes are the LVIS category ids.

  `result()` returns AP, AP50, AP75, APs, APm, APl, APr, APc, APf of the boxes
  and, with `include_mask`, the same with a 'mask_' prefix; the full
  `evaluate` outputs (per-category AP and counts) stay in
  `self.last_evaluation` ({'bbox': ..., 'segm': ...}).
  """

  def __init__(self, annotation_file: str, include_mask: bool,
               max_dets: int = 300, predictions_path: Optional[str] = None,
               need_rescale_bboxes: bool = True):
    """Initializes the evaluator.

    Args:
      annotation_file: the LVIS v1 JSON of the evaluated images (local or
        gs://).
      include_mask: also evaluate 'segm' from `detection_masks`.
      max_dets: detections kept per image (highest scores); 300 for LVIS.
      predictions_path: if set, `result()` also writes the LVIS-format
        detections (a JSON list, the input of `evaluate`) there, atomically;
        with masks on all of LVIS val this file takes gigabytes.
      need_rescale_bboxes: see `results_evaluator.ResultsEvaluator`.
    """
    if max_dets < 1:
      raise ValueError(f'max_dets must be at least 1, not {max_dets}.')
    self._gt = load_lvis_annotations(annotation_file)
    self._annotation_file = annotation_file
    self._max_dets = max_dets
    self._predictions_path = predictions_path
    super().__init__(include_mask, need_rescale_bboxes)

  @property
  def name(self) -> str:
    return 'lvis_metric'

  def evaluate(self) -> Dict[str, np.float32]:
    """LVIS metrics of the predictions so far (see the class docstring)."""
    detections = self.table()
    check_image_ids(detections, self._gt,
                    source=f'the annotation file {self._annotation_file}')
    if self._predictions_path:
      files.write_atomically(self._predictions_path,
                             json.dumps(detections.results()))
    metrics = {}
    self.last_evaluation = {}
    for iou_type, prefix in (('bbox', ''), ('segm', 'mask_')):
      if iou_type == 'segm' and not self._include_mask:
        continue
      evaluation = evaluate(self._gt, detections, iou_type, self._max_dets)
      self.last_evaluation[iou_type] = evaluation
      metrics.update({prefix + name: np.float32(value)
                      for name, value in evaluation['metrics'].items()})
    return metrics
