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

"""Converts Pascal VOC (VOC2007 / VOC2012 layout) to Model Garden TFRecords.

Reads the standard layout under `--voc_root` (a VOCdevkit folder):
  VOC<year>/ImageSets/Main/<split>.txt   the image ids of a split
  VOC<year>/Annotations/<id>.xml         size, objects (name, difficult,
                                         truncated, bndbox)
  VOC<year>/JPEGImages/<id>.jpg
for each `--sets` entry `<year>:<split>` (e.g. `2007:trainval,2012:trainval`
for VOC07+12), and writes:
  <output_prefix>-<i>-of-<n>.tfrecord   the examples of `convert_detection`
                                        (Model Garden's own tf.Example
                                        maker), boxes only, class labels
                                        1..20 in `VOC_CLASSES` order;
  <output_prefix>.json                  the same set as a COCO-format
                                        annotation file, each annotation
                                        with `difficult` and `truncated`:
                                        `task.annotation_file` of the VOC
                                        evaluation (`task.evaluation.type:
                                        voc`), which ignores difficult
                                        objects as the devkit does. It
                                        holds every object as annotated
                                        (the devkit's truth), the
                                        TFRecords those the box rule kept.
Image ids are 1.. in the order of the sets and their lists (VOC's own ids,
e.g. 2008_000123, are not integers); `file_name` is the image's path under
`--voc_root`. Difficult objects are written to the TFRecords, as Detectron2
trains on them; the evaluation leaves them out.

Coordinates: VOC's corners are 1-based and inclusive; a box (xmin, ymin,
xmax, ymax) becomes COCO's [xmin - 1, ymin - 1, xmax - xmin + 1, ymax -
ymin + 1], as Detectron2 makes it 0-based, so its width is the devkit's.

Everything is checked before anything is written (DataError naming the
file and element): a missing split list, annotation or image; XML that does
not parse, or lacks `size/width`, `size/height`, an object's `name` or a
`bndbox` coordinate; a coordinate that is not a number; a `difficult` or
`truncated` other than 0 or 1 (absent: 0); an image listed twice (in one
split list or in two of `--sets`); a class name outside `--class_names`;
then every rule of `convert_detection` (an image Pillow reads, by content
though VOC names every one .jpg, of the annotated size in its stored
layout and stored by the rule of `common.images`; the box rule:
degenerate boxes skipped, boxes past the image clipped, both counted).

Run:
  backbone-reuse-convert-voc --voc_root VOCdevkit --sets 2007:trainval,2012:trainval \\
      --output_prefix /data/voc/trainval0712 --num_shards 16
  backbone-reuse-convert-voc --voc_root VOCdevkit --sets 2007:test \\
      --output_prefix /data/voc/test07 --num_shards 4
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple
import xml.etree.ElementTree as ElementTree

from official_projects_backbone_reuse.data_tools import coco_json

from official_projects_backbone_reuse.data_tools import convert_detection
from official_projects_backbone_reuse.data_tools import io_utils
from official_projects_backbone_reuse.data_tools import parallel
from official_projects_backbone_reuse.data_tools.cli import DataError
from official_projects_backbone_reuse.data_tools.cli import command_parser
from official_projects_backbone_reuse.data_tools.cli import run_main
from official_projects_backbone_reuse.data_tools import shards
from official_projects_backbone_reuse.data_tools.shards import write_tfrecord_shards

VOC_CLASSES = (
    'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
    'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
    'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


def parse_sets(text: str) -> List[Tuple[str, str]]:
  """`2007:trainval,2012:trainval` -> [('2007', 'trainval'), ...]."""
  sets = []
  for entry in (e.strip() for e in text.split(',') if e.strip()):
    year, _, split = entry.partition(':')
    if not year or not split or os.sep in year + split or '..' in (year,
                                                                   split):
      raise DataError(f'--sets: expected <year>:<split> entries such as '
                      f'2007:trainval, found {entry!r}')
    if (year, split) in sets:
      raise DataError(f'--sets: {entry} is given twice')
    sets.append((year, split))
  if not sets:
    raise DataError('--sets is empty: give e.g. 2007:trainval')
  return sets


def _text(element, path: str, where: str) -> str:
  found = element.find(path)
  if found is None or found.text is None or not found.text.strip():
    raise DataError(f'{where}: missing <{path}>')
  return found.text.strip()


def _number(element, path: str, where: str) -> float:
  text = _text(element, path, where)
  try:
    value = float(text)
  except ValueError as e:
    raise DataError(f'{where}: <{path}> is {text!r}, not a number') from e
  if value != value or value in (float('inf'), float('-inf')):
    raise DataError(f'{where}: <{path}> is {text!r}, not a finite number')
  return value


def _flag(element, path: str, where: str) -> int:
  """Reads an optional 0/1 flag element of a VOC XML file.

  0/1 of an optional flag element (absent: 0). Any other text is
  refused: the devkit reads only '1' as set (so 'true' would silently be
  0) while Detectron2's VOC evaluator takes int() of it (and fails on
  'true'); the two disagree, so neither reading is safe to pick."""
  found = element.find(path)
  if found is None:
    return 0
  text = (found.text or '').strip()
  if text not in ('0', '1'):
    raise DataError(f'{where}: <{path}> is {text!r}, expected 0 or 1')
  return int(text)


def read_annotation(path: str, class_ids: Dict[str, int]) -> Tuple[
    int, int, List[dict]]:
  """Reads one VOC XML annotation file.

  Width, height and objects ({category_id, bbox (COCO), difficult,
  truncated}) of one VOC XML file."""
  if not os.path.isfile(path):
    raise DataError(f'{path}: annotation file not found')
  try:
    root = ElementTree.parse(path).getroot()
  except ElementTree.ParseError as e:
    raise DataError(f'{path}: not valid XML ({e})') from e
  size = [_number(root, f'size/{key}', path) for key in ('width', 'height')]
  objects = []
  for index, element in enumerate(root.findall('object')):
    where = f'{path}: object {index}'
    name = _text(element, 'name', where)
    if name not in class_ids:
      raise DataError(f'{where}: class {name!r} is not one of the '
                      f'{len(class_ids)} classes ({", ".join(class_ids)})')
    xmin, ymin, xmax, ymax = (_number(element, f'bndbox/{key}', where)
                              for key in ('xmin', 'ymin', 'xmax', 'ymax'))
    objects.append({
        'category_id': class_ids[name],
        'bbox': [xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1],
        'difficult': _flag(element, 'difficult', where),
        'truncated': _flag(element, 'truncated', where)})
  return int(size[0]), int(size[1]), objects


def to_coco(voc_root: str, sets: Sequence[Tuple[str, str]],
            class_names: Sequence[str]) -> dict:
  """Converts the VOC sets to one COCO-format annotation dict.

  See the module docstring."""
  class_ids = {name: i + 1 for i, name in enumerate(class_names)}
  images, annotations = [], []
  listed = {}  # (VOC<year>, image name) -> the split list naming it
  for year, split in sets:
    folder = f'VOC{year}'
    listing = os.path.join(voc_root, folder, 'ImageSets', 'Main',
                           f'{split}.txt')
    if not os.path.isfile(listing):
      raise DataError(f'{listing}: split list not found (--sets '
                      f'{year}:{split})')
    with open(listing) as f:
      names = [line.split()[0] for line in f if line.strip()]
    for name in names:
      where = f'{listing}: image {name!r}'
      # Refused, not converted once: Detectron2 would train on such an
      # image twice and its VOC evaluator count its objects twice among
      # the positives, so a repeated id is a broken list, not a choice.
      if (folder, name) in listed:
        first = listed[folder, name]
        raise DataError(f'{where} is listed twice' if first == listing else
                        f'{where} is also in {first}')
      listed[folder, name] = listing
      xml = io_utils.path_inside(os.path.join(voc_root, folder),
                                 os.path.join('Annotations', f'{name}.xml'),
                                 where)
      width, height, objects = read_annotation(xml, class_ids)
      image_id = len(images) + 1
      images.append({'id': image_id, 'width': width, 'height': height,
                     'file_name': os.path.join(folder, 'JPEGImages',
                                               f'{name}.jpg'),
                     'voc_id': name})
      for found in objects:
        annotations.append(dict(
            found, id=len(annotations) + 1, image_id=image_id, iscrowd=0,
            area=found['bbox'][2] * found['bbox'][3]))
  return {'images': images, 'annotations': annotations,
          'categories': [{'id': i, 'name': n} for n, i in class_ids.items()]}


def convert_voc(voc_root: str, sets: Sequence[Tuple[str, str]],
                output_prefix: str, num_shards: int = 4,
                class_names: Sequence[str] = VOC_CLASSES,
                progress_stream=None, overwrite: bool = False,
                num_processes: int = 1) -> dict:
  """Converts VOC sets to TFRecords and a COCO-format JSON.

  See the module docstring. Returns the summary. Raises DataError (nothing
  written)."""
  parallel.check_processes(num_processes)
  annotation_file = f'{output_prefix}.json'
  shards.check_outputs(output_prefix, num_shards, [('--voc_root', voc_root)],
                       [annotation_file], overwrite)
  content = to_coco(voc_root, sets, class_names)
  where = f'{voc_root} ({",".join(f"{y}:{s}" for y, s in sets)})'
  images, to_write, id_to_name, report = coco_json.check_annotations(
      where, content, include_masks=False)
  located = []
  for image in images:
    io_utils.path_inside(voc_root, image['file_name'], where)
    located.append((image, voc_root, image['file_name']))
  jobs = convert_detection.image_jobs(located, to_write, id_to_name,
                                      include_masks=False)
  files = write_tfrecord_shards(
      output_prefix, parallel.imap(convert_detection.encode_image, jobs,
                                   num_processes),
      num_shards, len(jobs), label='converting VOC',
      extra_files={annotation_file: json.dumps(content).encode()},
      progress_stream=progress_stream, overwrite=overwrite)
  return {
      'voc_root': voc_root,
      'sets': [f'{year}:{split}' for year, split in sets],
      'images': len(images),
      'annotations_written': sum(len(v) for v in to_write.values()),
      'difficult': sum(a['difficult'] for a in content['annotations']),
      **coco_json.box_report_summary(report),
      'num_shards': num_shards,
      'output_files': files,
      'annotation_file': annotation_file,
  }


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Command line entry point; returns the exit status."""
  parser = command_parser(
      'backbone-reuse-convert-voc', 'Convert Pascal VOC (VOCdevkit layout) '
      'to Model Garden detection TFRecords and a COCO-format JSON.',
      tfrecord_output=True)
  parser.add_argument('--voc_root', required=True,
                      help='the VOCdevkit folder holding VOC2007/, VOC2012/')
  parser.add_argument('--sets', required=True,
                      help='<year>:<split>,... e.g. 2007:trainval,'
                      '2012:trainval')
  parser.add_argument('--class_names', default=','.join(VOC_CLASSES),
                      help='the class names in label order (default: the '
                      '20 VOC classes)')
  args = parser.parse_args(argv)

  def _run() -> dict:
    names = [n.strip() for n in args.class_names.split(',') if n.strip()]
    if not names or len(set(names)) != len(names):
      raise DataError('--class_names: expected distinct, non-empty names, '
                      f'found {args.class_names!r}')
    summary = convert_voc(args.voc_root, parse_sets(args.sets),
                          args.output_prefix, args.num_shards, names,
                          overwrite=args.overwrite,
                          num_processes=args.num_processes)
    coco_json.warn(summary)
    return summary

  return run_main(_run)


if __name__ == '__main__':
  sys.exit(main())
