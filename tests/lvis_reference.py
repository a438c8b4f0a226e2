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

"""The official LVIS API (`lvis` 0.5.3 on PyPI) as a reference evaluator.

lvis 0.5.3 calls `np.float` in `LVISEval.accumulate`; NumPy 2 removed that
alias, so `LVISEval.run()` fails with AttributeError. The upstream fix
(lvis-api master, PR #42) was never released to PyPI. Rather than editing the
installed files or setting `numpy.float` for the whole process, `lvis_numpy()`
swaps the `np` global of the one module that needs it, `lvis.eval`, for a thin
proxy of numpy that also has `float`, and puts numpy back afterwards. numpy
itself is never modified, and code outside `lvis.eval` never sees the alias.

`reference_evaluate` runs LVIS -> LVISResults -> LVISEval on in-memory dicts
(deep copies: the LVIS API writes into the annotations it is given) and is what
`lvis_evaluator.evaluate` is tested and benchmarked against.
"""
import contextlib
import copy
import logging
import types
from typing import Any, Dict, Iterator, List

import numpy as np

METRIC_NAMES = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf')


class _NumpyWithFloat(types.ModuleType):
  """numpy, plus the `float` alias that NumPy 2 removed."""
  float = float

  def __getattr__(self, name: str) -> Any:
    return getattr(np, name)


@contextlib.contextmanager
def lvis_numpy() -> Iterator[None]:
  """Lets `lvis.eval` use `np.float` inside the block; numpy is untouched.

  The swap is of a module global, so it is not meant for concurrent threads.
  """
  from lvis import eval as lvis_eval  # pylint: disable=g-import-not-at-top
  original = lvis_eval.np
  lvis_eval.np = _NumpyWithFloat('numpy')
  try:
    yield
  finally:
    lvis_eval.np = original


@contextlib.contextmanager
def _quiet_lvis_logging() -> Iterator[None]:
  """The LVIS API logs every step (and warns about in-memory results)."""
  logger = logging.getLogger('lvis')
  level = logger.level
  logger.setLevel(logging.ERROR)
  try:
    yield
  finally:
    logger.setLevel(level)


def reference_lvis_eval(gt: Dict[str, Any], detections: List[Dict[str, Any]],
                        iou_type: str, max_dets: int = 300):
  """A finished (`run()`) `lvis.LVISEval` on copies of `gt` and `detections`."""
  import lvis  # pylint: disable=g-import-not-at-top
  with _quiet_lvis_logging(), lvis_numpy():
    lvis_gt = lvis.LVIS.__new__(lvis.LVIS)  # LVIS() only reads from a file.
    lvis_gt.logger = logging.getLogger(lvis.lvis.__name__)
    lvis_gt.dataset = copy.deepcopy(gt)
    lvis_gt._create_index()  # pylint: disable=protected-access
    lvis_dt = lvis.LVISResults(lvis_gt, copy.deepcopy(detections),
                               max_dets=max_dets)
    lvis_eval = lvis.LVISEval(lvis_gt, lvis_dt, iou_type=iou_type)
    lvis_eval.params.max_dets = max_dets
    lvis_eval.run()
  return lvis_eval


def reference_evaluate(gt: Dict[str, Any], detections: List[Dict[str, Any]],
                       iou_type: str, max_dets: int = 300) -> Dict[str, float]:
  """The nine LVIS AP metrics of the official API (-1 where undefined).

  Args:
    gt: an LVIS v1 annotation dict (images with neg_category_ids and
      not_exhaustive_category_ids, categories with frequency, annotations).
    detections: a non-empty list of LVIS results (image_id, category_id, bbox
      in xywh, score, and for 'segm' an RLE segmentation).
    iou_type: 'bbox' or 'segm'.
    max_dets: detections kept per image (highest scores), 300 for LVIS.

  Returns:
    {'AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf'} -> float.
  """
  results = reference_lvis_eval(gt, detections, iou_type, max_dets).results
  return {name: float(results[name]) for name in METRIC_NAMES}
