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

"""The base of the evaluators of results-format detections.

Those that compute metrics from results-format detections against an
annotation file (LVIS, VOC)."""
from typing import Any, Dict, List

import numpy as np

from official.vision.evaluation import coco_evaluator
from official_projects_backbone_reuse.evaluation import detection_table
from official_projects_backbone_reuse.evaluation import mask_paste


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
  LVIS val at 300 detections an image would take about 18.6 GB), and kept
  as columns (`detection_table.Table`). The ground truth comes from the
  subclass's annotation file, so `groundtruths` are not used. A subclass
  implements `evaluate`.
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
    self._tables = []

  def update_state(self, groundtruths, predictions):
    """Model Garden's `update_state`, then the batch converted at once."""
    super().update_state(groundtruths, predictions)
    if self._predictions:
      self._tables.append(table_of(self._predictions))
    self._predictions = {}  # its arrays, masks included, are dropped

  def table(self) -> detection_table.Table:
    """The predictions so far, as columns."""
    return detection_table.Table.concat(self._tables)

  def detections(self) -> List[Dict[str, Any]]:
    """The predictions so far as results (JSON-ready Python types)."""
    return self.table().results()


def table_of(predictions) -> detection_table.Table:
  """Model Garden's annotations of the real detections, as columns.

  Masks pasted only for the real detections."""
  return detection_table.Table.from_annotations(
      mask_paste.convert_predictions(predictions, drop_padding=True))
