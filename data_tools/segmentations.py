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

"""Checks and converts the instance masks of COCO-format annotations.

The instance masks of COCO-format annotations: their checks and their
PNG form in Model Garden's examples; used by `convert_detection`. A
segmentation is polygons [[x1, y1, x2, y2, x3, y3, ...], ...] of finite
coordinates within one image size of the image (rasterising a far-off or
non-finite vertex would take unbounded memory), or an RLE {'size':
[height, width], 'counts': ...} with counts as a list of run lengths or a
compressed string (a crowd annotation must be RLE). Not a command.
"""
import io
import zlib

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from official_projects_backbone_reuse.common import values
from official_projects_backbone_reuse.data_tools.cli import DataError


def string_counts(text: str) -> list:
  """Run lengths of a compressed RLE string (pycocotools' rleFrString)."""
  counts, position = [], 0
  while position < len(text):
    value, shift, more = 0, 0, True
    while more:
      if position == len(text):
        raise ValueError('the string ends inside a run length')
      code = ord(text[position]) - 48
      if not 0 <= code < 64:
        raise ValueError(f'unexpected character {text[position]!r}')
      value |= (code & 0x1f) << shift
      more, position, shift = code & 0x20, position + 1, shift + 5
      if not more and code & 0x10:
        value |= -1 << shift
    counts.append(value + (counts[-2] if len(counts) > 2 else 0))
  return counts


def _check_rle(where: str, rle: dict, height: int, width: int) -> None:
  """An RLE must have size [height, width] and valid counts."""
  expected = (f'{where}: expected an RLE segmentation {{\'size\': [{height}, '
              f'{width}], \'counts\': ...}}, found {str(rle)[:80]}')
  if list(rle.get('size', [])) != [height, width]:
    raise DataError(expected)
  counts = rle.get('counts')
  if isinstance(counts, str):
    try:
      counts = string_counts(counts)
    except ValueError as e:
      raise DataError(f'{expected} (cannot decode the compressed counts: '
                      f'{e})') from e
  if not (isinstance(counts, list) and
          all(isinstance(c, int) and c >= 0 for c in counts) and
          sum(counts) == height * width):
    raise DataError(f'{expected} (run lengths must be non-negative integers '
                    f'summing to {height * width})')


def check_segmentation(path: str, annotation: dict, height: int,
                       width: int) -> None:
  """Checks the segmentation of one annotation.

  DataError naming the annotation unless its segmentation is polygons
  of finite vertices near the image or a valid RLE of its size."""
  where = f'{path}: annotation id {annotation["id"]}'
  segmentation = annotation.get('segmentation')
  if segmentation is None:
    raise DataError(f'{where} is missing key \'segmentation\' (needed for '
                    'masks; pass --no_masks to convert boxes only)')
  if isinstance(segmentation, dict):
    _check_rle(where, segmentation, height, width)
    return
  if annotation['iscrowd']:
    raise DataError(f'{where}: expected an RLE segmentation of size '
                    f'[{height}, {width}] for a crowd annotation, found '
                    f'{str(segmentation)[:80]}')
  if not (isinstance(segmentation, list) and segmentation and all(
      isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0 and
      all(values.is_number(v) for v in p) for p in segmentation)):
    raise DataError(f'{where}: expected a list of polygons [x1, y1, x2, y2, '
                    f'x3, y3, ...] of finite numbers, found '
                    f'{str(segmentation)[:80]}')
  for polygon in segmentation:
    xs, ys = np.array(polygon[0::2]), np.array(polygon[1::2])
    if not (np.all(np.abs(xs - width / 2) <= 1.5 * width) and
            np.all(np.abs(ys - height / 2) <= 1.5 * height)):
      raise DataError(f'{where}: a polygon vertex lies more than one image '
                      f'size outside the {width}x{height} image: '
                      f'{str(polygon)[:80]}')


def _uncompressed_rle(rle: dict) -> dict:
  """Returns the RLE with its counts uncompressed.

  RLE with counts as a list of run lengths (all pycocotools' frPyObjects,
  and so Model Garden's mask encoder, accepts)."""
  if isinstance(rle['counts'], list):
    return rle
  return dict(rle, counts=string_counts(rle['counts']))


def mask_png(annotation: dict, height: int, width: int) -> bytes:
  """An annotation's mask as Model Garden stores it: a PNG of 0/1 pixels.

  The pixels of `create_coco_tf_record.coco_segmentation_to_mask_png`
  (polygons or RLE, a non-crowd RLE taken as its polygons would be),
  deflated with zlib's run-length strategy rather than Pillow's default:
  the same pixels in any PNG reader, in half the encoding time (the largest
  part of converting a small image) and fewer bytes."""
  segmentation = annotation['segmentation']
  if isinstance(segmentation, dict):
    segmentation = _uncompressed_rle(segmentation)
    if not annotation['iscrowd']:
      segmentation = [segmentation]
  binary = mask_utils.decode(mask_utils.frPyObjects(segmentation, height,
                                                    width))
  if not annotation['iscrowd']:
    binary = np.amax(binary, axis=2)
  encoded = io.BytesIO()
  Image.fromarray(binary).save(encoded, format='PNG', compress_type=zlib.Z_RLE)
  return encoded.getvalue()
