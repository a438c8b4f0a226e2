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

"""Makes the procedural world: a classification and a detection set.

The detection set is long-tailed, with exact polygon masks, in COCO and
LVIS v1 formats.

Layout of `output_dir` (built under a hidden temporary sibling and renamed
when complete, so a failed run leaves nothing):

  classification/{train,val}/<class_name>/<n>.jpg   64x64, one object each
  detection/{train,val}/images/<image_id>.jpg       256..320 px, 2..8 objects
  detection/annotations/{train,val}.json            COCO + LVIS v1
  dataset.json                                      summary and class stats

The same seed gives byte-identical files. The 24 classes and the drawing are
in `procedural.py`, the layout, long tail and JSON in `procedural_layout.py`.

Run:
  backbone-reuse-make-dataset --output_dir /tmp/world [--seed 0]
      [--cls_images_per_class 100] [--cls_val_per_class 20]
      [--det_train_images 500] [--det_val_images 100] [--overwrite]
  backbone-reuse-make-dataset --output_dir /tmp/large --large_upstream_set
      [--cls_images_per_class 80] [--cls_val_per_class 10]
(or `python -m data_tools.make_procedural_dataset ...`); the second makes
the large upstream set (the world's "JFT") alone.
"""

# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import json
import os
import sys
import time
from typing import Optional, Sequence

import numpy as np

from official_projects_backbone_reuse.data_tools import procedural
from official_projects_backbone_reuse.data_tools import procedural_layout as layout
from official_projects_backbone_reuse.data_tools import voc_layout as voc_layout_lib
from official_projects_backbone_reuse.data_tools.cli import DataError
from official_projects_backbone_reuse.data_tools.cli import command_parser
from official_projects_backbone_reuse.data_tools.cli import run_main
from official_projects_backbone_reuse.common.files import atomic_directory
from official_projects_backbone_reuse.data_tools.io_utils import Progress
from official_projects_backbone_reuse.data_tools.io_utils import check_output_dir

CLASSIFICATION_IMAGE_SIZE = 64


def _write_bytes(path: str, content: bytes) -> None:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'wb') as f:
    f.write(content)


def _write_json(path: str, content: dict) -> None:
  _write_bytes(path, json.dumps(content, indent=1).encode('utf8'))


def _write_classification(root: str, seed: int, per_class: dict,
                          progress: Progress, done: int,
                          classes=procedural.CLASSES, codes='cls') -> int:
  for split, count in per_class.items():
    code = layout.SPLIT_CODES[f'{codes}_{split}']
    for class_index, object_class in enumerate(classes):
      for n in range(count):
        rng = np.random.default_rng([seed, code, class_index, n])
        image = procedural.classification_image(rng, object_class,
                                                CLASSIFICATION_IMAGE_SIZE)
        _write_bytes(
            os.path.join(root, 'classification', split, object_class.name,
                         f'{n:04d}.jpg'), procedural.encode_jpeg(image))
        done += 1
        progress.update(done)
  return done


def _write_detection_images(root: str, seed: int, split: str,
                            plans: Sequence[layout.ImagePlan],
                            progress: Progress, done: int) -> int:
  code = layout.SPLIT_CODES[split]
  for plan in plans:
    rng = np.random.default_rng([seed, code, plan.index, 1])
    objects = [(procedural.CLASSES[o.class_index], o.placement)
               for o in plan.objects]
    image = procedural.render(rng, plan.height, plan.width, objects)
    _write_bytes(
        os.path.join(root, 'detection', split, 'images', plan.file_name),
        procedural.encode_jpeg(image))
    done += 1
    progress.update(done)
  return done


def _check_count(name: str, value: int, minimum: int) -> None:
  if value < minimum:
    raise DataError(f'{name}: expected an integer >= {minimum}, found {value}')


def make_dataset(output_dir: str,
                 seed: int = 0,
                 cls_images_per_class: int = 100,
                 cls_val_per_class: int = 20,
                 det_train_images: int = 500,
                 det_val_images: int = 100,
                 long_tail_ratio: float = 150.0,
                 min_object_size: float = layout.OBJECT_SIZE_RANGE[0],
                 overwrite: bool = False,
                 progress_stream=None,
                 voc_layout: bool = False) -> dict:
  """Writes the procedural world into `output_dir`; returns its summary.

  Args:
    output_dir: destination folder; must be new or empty unless `overwrite`.
    seed: everything (layout, classes, pixels) follows from it.
    cls_images_per_class: classification train images per class.
    cls_val_per_class: classification val images per class.
    det_train_images: detection train images.
    det_val_images: detection val images.
    long_tail_ratio: draw probability of the most common class over that of
      the rarest class (> 1 gives a long tail; 1 gives a balanced set).
    min_object_size: the smallest side of a detection object drawn, in
      pixels (sizes are log-uniform up to the largest, 120; a packed image
      may still shrink one to fit): larger makes an easier set.
    overwrite: replace a non-empty `output_dir`.
    progress_stream: where the progress counter goes (default stderr).
    voc_layout: also write the detection splits in Pascal VOC's layout,
      `voc/VOC2007` with `trainval` (train) and `test` (val), for
      `backbone-reuse-convert-voc` (`voc_layout.write_voc_layout`).

  Returns:
    The content of `dataset.json`: seed, classes, counts per split, per-class
    train image/annotation counts and LVIS frequency groups.
  """
  for name, value, minimum in (
      ('seed', seed, 0),
      ('cls_images_per_class', cls_images_per_class, 1),
      ('cls_val_per_class', cls_val_per_class, 0),
      ('det_train_images', det_train_images, 1),
      ('det_val_images', det_val_images, 0)):
    _check_count(name, value, minimum)
  if not 1 <= long_tail_ratio < float('inf'):
    raise DataError(f'long_tail_ratio: expected a finite number >= 1, found '
                    f'{long_tail_ratio}')
  largest = layout.OBJECT_SIZE_RANGE[1]
  if not 4 <= min_object_size <= largest:
    raise DataError(f'min_object_size: expected a size in pixels from 4 to '
                    f'{largest:g}, found {min_object_size}')
  start = time.time()
  plans = {split: layout.plan_detection_split(seed, split, count,
                                              long_tail_ratio,
                                              min_object_size)
           for split, count in (('train', det_train_images),
                                ('val', det_val_images))}
  train_statistics = layout.detection_statistics(plans['train'])
  categories = layout.categories_json(train_statistics)
  annotations = {split: layout.annotation_json(split, plans[split], categories)
                 for split in plans}
  num_classes = len(procedural.CLASSES)
  total = (num_classes * (cls_images_per_class + cls_val_per_class) +
           det_train_images + det_val_images)
  progress = Progress('making dataset', total, progress_stream)
  summary = {
      'seed': seed,
      'long_tail_ratio': long_tail_ratio,
      'min_object_size': min_object_size,
      'class_names': [c.name for c in procedural.CLASSES],
      'num_classes': num_classes,
      'classification': {'train': cls_images_per_class * num_classes,
                         'val': cls_val_per_class * num_classes,
                         'image_size': CLASSIFICATION_IMAGE_SIZE},
      'detection': {split: {'images': len(content['images']),
                            'annotations': len(content['annotations'])}
                    for split, content in annotations.items()},
      'train_classes': [
          {'id': c['id'], 'name': c['name'], 'image_count': c['image_count'],
           'annotation_count': c['instance_count'],
           'frequency': c['frequency']} for c in categories],
      'frequency_groups': {
          group: [c['name'] for c in categories if c['frequency'] == group]
          for group in ('r', 'c', 'f')},
  }
  try:
    check_output_dir(output_dir, overwrite)
    with atomic_directory(output_dir) as root:
      done = _write_classification(
          root, seed, {'train': cls_images_per_class,
                       'val': cls_val_per_class}, progress, 0)
      for split in ('train', 'val'):
        os.makedirs(os.path.join(root, 'detection', split, 'images'))
        done = _write_detection_images(root, seed, split, plans[split],
                                       progress, done)
        _write_json(os.path.join(root, 'detection', 'annotations',
                                 f'{split}.json'), annotations[split])
        if voc_layout:
          voc_layout_lib.write_voc_layout(
              os.path.join(root, 'detection', 'annotations', f'{split}.json'),
              os.path.join(root, 'detection', split, 'images'),
              os.path.join(root, 'voc', 'VOC2007'),
              'trainval' if split == 'train' else 'test')
      _write_json(os.path.join(root, 'dataset.json'), summary)
  finally:
    progress.close()
  summary['seconds'] = round(time.time() - start, 2)
  return summary


def make_large_upstream_set(output_dir: str, seed: int = 0,
                            cls_images_per_class: int = 80,
                            cls_val_per_class: int = 10,
                            overwrite: bool = False,
                            progress_stream=None) -> dict:
  """Writes the large upstream classification set (the world's "JFT").

  `classification/{train,val}/<class>/<n>.jpg` of the 240 classes of
  `procedural.LARGE_CLASSES`, and `dataset.json`; returns its summary.
  At the defaults, 19,200 train images: 38x the detection set's 500."""
  _check_count('seed', seed, 0)
  _check_count('cls_images_per_class', cls_images_per_class, 1)
  _check_count('cls_val_per_class', cls_val_per_class, 0)
  start = time.time()
  classes = procedural.LARGE_CLASSES
  summary = {
      'seed': seed,
      'class_names': [c.name for c in classes],
      'num_classes': len(classes),
      'classification': {'train': cls_images_per_class * len(classes),
                         'val': cls_val_per_class * len(classes),
                         'image_size': CLASSIFICATION_IMAGE_SIZE}}
  progress = Progress('making the large upstream set',
                      len(classes) * (cls_images_per_class + cls_val_per_class),
                      progress_stream)
  try:
    check_output_dir(output_dir, overwrite)
    with atomic_directory(output_dir) as root:
      _write_classification(root, seed, {'train': cls_images_per_class,
                                         'val': cls_val_per_class}, progress, 0,
                            classes, codes='large_cls')
      _write_json(os.path.join(root, 'dataset.json'), summary)
  finally:
    progress.close()
  summary['seconds'] = round(time.time() - start, 2)
  return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Command line entry point; returns the exit status."""
  parser = command_parser(
      'backbone-reuse-make-dataset', 'Make the procedural classification + '
      'long-tailed detection world (COCO and LVIS v1 JSON).')
  # Defaults are make_dataset's (or make_large_upstream_set's): a flag not
  # given is not passed.
  parser.add_argument('--output_dir', required=True)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--cls_images_per_class', type=int,
                      help='(default 100; 80 with --large_upstream_set)')
  parser.add_argument('--cls_val_per_class', type=int,
                      help='(default 20; 10 with --large_upstream_set)')
  parser.add_argument('--det_train_images', type=int, help='(default 500)')
  parser.add_argument('--det_val_images', type=int, help='(default 100)')
  parser.add_argument('--long_tail_ratio', type=float, help='(default 150)')
  parser.add_argument('--min_object_size', type=float,
                      help='smallest side of a detection object in pixels '
                      '(sizes are log-uniform up to 120; default '
                      f'{layout.OBJECT_SIZE_RANGE[0]:g})')
  parser.add_argument('--overwrite', action='store_true')
  parser.add_argument('--voc_layout', action='store_true', default=None,
                      help='also write the detection splits in Pascal VOC '
                      'layout under voc/VOC2007 (trainval, test)')
  parser.add_argument('--large_upstream_set', action='store_true',
                      help='write the large upstream classification set '
                      '(the world\'s "JFT": 240 finer classes, the 24 among '
                      'them) instead of the world')
  args = parser.parse_args(argv)
  given = {k: v for k, v in vars(args).items() if v is not None}

  def _run() -> dict:
    if given.pop('large_upstream_set'):
      return _large_upstream_set(given)
    summary = make_dataset(**given)
    groups = {k: len(v) for k, v in summary['frequency_groups'].items()}
    return {'output_dir': os.path.abspath(args.output_dir),
            'classification': summary['classification'],
            'detection': summary['detection'],
            'frequency_groups': groups,
            'seconds': summary['seconds']}

  return run_main(_run)


def _large_upstream_set(given: dict) -> dict:
  """make_large_upstream_set from the command's flags; its summary."""
  for flag in ('det_train_images', 'det_val_images', 'long_tail_ratio',
               'min_object_size', 'voc_layout'):
    if flag in given:
      raise DataError(f'--{flag}: does not apply with --large_upstream_set '
                      '(a classification set only)')
  summary = make_large_upstream_set(**given)
  return {'output_dir': os.path.abspath(given['output_dir']),
          'classification': summary['classification'],
          'num_classes': summary['num_classes'],
          'seconds': summary['seconds']}


if __name__ == '__main__':
  sys.exit(main())
