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

"""The COCO-format JSON a converter reads, checked before anything is written.

`load_annotations` reads and checks the file's shape; `check_annotations`
its records (ids, sizes, categories, boxes, segmentations) and the box rule
(degenerate or outside boxes skipped, boxes past the image clipped), whose
report `box_report_summary` and `warn` give.
"""
import collections
import json
import os
import sys
from typing import Dict, Optional, Tuple

import numpy as np

from official_projects_backbone_reuse.common import images as images_lib
from official_projects_backbone_reuse.common import values
from official_projects_backbone_reuse.data_tools import segmentations
from official_projects_backbone_reuse.data_tools.cli import DataError

REQUIRED_KEYS = {
    'images': ('id', 'file_name', 'height', 'width'),
    'annotations': ('id', 'image_id', 'category_id', 'bbox', 'area',
                    'iscrowd'),
    'categories': ('id', 'name'),
}
IDS_SHOWN = 5
WARNINGS = {
    'skipped_degenerate': 'skipped {n} annotation(s) with a non-positive box '
                          'width or height',
    'skipped_outside': 'skipped {n} annotation(s) whose box lies entirely '
                       'outside the image',
    'clipped': 'clipped {n} annotation(s) whose box extends past the image',
}


def load_annotations(path: str, required_keys: Optional[dict] = None) -> dict:
  """Loads and checks a COCO-format annotation file.

  The parsed annotation JSON; DataError if it is missing, not JSON, or
  lacks a key of `required_keys` (top-level key -> keys each of its records
  must have; default COCO's `REQUIRED_KEYS`)."""
  required_keys = REQUIRED_KEYS if required_keys is None else required_keys
  if not os.path.isfile(path):
    raise DataError(f'{path}: annotation file not found')
  try:
    with open(path, 'rb') as f:
      content = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise DataError(f'{path}: expected a JSON annotation file, found invalid '
                    f'JSON ({e})') from e
  if not isinstance(content, dict):
    raise DataError(f'{path}: expected a JSON object at the top level, found '
                    f'{type(content).__name__}')
  for key, record_keys in required_keys.items():
    if key not in content:
      raise DataError(f'{path}: missing required key {key!r} (a COCO '
                      'annotation file has \'images\', \'annotations\' and '
                      '\'categories\')')
    if not isinstance(content[key], list):
      raise DataError(f'{path}: expected key {key!r} to hold a list of '
                      f'records, found {type(content[key]).__name__}')
    for index, record in enumerate(content[key]):
      if not isinstance(record, dict):
        raise DataError(f'{path}: {key}[{index}]: expected a record (JSON '
                        f'object), found {type(record).__name__}')
      missing = [k for k in record_keys if k not in record]
      if missing:
        raise DataError(f'{path}: {key}[{index}] (id={record.get("id")}) is '
                        f'missing required key {missing[0]!r}')
  return content


def _check_ids(annotation_file: str, key: str, records: list) -> None:
  """Ids of `records` (content[key]) are integers, each once."""
  seen = set()
  for record in records:
    value = record['id']
    if not values.is_integer(value):
      raise DataError(f'{annotation_file}: {key}: expected an integer id, '
                      f'found {value!r}')
    if value in seen:
      raise DataError(f'{annotation_file}: {key}: id {value} appears twice')
    seen.add(value)


def _fit(start: float, length: float, limit: float) -> float:
  """Largest length <= `length` with start + length <= limit in floats."""
  while start + length > limit:
    length = float(np.nextafter(length, 0))
  return length


def _apply_box_rule(annotation: dict, height: int,
                    width: int) -> Tuple[Optional[dict], str]:
  """Applies the box rule (clip or skip) to one annotation.

  The annotation to write (None if skipped) and what happened to it:
  'ok', 'clipped', 'skipped_degenerate' or 'skipped_outside'."""
  x, y, w, h = (float(v) for v in annotation['bbox'])
  if not (w > 0 and h > 0):
    return None, 'skipped_degenerate'
  x0, y0 = max(x, 0.0), max(y, 0.0)
  x1, y1 = min(x + w, float(width)), min(y + h, float(height))
  if x1 <= x0 or y1 <= y0:
    return None, 'skipped_outside'
  if (x0, y0, x1, y1) == (x, y, x + w, y + h):
    return annotation, 'ok'
  clipped_w, clipped_h = _fit(x0, x1 - x0, width), _fit(y0, y1 - y0, height)
  clipped = dict(annotation, bbox=[x0, y0, clipped_w, clipped_h],
                 area=min(float(annotation['area']), clipped_w * clipped_h))
  return clipped, 'clipped'


def check_annotations(annotation_file: str, content: dict,
                      include_masks: bool = True
                      ) -> Tuple[list, Dict, Dict, Dict]:
  """Checks the records of a loaded annotation file.

  Checks the records of loaded JSON (not the image files); returns images,
  annotations to write per image id, the category names by id, and the
  skip/clip report."""
  images = content['images']
  for key in ('images', 'annotations', 'categories'):
    _check_ids(annotation_file, key, content[key])
    if not content[key]:  # an empty set would train on nothing
      raise DataError(f'{annotation_file}: {key!r} is empty')
  by_id = {}
  for image in images:
    for key in ('height', 'width'):
      if not values.is_integer(image[key]) or image[key] <= 0:
        raise DataError(f'{annotation_file}: image id {image["id"]}: '
                        f'expected a positive integer {key!r}, found '
                        f'{image[key]!r}')
    if image['height'] * image['width'] > images_lib.MAX_IMAGE_PIXELS:
      raise DataError(f'{annotation_file}: image id {image["id"]}: '
                      f'{image["width"]}x{image["height"]} pixels is over '
                      f'the limit of {images_lib.MAX_IMAGE_PIXELS:,}')
    by_id[image['id']] = image
  id_to_name = {c['id']: c['name'] for c in content['categories']}
  for category_id, name in id_to_name.items():
    if not isinstance(name, str):
      raise DataError(f'{annotation_file}: categories: id {category_id}: '
                      f'expected a string \'name\', found {name!r}')
  if 0 in id_to_name or min(id_to_name, default=1) < 0:
    raise DataError(f'{annotation_file}: categories: id '
                    f'{min(id_to_name)} is not allowed; category ids start at '
                    '1 (0 is the background label of Model Garden\'s '
                    'detectors)')
  to_write = collections.defaultdict(list)
  report = {outcome: [] for outcome in WARNINGS}
  for annotation in content['annotations']:
    where = f'{annotation_file}: annotation id {annotation["id"]}'
    # Ids are looked up as integers only: a list is not hashable, and JSON
    # true would find id 1.
    image = (by_id.get(annotation['image_id'])
             if values.is_integer(annotation['image_id']) else None)
    if image is None:
      raise DataError(f'{where} has image_id {annotation["image_id"]!r}, '
                      'which is not the id of any entry in \'images\'')
    if not (values.is_integer(annotation['category_id']) and
            annotation['category_id'] in id_to_name):
      raise DataError(f'{where} has category_id '
                      f'{annotation["category_id"]!r}, which is not the id of '
                      'any entry in \'categories\'')
    bbox = annotation['bbox']
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(
        values.is_number(v) for v in bbox)):
      raise DataError(f'{where}: expected bbox [x, y, width, height] of 4 '
                      f'numbers, found {bbox!r}')
    # Any sign: a negative area comes with a degenerate box (VOC's), which
    # the box rule below skips and counts.
    if not values.is_number(annotation['area']):
      raise DataError(f'{where}: expected \'area\' to be a finite number, '
                      f'found {annotation["area"]!r}')
    if not (values.is_integer(annotation['iscrowd']) and
            annotation['iscrowd'] in (0, 1)):
      raise DataError(f'{where}: expected \'iscrowd\' to be 0 or 1, found '
                      f'{annotation["iscrowd"]!r}')
    if include_masks:
      segmentations.check_segmentation(annotation_file, annotation,
                                       image['height'], image['width'])
    kept, outcome = _apply_box_rule(annotation, image['height'],
                                    image['width'])
    if outcome != 'ok':
      report[outcome].append(annotation['id'])
    if kept is not None:
      to_write[image['id']].append(kept)
  return images, to_write, id_to_name, report


def box_report_summary(report: Dict[str, list]) -> dict:
  """Summary fields of the box rule: a count per outcome and first ids."""
  return {
      **{outcome: len(ids) for outcome, ids in report.items()},
      'first_ids': {outcome: ids[:IDS_SHOWN]
                    for outcome, ids in report.items() if ids},
  }


def warn(summary: dict) -> None:
  """Prints the box rule's skip/clip warnings of a summary to stderr."""
  for outcome, ids in summary['first_ids'].items():
    text = WARNINGS[outcome].format(n=summary[outcome])
    print(f'warning: {text} (first ids: {ids})', file=sys.stderr)
