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
from typing import Any, Dict, Iterator, List, Optional, Sequence

from faster_coco_eval.core import coco as fce_coco
from faster_coco_eval.core import faster_eval_api
import numpy as np
from pycocotools import mask as mask_api
import tensorflow as tf

from official.vision.evaluation import coco_evaluator
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.evaluation import mask_paste

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


def check_image_ids(detections: Sequence[Dict[str, Any]], gt: Dict[str, Any],
                    source: str = 'the ground truth') -> None:
  """Raises ValueError if a detection is for an image that `gt` lacks."""
  unknown = ({d['image_id'] for d in detections} -
             {img['id'] for img in gt['images']})
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


def _limit_per_image(detections, max_dets):
  """`LVISResults.limit_dets_per_image`: the top `max_dets` of each image."""
  per_image = collections.defaultdict(list)
  for d in detections:
    per_image[d['image_id']].append(d)
  for image_id, dets in per_image.items():
    if len(dets) > max_dets:
      per_image[image_id] = sorted(
          dets, key=lambda d: d['score'], reverse=True)[:max_dets]
  return [d for dets in per_image.values() for d in dets]


def _lvis_result(det, det_id, with_boxes):
  """A copy of `det` with id, area and box as LVISResults sets them."""
  det = dict(det, id=det_id)
  if with_boxes:
    x, y, w, h = det['bbox']
    det['area'] = w * h
    det.setdefault('segmentation', [[x, y, x, y + h, x + w, y + h, x + w, y]])
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


def evaluate(gt: Dict[str, Any], detections: Sequence[Dict[str, Any]],
             iou_type: str = 'bbox', max_dets: int = 300) -> Dict[str, Any]:
  """LVIS evaluation of `detections`, equal to the official LVIS API.

  Args:
    gt: an LVIS v1 annotation dict (not modified). All its images are
      evaluated; an image without detections has zero detections.
    detections: LVIS results (not modified): dicts with image_id, category_id,
      score, bbox ([x, y, width, height] in pixels) and, for 'segm', a
      segmentation (RLE; or polygons).
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
    verified = collections.defaultdict(set)  # category -> image ids
    for image in gt['images']:
      for category_id in image['neg_category_ids']:
        verified[category_id].add(image['id'])
    for category_id, anns in gts.items():
      verified[category_id].update(ann['image_id'] for ann in anns)
    dts = collections.defaultdict(list)
    capped = _limit_per_image(detections, max_dets)
    with_boxes = bool(capped) and 'bbox' in capped[0]  # As LVISResults.
    for i, det in enumerate(capped):
      if det['image_id'] in verified.get(det['category_id'], ()):
        det = _lvis_result(det, i + 1, with_boxes)
        if 0 < det['area'] < float('inf'):
          dts[det['category_id']].append(det)

    categories = sorted(gt['categories'], key=lambda c: c['id'])
    # [10 IoU thresholds, 101 recall thresholds, categories, 4 areas]
    precision = -np.ones((10, 101, len(categories), 4))
    for k, category in enumerate(categories):
      if gts[category['id']]:  # Without ground truth, LVIS skips it.
        precision[:, :, k] = _category_precision(
            [images[i] for i in sorted(verified[category['id']])], category,
            gts[category['id']], dts[category['id']], iou_type, max_dets)

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
      'per_category_num_detections': {
          c['id']: len(dts[c['id']]) for c in categories},
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


def _to_numpy(value):
  if isinstance(value, (tuple, list)):  # One entry per replica.
    return np.concatenate([_to_numpy(v) for v in value])
  return np.array(value.numpy() if hasattr(value, 'numpy') else value)


class ResultsEvaluator(coco_evaluator.COCOEvaluator):
  """Base evaluator of metrics from results-format detections.

  Model Garden's COCOEvaluator interface (`update_state(groundtruths,
  predictions)` per batch, then `result()`) for metrics computed from
  results-format detections against an annotation file (LVIS, VOC).

  Predictions are converted the way COCOEvaluator does (its `update_state`:
  boxes divided by the image_info scale;
  `coco_utils.convert_predictions_to_coco_annotations`: boxes to xywh,
  masks pasted into the original image and RLE-encoded; here by
  `mask_paste.convert_predictions`, which gives the same, faster), except
  that detections past `num_detections` (padding) are dropped, their masks
  never pasted, and that each batch is converted as it arrives (Model
  Garden keeps every batch's arrays until `result()`: the 28 x 28 masks of
  LVIS val at 300 detections an image would take about 18.6 GB). The
  ground truth comes from the subclass's annotation file, so `groundtruths`
  are not used. A subclass implements `evaluate`.
  """

  def __init__(self, include_mask: bool, need_rescale_bboxes: bool = True):
    """Initializes the evaluator.

    Args:
      include_mask: also keep `detection_masks` (RLEs in `detections()`).
      need_rescale_bboxes: divide boxes by the image_info scale, as
        COCOEvaluator does (Model Garden tasks predict in the resized image).
    """
    # COCOEvaluator.__init__ is not called: it loads the JSON into pycocotools
    # for COCO evaluation. The attributes its update_state, reset_states and
    # result use are set here.
    # pylint: disable=super-init-not-called
    self._include_mask = include_mask
    self._include_keypoint = False
    self._need_rescale_bboxes = need_rescale_bboxes
    self._need_rescale_keypoints = False
    self._required_prediction_fields = [
        'source_id', 'num_detections', 'detection_classes', 'detection_scores',
        'detection_boxes'] + (['image_info'] if need_rescale_bboxes else [])
    if include_mask:
      self._required_prediction_fields += ['detection_masks', 'image_info']
    self.last_evaluation = {}
    self.reset_states()

  def _convert_to_numpy(self, groundtruths, predictions):
    """Tensors (or numpy arrays, per-replica tuples) to numpy copies."""
    return None, {k: _to_numpy(v) for k, v in predictions.items()}

  def reset_states(self):
    super().reset_states()
    self._results = []

  def update_state(self, groundtruths, predictions):
    """Model Garden's `update_state`, then the batch converted at once."""
    super().update_state(groundtruths, predictions)
    self._results += results_of(self._predictions)
    self._predictions = {}  # its arrays, masks included, are dropped

  def detections(self) -> List[Dict[str, Any]]:
    """The predictions so far as results (JSON-ready Python types)."""
    return list(self._results)


def results_of(predictions) -> List[Dict[str, Any]]:
  """Model Garden's annotations of the real detections, JSON-ready.

  Masks pasted only for the real detections, RLEs as ASCII."""
  results = []
  if predictions:
    for ann in mask_paste.convert_predictions(predictions, drop_padding=True):
      result = {'image_id': int(ann['image_id']),
                'category_id': int(ann['category_id']),
                'bbox': [float(v) for v in ann['bbox']],
                'score': float(ann['score'])}
      if 'segmentation' in ann:
        rle = ann['segmentation']
        result['segmentation'] = {'size': [int(s) for s in rle['size']],
                                  'counts': rle['counts'].decode('ascii')}
      results.append(result)
  return results


class LVISEvaluator(ResultsEvaluator):
  """LVIS metrics for Model Garden detection tasks.

  It replaces COCOEvaluator (see `ResultsEvaluator` for the interface and
  the conversion).

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
      need_rescale_bboxes: see `ResultsEvaluator`.
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
    detections = self.detections()
    check_image_ids(detections, self._gt,
                    source=f'the annotation file {self._annotation_file}')
    if self._predictions_path:
      files.write_atomically(self._predictions_path, json.dumps(detections))
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
