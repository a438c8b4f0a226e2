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

"""Few-shot detection splits of a VOC set, as FsDet makes them.

FsDet: Wang et al. 2020, "Frustratingly Simple Few-Shot Object Detection".

From the COCO-format JSON of `backbone-reuse-convert-voc` (VOC07+12
trainval), writes into `--output_dir`:
  base_split{1,2,3}.json     base training: every image, the novel classes'
                             objects removed, images left without an object
                             dropped (Detectron2 drops empty images);
  seed{S}/{K}shot.json       the K-shot fine-tuning set of every class
                             (base and novel), K in --shots, for each seed;
                             the same for every split (FsDet's files do not
                             depend on the split either);
  vocsplit/seed{S}/*.txt     the same draws as FsDet's split files.
Each is a COCO-format annotation file over the same images (file names
relative to the VOC root), for `backbone-reuse-convert-detection
--image_dir <voc root> --no_masks`. The input is first checked as that
converter checks it (ids, image and category references, boxes, no empty
list); a bad one is one line naming the file, and nothing is written.

Sampling: FsDet's `prepare_voc_few_shot.py`, file for file (tested byte
for byte against a transcription of it on a VOC07+12 layout): for each
seed, Python's `random.seed(seed)`, then class by class in the file's
order, shot by shot: `random.sample` as many images holding the class
(in the file's image order: 07 then 12 trainval) as the shots added since
the previous K (1 for the first K, as FsDet), appended until they hold at
least that many objects of the class; so a K-shot list starts with the
smaller ones. Its check against the images taken before never holds (it
compares an annotation path with image paths), so a drawn image is taken,
and its objects counted, again: a list can name an image twice, and hold
fewer distinct objects than K. FsDet's split files of each seed are
written as FsDet writes them, `vocsplit/seed{S}/box_{K}shot_{class}_
train.txt` (FsDet's own tools read them). `--fsdet_splits` reads FsDet's
published files instead, seed 0 being Kang et al.'s (on which TFA's and
FsDet's numbers are); a drawn seed 0 is refused, since it would not be
theirs. The `{K}shot.json` sets are what FsDet's loader makes of the
lists: K boxes of each class (`loader_set`), each a record of its own.

Splits (FsDet's `PASCAL_VOC_NOVEL_CATEGORIES`): novel classes of split 1:
bird, bus, cow, motorbike, sofa; split 2: aeroplane, bottle, cow, horse,
sofa; split 3: boat, cat, motorbike, sheep, sofa. Other class names (the
procedural world in VOC layout) take `--novel` instead.
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import json
import os
import random
import sys
from typing import Dict, List, Optional, Sequence

import numpy as np

from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.data_tools import coco_json
from official_projects_backbone_reuse.data_tools.cli import DataError
from official_projects_backbone_reuse.data_tools.cli import command_parser
from official_projects_backbone_reuse.data_tools.cli import numbers
from official_projects_backbone_reuse.data_tools.cli import run_main

VOC_NOVEL_CLASSES = {
    1: ('bird', 'bus', 'cow', 'motorbike', 'sofa'),
    2: ('aeroplane', 'bottle', 'cow', 'horse', 'sofa'),
    3: ('boat', 'cat', 'motorbike', 'sheep', 'sofa'),
}
SHOTS = (1, 2, 3, 5, 10)


def _objects_by_class(content: dict) -> Dict[int, Dict[int, List[dict]]]:
  """Groups the file's non-crowd objects by class and image.

  category id (in the file's order) -> image id (in the file's image
  order, as FsDet reads the trainval lists) -> its (non-crowd) objects of
  the class."""
  per_image: Dict[int, List[dict]] = {}
  for ann in content['annotations']:
    if not ann.get('iscrowd'):
      per_image.setdefault(ann['image_id'], []).append(ann)
  by_class = {c['id']: {} for c in content['categories']}
  for image in content['images']:
    for ann in per_image.get(image['id'], ()):
      by_class[ann['category_id']].setdefault(image['id'], []).append(ann)
  return by_class


def sample_shots(content: dict, shots: Sequence[int], seed: int,
                 by_class: Optional[dict] = None
                 ) -> Dict[int, Dict[int, List[int]]]:
  """Draws the K-shot lists of every class, as FsDet does.

  K -> category id -> the image ids of its K-shot list, drawn as FsDet's
  `prepare_voc_few_shot.py` draws them, quirks included (module
  docstring). `by_class`: `_objects_by_class(content)`, when the caller
  has it.

  Raises:
    DataError: a class is in fewer images than a draw takes (FsDet's
      `random.sample` fails there too).
  """
  by_class = by_class or _objects_by_class(content)
  names = {c['id']: c['name'] for c in content['categories']}
  rng = random.Random(seed)
  chosen = {k: {} for k in shots}
  for category, objects in by_class.items():
    images = list(objects)
    taken: List[int] = []
    for j, k in enumerate(shots):
      needed = k - shots[j - 1] if j else 1  # FsDet's: 1 for the first K
      if needed > len(images):
        raise DataError(
            f'class {names[category]!r}: {len(images)} image(s) hold it, '
            f'fewer than the {needed} the {k}-shot draw takes (FsDet\'s '
            'sampling cannot draw them either)')
      found = 0
      for image in rng.sample(images, needed):
        # FsDet's check against the images taken compares an annotation
        # path with image paths and never holds: a repeat is taken again.
        taken.append(image)
        found += len(objects[image])
        if found >= needed:
          break
      chosen[k][category] = list(taken)
  return chosen


def fsdet_lists(content: dict, chosen: Dict[int, Dict[int, List[int]]]
                ) -> Dict[str, str]:
  """Formats one seed's draws as the text of FsDet's split files.

  FsDet's split files of one seed's `sample_shots`: {`box_{K}shot_
  {class}_train.txt`: its text}, a line per image taken (repeats too),
  `datasets/` and the image's path under the VOC root, as FsDet writes
  them (`datasets/VOC2007/JPEGImages/000005.jpg`)."""
  names = {c['id']: c['name'] for c in content['categories']}
  paths = {image['id']: image['file_name'] for image in content['images']}
  return {f'box_{k}shot_{names[c]}_train.txt':
          '\n'.join(f'datasets/{paths[i]}' for i in images) + '\n'
          for k, per_class in chosen.items()
          for c, images in per_class.items()}


def subset(content: dict, objects: Dict[int, List[dict]]) -> dict:
  """Restricts an annotation file to some of its objects.

  The annotation file restricted to `objects` (image id -> its objects),
  images in the original order."""
  images = [image for image in content['images'] if image['id'] in objects]
  return {'images': images,
          'annotations': [a for image in images for a in objects[image['id']]],
          'categories': content['categories']}


def read_fsdet_lists(folder: str, content: dict, seed: int,
                     shots: Sequence[int]) -> Dict[int, Dict[int, List[int]]]:
  """Reads FsDet's split files of one seed.

  FsDet's split files of `seed` (0: Kang et al.'s, in `folder` itself,
  FsDet's `datasets/vocsplit`; N: `folder`/seedN), as its loader reads
  them: K -> category id -> the image ids listed (repeats kept). A line's
  file id (its name before `.jpg`) is VOC2012's when it holds `_`, else
  VOC2007's, as FsDet decides."""
  by_path = {image['file_name']: image['id'] for image in content['images']}
  where = folder if seed == 0 else os.path.join(folder, f'seed{seed}')
  lists = {k: {} for k in shots}
  for k in shots:
    for category in content['categories']:
      path = os.path.join(where, f'box_{k}shot_{category["name"]}_train.txt')
      try:
        with open(path) as f:
          lines = f.read().split()
      except OSError as e:
        raise DataError(f'{path}: cannot read the FsDet split file '
                        f'(--fsdet_splits): {e.strerror}') from e
      listed = []
      for line in lines:
        fileid = line.split('/')[-1].split('.jpg')[0]
        year = '2012' if '_' in fileid else '2007'
        image = by_path.get(f'VOC{year}/JPEGImages/{fileid}.jpg')
        if image is None:
          raise DataError(f'{path}: {line!r} is not an image of the '
                          f'annotation file (VOC{year}/JPEGImages/'
                          f'{fileid}.jpg)')
        listed.append(image)
      lists[k][category['id']] = listed
  return lists


def loader_set(content: dict, per_class: Dict[int, List[int]], k: int,
               rng: np.random.RandomState,
               by_class: Optional[dict] = None) -> dict:
  """Makes a K-shot set as FsDet's loader does.

  A K-shot set as FsDet's loader (`load_filtered_voc_instances`) makes
  it of one list per class: each object of the class in each image listed
  (a repeat listed again) is a record of its own, that one box on its
  image; a class with more than K records keeps K, drawn without
  replacement class by class from `rng` (FsDet draws from NumPy's global
  generator; a seeded one makes the set reproducible). Each record is an
  image of the set (a new id, the image's file) with its one box."""
  by_class = by_class or _objects_by_class(content)
  by_id = {image['id']: image for image in content['images']}
  images, annotations = [], []
  for category, listed in per_class.items():
    records = [(image, ann) for image in listed
               for ann in by_class[category].get(image, ())]
    if len(records) > k:
      records = [records[i] for i in rng.choice(len(records), k,
                                                replace=False)]
    for image, ann in records:
      images.append(dict(by_id[image], id=len(images) + 1))
      annotations.append(dict(ann, id=len(images), image_id=len(images)))
  return {'images': images, 'annotations': annotations,
          'categories': content['categories']}


def base_set(content: dict, novel_ids: Sequence[int]) -> dict:
  """Every image with its base-class objects; images without one dropped."""
  objects: Dict[int, List[dict]] = {}
  for ann in content['annotations']:
    if ann['category_id'] not in novel_ids:
      objects.setdefault(ann['image_id'], []).append(ann)
  return subset(content, objects)


def novel_ids_of(content: dict, split: int,
                 novel: Optional[Sequence[str]] = None) -> List[int]:
  """Category ids of the split's novel classes (`novel` names, if given)."""
  names = {c['name']: c['id'] for c in content['categories']}
  wanted = list(novel) if novel else list(VOC_NOVEL_CLASSES[split])
  unknown = [n for n in wanted if n not in names]
  if unknown:
    raise DataError(f'novel class {unknown[0]!r} is not a category of the '
                    f'annotation file (it has {", ".join(names)})')
  return [names[n] for n in wanted]


def write_splits(annotation_file: str, output_dir: str,
                 seeds: Sequence[int], shots: Sequence[int] = SHOTS,
                 splits: Sequence[int] = (1, 2, 3),
                 novel: Optional[Sequence[str]] = None,
                 overwrite: bool = False,
                 fsdet_splits: Optional[str] = None) -> dict:
  """Writes the base sets and the seeds' K-shot sets.

  See the module docstring. All or nothing; returns the summary.
  `fsdet_splits`: FsDet's split files (`datasets/vocsplit`) to read instead
  of drawing."""
  base_path = lambda split: os.path.join(output_dir, f'base_split{split}.json')
  shot_path = lambda seed, k: os.path.join(output_dir, f'seed{seed}',
                                           f'{k}shot.json')
  lists_dir = lambda seed: os.path.join(output_dir, 'vocsplit', f'seed{seed}')
  files.check_outputs(
      [files.Output('--output_dir', path) for path in
       [base_path(s) for s in splits]
       + [shot_path(seed, k) for seed in seeds for k in shots]]
      + [files.Output('--output_dir', lists_dir(seed), folder=True)
         for seed in seeds if not fsdet_splits],
      [('--annotation_file', annotation_file),
       ('--fsdet_splits', fsdet_splits)], overwrite)
  content = coco_json.load_annotations(annotation_file)
  # The converter's record checks (ids, references, boxes, nothing empty):
  # the sets are for it, and the sampling trusts the references.
  coco_json.check_annotations(annotation_file, content,
                                      include_masks=False)
  if not seeds or min(seeds) < 0:
    raise DataError(f'--seeds: expected non-negative seeds, found {seeds}')
  if 0 in seeds and not fsdet_splits:
    raise DataError('--seeds: FsDet\'s seed 0 is Kang et al.\'s published '
                    'split files, not a draw: pass --fsdet_splits with '
                    'FsDet\'s datasets/vocsplit, or draw seeds from 1.')
  if not shots or min(shots) < 1 or sorted(set(shots)) != list(shots):
    raise DataError(f'--shots: expected increasing positive counts, found '
                    f'{shots}')
  outputs = {}
  summary = {'annotation_file': annotation_file, 'base': {}, 'shots': {}}
  for split in splits:
    novel_ids = novel_ids_of(content, split, novel)
    base = base_set(content, novel_ids)
    outputs[base_path(split)] = json.dumps(base)
    summary['base'][split] = {'images': len(base['images']),
                              'novel_category_ids': novel_ids}
  by_class = _objects_by_class(content)  # once: it is most of the time
  for seed in seeds:
    if fsdet_splits:
      drawn = read_fsdet_lists(fsdet_splits, content, seed, shots)
    else:
      drawn = sample_shots(content, shots, seed, by_class)
      for name, text in fsdet_lists(content, drawn).items():
        outputs[os.path.join(lists_dir(seed), name)] = text
    for k, per_class in drawn.items():
      kept = loader_set(content, per_class, k, np.random.RandomState(seed),
                        by_class)
      outputs[shot_path(seed, k)] = json.dumps(kept)
      summary['shots'][f'seed{seed}/{k}shot'] = len(kept['images'])
  files.write_all_atomically(outputs)
  summary['output_files'] = sorted(outputs)
  return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Command line entry point; returns the exit status."""
  parser = command_parser(
      'backbone-reuse-few-shot-voc', 'Write FsDet-style few-shot splits '
      '(base sets, seeded K-shot sets) of a converted VOC set.')
  parser.add_argument('--annotation_file', required=True,
                      help='the JSON of backbone-reuse-convert-voc (07+12 '
                      'trainval)')
  parser.add_argument('--output_dir', required=True)
  parser.add_argument('--overwrite', action='store_true',
                      help='replace sets of an earlier run that exist')
  parser.add_argument('--seeds', default='1-9',
                      help='N-M or N,N,...; 0 (Kang et al.\'s files) only '
                      'with --fsdet_splits')
  parser.add_argument('--fsdet_splits', default=None,
                      help='FsDet\'s split files (its datasets/vocsplit: '
                      'box_{K}shot_{CLASS}_train.txt for seed 0, seed{N}/ '
                      'for the others) to read instead of drawing')
  parser.add_argument('--shots', default=','.join(map(str, SHOTS)))
  parser.add_argument('--splits', default='1,2,3')
  parser.add_argument('--novel', default='',
                      help='novel class names (one split), for sets that '
                      'are not VOC')
  args = parser.parse_args(argv)

  def _run() -> dict:
    novel = [n.strip() for n in args.novel.split(',') if n.strip()]
    splits = [1] if novel else numbers(args.splits, '--splits')
    if not set(splits) <= set(VOC_NOVEL_CLASSES):
      raise DataError(f'--splits: expected some of 1,2,3, found {splits}')
    files.check_output_path(args.output_dir, '--output_dir', folder=True)
    return write_splits(args.annotation_file, args.output_dir,
                        numbers(args.seeds, '--seeds'),
                        numbers(args.shots, '--shots'), splits, novel,
                        args.overwrite, args.fsdet_splits)

  return run_main(_run)


if __name__ == '__main__':
  sys.exit(main())
