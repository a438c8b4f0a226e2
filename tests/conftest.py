"""Shared pytest fixtures: `tiny_world`, a small procedural world on disk.

`tiny_default_job` (session scope) runs the default job at a tiny scale.

`tiny_world` (session scope) makes the procedural dataset at a small size
(24 classes, 6 + 2 classification images per class, 24 + 8 detection
images), converts it to Model Garden TFRecords with the project's own
converters, and returns the paths. Tests that train tiny detectors or
classifiers use it as `input_path` and as the COCO/LVIS ground truth.

Classification labels follow the detection categories: label = category id
- 1 (class_names are passed in category order).
"""

import contextlib
import dataclasses
import io
import os

import pytest

NUM_CLASSES = 24


@dataclasses.dataclass(frozen=True)
class TinyWorld:
  """Paths of the tiny world; `*_pattern` are globs for `input_path`."""
  root: str
  det_train_pattern: str
  det_val_pattern: str
  det_train_json: str
  det_val_json: str
  cls_train_pattern: str
  cls_val_pattern: str
  cls_labels_file: str
  class_names: tuple
  num_classes: int
  summary: dict


@pytest.fixture(scope='session')
def tiny_world(tmp_path_factory) -> TinyWorld:
  from data_tools.convert_classification import convert_classification
  from data_tools.convert_detection import convert_detection
  from data_tools.make_procedural_dataset import make_dataset

  base = tmp_path_factory.mktemp('tiny_world')
  root = str(base / 'world')
  quiet = io.StringIO()
  summary = make_dataset(root, seed=0, cls_images_per_class=6,
                         cls_val_per_class=2, det_train_images=24,
                         det_val_images=8, progress_stream=quiet)
  records = str(base / 'tfrecords')
  annotations = os.path.join(root, 'detection', 'annotations')
  for split in ('train', 'val'):
    convert_detection(os.path.join(annotations, f'{split}.json'),
                      os.path.join(root, 'detection', split, 'images'),
                      os.path.join(records, f'det_{split}'), num_shards=2,
                      progress_stream=quiet)
    convert_classification(os.path.join(root, 'classification', split),
                           os.path.join(records, f'cls_{split}'),
                           num_shards=2, class_names=summary['class_names'],
                           progress_stream=quiet)
  return TinyWorld(
      root=root,
      det_train_pattern=os.path.join(records, 'det_train-*.tfrecord'),
      det_val_pattern=os.path.join(records, 'det_val-*.tfrecord'),
      det_train_json=os.path.join(annotations, 'train.json'),
      det_val_json=os.path.join(annotations, 'val.json'),
      cls_train_pattern=os.path.join(records, 'cls_train-*.tfrecord'),
      cls_val_pattern=os.path.join(records, 'cls_val-*.tfrecord'),
      cls_labels_file=os.path.join(records, 'cls_train-labels.txt'),
      class_names=tuple(summary['class_names']),
      num_classes=NUM_CLASSES,
      summary=summary)


# The default job at the smallest scale that runs every step.
TINY_JOB = ['--cls_images_per_class=4', '--cls_val_per_class=2',
            '--det_train_images=16', '--det_val_images=6',
            '--upstream_steps=4', '--detector_steps=4']


@pytest.fixture(scope='session')
def tiny_default_job(tmp_path_factory):
  """(workdir, exit status, stdout) of the tiny default job; the LVIS job
  test reuses its world and upstream classifier, as users do."""
  from official_projects_backbone_reuse import default_job
  workdir = tmp_path_factory.mktemp('default_job') / 'job'
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    code = default_job.main([f'--workdir={workdir}'] + TINY_JOB)
  return workdir, code, out.getvalue()
