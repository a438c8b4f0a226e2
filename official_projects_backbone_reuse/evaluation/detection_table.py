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

"""Results-format detections held as columns, not as one dict each.

LVIS val (19,809 images, 300 detections each with a mask) is 5.9 million
detections: as results-format dicts with their RLEs they took about 8 GB,
as columns (numbers in arrays, each RLE's counts as bytes) well under 1 GB.
The evaluators keep a `Table` and make dicts only for the detections an
evaluation counts (`result`).
"""
import dataclasses
from typing import Any, Dict, List, Optional, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Table:
  """N detections, in their input order.

  `segmentation[i]` is an RLE's counts (bytes; its size in
  `mask_size[i]`) or a result's own segmentation (RLE dict or polygons);
  `segmentation` is None when no detection has one. `bbox` is NaN where a
  result has none (`has_bbox` False)."""
  image_id: np.ndarray  # [N] int64
  category_id: np.ndarray  # [N] int64
  score: np.ndarray  # [N] float64
  bbox: np.ndarray  # [N, 4] float64: x, y, width, height in pixels
  has_bbox: np.ndarray  # [N] bool
  segmentation: Optional[List[Any]]
  mask_size: Optional[np.ndarray]  # [N, 2] int32 (height, width)

  def __len__(self) -> int:
    return len(self.image_id)

  @classmethod
  def from_results(cls, results: Sequence[Dict[str, Any]]) -> 'Table':
    """From results-format dicts (their segmentations are kept, not copied)."""
    with_segmentation = any('segmentation' in r for r in results)
    return cls(
        image_id=np.array([r['image_id'] for r in results], np.int64),
        category_id=np.array([r['category_id'] for r in results], np.int64),
        score=np.array([r['score'] for r in results], np.float64),
        bbox=np.array([r.get('bbox', [np.nan] * 4) for r in results],
                      np.float64).reshape(-1, 4),
        has_bbox=np.array(['bbox' in r for r in results], bool),
        segmentation=([r.get('segmentation') for r in results]
                      if with_segmentation else None),
        mask_size=None)

  @classmethod
  def from_annotations(cls, annotations: Sequence[Dict[str, Any]]) -> 'Table':
    """The table of `mask_paste.convert_predictions`' annotations.

    Those have numpy values and RLE counts as bytes."""
    table = cls.from_results(annotations)
    if table.segmentation is None:
      return table
    return dataclasses.replace(
        table,
        segmentation=[a['segmentation']['counts'] for a in annotations],
        mask_size=np.array([a['segmentation']['size'] for a in annotations],
                           np.int32).reshape(-1, 2))

  @classmethod
  def concat(cls, tables: Sequence['Table']) -> 'Table':
    if not tables:
      return cls.from_results([])
    if len({t.segmentation is None for t in tables}) > 1 or len(
        {t.mask_size is None for t in tables}) > 1:
      raise ValueError('Detection tables with and without masks, or with '
                       'masks of both kinds, cannot be joined.')
    joined = lambda field: np.concatenate([getattr(t, field) for t in tables])
    return cls(
        image_id=joined('image_id'), category_id=joined('category_id'),
        score=joined('score'), bbox=joined('bbox'),
        has_bbox=joined('has_bbox'),
        segmentation=(None if tables[0].segmentation is None else
                      [s for t in tables for s in t.segmentation]),
        mask_size=(None if tables[0].mask_size is None else
                   joined('mask_size')))

  def result(self, i: int, with_segmentation: bool = True) -> Dict[str, Any]:
    """Detection `i` as a results-format dict of Python types."""
    result = {'image_id': int(self.image_id[i]),
              'category_id': int(self.category_id[i])}
    if self.has_bbox[i]:
      result['bbox'] = [float(v) for v in self.bbox[i]]
    result['score'] = float(self.score[i])
    if with_segmentation and self.segmentation is not None:
      segmentation = self.segmentation[i]
      if self.mask_size is not None:
        segmentation = {'size': [int(v) for v in self.mask_size[i]],
                        'counts': segmentation.decode('ascii')}
      if segmentation is not None:
        result['segmentation'] = segmentation
    return result

  def results(self) -> List[Dict[str, Any]]:
    return [self.result(i) for i in range(len(self))]

  def capped_order(self, max_dets: int) -> np.ndarray:
    """`LVISResults.limit_dets_per_image`'s detections, as indices.

    Images in the order they first appear; an image's detections in input
    order, or when it has more than `max_dets`, its `max_dets` highest
    scores (ties in input order)."""
    _, first, image_rank = np.unique(self.image_id, return_index=True,
                                     return_inverse=True)
    appearance = np.argsort(first, kind='stable')  # unique index -> rank
    rank = np.empty_like(appearance)
    rank[appearance] = np.arange(len(appearance))
    order = np.argsort(rank[image_rank], kind='stable')
    bounds = np.flatnonzero(np.diff(rank[image_rank][order])) + 1
    kept = []
    for group in np.split(order, bounds) if len(order) else []:
      if len(group) > max_dets:
        group = group[np.argsort(-self.score[group], kind='stable')[:max_dets]]
      kept.append(group)
    return np.concatenate(kept) if kept else np.zeros(0, np.int64)
