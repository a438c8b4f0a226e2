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

"""Writes a COCO-format detection split in Pascal VOC's layout.

So the VOC path (conversion, VOC evaluation, few-shot splits) runs on the
procedural world: `VOC<year>/Annotations/<id>.xml`, `JPEGImages/<id>.jpg`
(hard links to the images, copies where linking fails) and
`ImageSets/Main/<split>.txt`. Boxes become VOC's 1-based inclusive integer
corners (the inverse of `convert_voc`'s mapping, rounded); objects smaller
than `difficult_below` pixels on their shorter side are marked difficult,
so that the evaluation's rule for them is exercised. Not a command: used by
`backbone-reuse-make-dataset --voc_layout` and the tests.
"""
import json
import os
import shutil
from typing import Sequence
import xml.etree.ElementTree as ElementTree


def _element(parent, tag: str, text=None):
  child = ElementTree.SubElement(parent, tag)
  if text is not None:
    child.text = str(text)
  return child


def annotation_xml(file_name: str, width: int, height: int,
                   objects: Sequence[dict]) -> bytes:
  """Returns the VOC XML annotation of one image.

  VOC XML of an image; `objects`: name, box (xmin, ymin, xmax, ymax),
  difficult."""
  root = ElementTree.Element('annotation')
  _element(root, 'filename', file_name)
  size = _element(root, 'size')
  for key, value in (('width', width), ('height', height), ('depth', 3)):
    _element(size, key, value)
  for found in objects:
    element = _element(root, 'object')
    _element(element, 'name', found['name'])
    _element(element, 'truncated', 0)
    _element(element, 'difficult', found['difficult'])
    box = _element(element, 'bndbox')
    for key, value in zip(('xmin', 'ymin', 'xmax', 'ymax'), found['box']):
      _element(box, key, value)
  return ElementTree.tostring(root)


def write_voc_layout(annotation_file: str, image_dir: str, voc_dir: str,
                     split: str, difficult_below: float = 20.0) -> int:
  """Writes a COCO split in VOC layout.

  Writes the COCO split into `voc_dir` (a `VOC<year>` folder) as
  `split`; returns the number of images. Appends to the folder: several
  splits can share it."""
  with open(annotation_file) as f:
    content = json.load(f)
  names = {c['id']: c['name'] for c in content['categories']}
  objects = {image['id']: [] for image in content['images']}
  for ann in content['annotations']:
    if ann.get('iscrowd'):
      continue
    x, y, w, h = ann['bbox']
    xmin, ymin = int(round(x)) + 1, int(round(y)) + 1
    xmax, ymax = int(round(x + w)), int(round(y + h))
    if xmax < xmin or ymax < ymin:
      continue
    objects[ann['image_id']].append({
        'name': names[ann['category_id']], 'box': (xmin, ymin, xmax, ymax),
        'difficult': int(min(w, h) < difficult_below)})
  for folder in ('Annotations', 'JPEGImages', os.path.join('ImageSets',
                                                           'Main')):
    os.makedirs(os.path.join(voc_dir, folder), exist_ok=True)
  ids = []
  for image in content['images']:
    name = os.path.splitext(os.path.basename(image['file_name']))[0]
    ids.append(name)
    target = os.path.join(voc_dir, 'JPEGImages', f'{name}.jpg')
    source = os.path.join(image_dir, image['file_name'])
    if not os.path.exists(target):
      try:
        os.link(source, target)
      except OSError:
        shutil.copyfile(source, target)
    with open(os.path.join(voc_dir, 'Annotations', f'{name}.xml'), 'wb') as f:
      f.write(annotation_xml(f'{name}.jpg', image['width'], image['height'],
                             objects[image['id']]))
  with open(os.path.join(voc_dir, 'ImageSets', 'Main', f'{split}.txt'),
            'w') as f:
    f.write(''.join(f'{name}\n' for name in ids))
  return len(ids)
