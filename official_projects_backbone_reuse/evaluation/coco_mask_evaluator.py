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

"""Model Garden's COCO evaluator, with masks pasted and encoded fast.

`coco_evaluator.COCOEvaluator.evaluate` converts predictions with
`coco_utils.convert_predictions_to_coco_annotations`, which pastes each
mask into a zeroed image of its own and RLE-encodes all of it (1-2 ms a
slot). `FastMaskCOCOEvaluator` converts with `mask_paste.convert_predictions`
(the same annotations, RLEs equal byte for byte) and is otherwise Model
Garden's `evaluate` (tf-models-official 2.20), so its metrics are the same
(`tests/test_mask_evaluation.py` compares them). The detection tasks use it
for `task.evaluation.type: coco` with masks.
"""
from typing import Dict

from absl import logging
import numpy as np
from pycocotools import cocoeval

from official.vision.evaluation import coco_evaluator
from official.vision.evaluation import coco_utils
from official_projects_backbone_reuse.evaluation import mask_paste


class FastMaskCOCOEvaluator(coco_evaluator.COCOEvaluator):
  """`COCOEvaluator` (same arguments, same metrics), faster with masks.

  Like Model Garden's, it evaluates every slot, padding included: Model
  Garden's NMS pads with score 0, a zero box and often a real class (v2:
  the first category), so padding is part of the COCO evaluation (a padded
  slot with a score would count). A zero box costs one pixel to paste here.
  Each batch is converted as it arrives and its arrays dropped, where Model
  Garden keeps every batch's masks until `result()` (COCO val: about 1.6 GB
  of 28 x 28 float masks). Without masks, or with keypoints, it is Model
  Garden's.
  """

  def _fast(self) -> bool:
    return self._include_mask and not self._include_keypoint

  def reset_states(self):
    super().reset_states()
    self._annotations = []

  def update_state(self, groundtruths, predictions):
    """Model Garden's `update_state`, then the batch converted at once."""
    super().update_state(groundtruths, predictions)
    self.convert_pending()

  def convert_pending(self) -> None:
    """Converts the batches held as arrays, and drops the arrays."""
    if not hasattr(self, '_annotations'):  # taken from a Model Garden one
      self._annotations = []
    if self._fast() and self._predictions:
      batch = mask_paste.convert_predictions(self._predictions,
                                             drop_padding=False)
      for ann in batch:  # ids 1, 2, ... over all batches, as Model Garden's
        ann['id'] = len(self._annotations) + 1
        self._annotations.append(ann)
      self._predictions = {}

  @classmethod
  def from_evaluator(cls, evaluator: coco_evaluator.COCOEvaluator
                     ) -> 'FastMaskCOCOEvaluator':
    """Makes this evaluator from a Model Garden `COCOEvaluator`.

    It takes the settings and state of `evaluator`, so its annotation file
    is not read twice."""
    if type(evaluator) is not coco_evaluator.COCOEvaluator:  # pylint: disable=unidiomatic-typecheck
      raise TypeError('from_evaluator takes a Model Garden COCOEvaluator, '
                      f'not a {type(evaluator).__name__}.')
    fast = cls.__new__(cls)
    fast.__dict__.update(vars(evaluator))
    fast.convert_pending()
    return fast

  def evaluate(self) -> Dict[str, np.float32]:
    """Model Garden's `COCOEvaluator.evaluate`, the conversion replaced."""
    if not self._fast():
      return super().evaluate()
    if not self._annotation_file:
      logging.info('There is no annotation_file in COCOEvaluator.')
      coco_gt = coco_utils.COCOWrapper(
          eval_type='mask',
          gt_dataset=coco_utils.convert_groundtruths_to_coco_dataset(
              self._groundtruths))
    else:
      logging.info('Using annotation file: %s', self._annotation_file)
      coco_gt = self._coco_gt
    coco_predictions = self._annotations
    coco_dt = coco_gt.loadRes(predictions=coco_predictions)
    image_ids = [ann['image_id'] for ann in coco_predictions]

    evaluations = {}
    for iou_type in ('bbox', 'segm'):
      evaluation = cocoeval.COCOeval(coco_gt, coco_dt, iouType=iou_type)
      evaluation.params.imgIds = image_ids
      if iou_type == 'bbox':  # As Model Garden: not for 'segm'.
        evaluation.params.maxDets[2] = self.max_num_eval_detections
      evaluation.evaluate()
      evaluation.accumulate()
      evaluation.summarize()
      evaluations[iou_type] = evaluation
    metrics = np.hstack((evaluations['bbox'].stats, evaluations['segm'].stats))
    metrics_dict = {name: metrics[i].astype(np.float32)
                    for i, name in enumerate(self._metric_names)}
    if self._per_category_metrics:
      metrics_dict.update(
          self._retrieve_per_category_metrics(evaluations['bbox']))
      metrics_dict.update(self._retrieve_per_category_metrics(
          evaluations['segm'], prefix='mask'))
    return metrics_dict
