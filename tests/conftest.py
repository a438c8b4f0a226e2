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

"""Shared pytest fixtures (session scope): each is made once per run.

`installed_package` builds the project's wheel and installs it, without
dependencies (they are this venv's), into a folder of its own, as
`pip install .` would; `tiny_default_job` runs the default job at a tiny
scale from that install, in another working directory, as a user would.
`upstream_checkpoint` (and `upstream`, its directory) is a small
classification checkpoint written the way Model Garden's trainer writes one.

`tiny_world` (session scope) makes the procedural dataset at a small size
(24 classes, 6 + 2 classification images per class, 24 + 8 detection
images), converts it to Model Garden TFRecords with the project's own
converters, and returns the paths. Tests that train tiny detectors or
classifiers use it as `input_path` and as the COCO/LVIS ground truth.

Classification labels follow the detection categories: label = category id
- 1 (class_names are passed in category order).
"""

# First, before TensorFlow: the tests run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import dataclasses
import io
import os
import shutil
import subprocess
import sys
from typing import NamedTuple

import pytest

from tests import reuse_helpers as h
from tests import runtime_helpers as rh

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
  from official_projects_backbone_reuse.data_tools.convert_classification import convert_classification
  from official_projects_backbone_reuse.data_tools.convert_detection import convert_detection
  from official_projects_backbone_reuse.data_tools.make_procedural_dataset import make_dataset

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


@dataclasses.dataclass(frozen=True)
class InstalledPackage:
  """Where the wheel went: put `site` on PYTHONPATH, run commands of `bin`."""
  site: str
  bin: str


def _pip(*args):
  subprocess.run([sys.executable, '-m', 'pip', '-q', *args], check=True,
                 capture_output=True, text=True, timeout=600)


@pytest.fixture(scope='session')
def installed_package(tmp_path_factory) -> InstalledPackage:
  root = tmp_path_factory.mktemp('installed')
  source, wheels, site = root / 'source', root / 'wheel', str(root / 'site')
  # Built from a copy: setuptools leaves build/ behind in the tree it builds.
  shutil.copytree(h.REPO, source, ignore=shutil.ignore_patterns(
      '.git', '.venv', 'build', 'runs', '*.egg-info', '__pycache__'))
  _pip('wheel', '--no-deps', '-w', str(wheels), str(source))
  (wheel,) = wheels.iterdir()
  _pip('install', '--no-deps', '--target', site, str(wheel))
  return InstalledPackage(site=site, bin=os.path.join(site, 'bin'))


@pytest.fixture(scope='session')
def tiny_default_job(installed_package, tmp_path_factory):
  """(workdir, exit status, stdout) of the tiny default job, run by the
  installed `backbone-reuse-demo` in an empty working directory; the LVIS
  job test reuses its world and upstream classifier, as users do."""
  _made_once_per_run(tmp_path_factory, 'tiny_default_job')
  elsewhere = tmp_path_factory.mktemp('elsewhere')
  workdir = tmp_path_factory.mktemp('default_job') / 'job'
  proc = rh.run([os.path.join(installed_package.bin, 'backbone-reuse-demo'),
                 f'--workdir={workdir}'] + TINY_JOB, timeout=1200,
                cwd=elsewhere, PYTHONPATH=installed_package.site)
  return workdir, proc.returncode, proc.stdout + proc.stderr


class Upstream(NamedTuple):
  """A classification checkpoint: its directory (params.yaml beside it),
  its prefix, and the classifier it was saved from."""
  directory: str
  prefix: str
  classifier: object


@pytest.fixture(scope='session')
def upstream_checkpoint(tmp_path_factory) -> Upstream:
  """A ResNet-10 classifier saved the way Model Garden's trainer saves one,
  weights and batch-norm statistics moved away from their initial values."""
  directory = str(tmp_path_factory.mktemp('upstream'))
  prefix, classifier = h.make_upstream_checkpoint(directory)
  return Upstream(directory, prefix, classifier)


@pytest.fixture(scope='session')
def upstream(upstream_checkpoint) -> str:
  """The directory of `upstream_checkpoint`."""
  return upstream_checkpoint.directory


# Tests run in two processes (pytest-xdist, setup.cfg). Session fixtures are
# made once per process, so the tests of the costly ones share a process.
_SHARED_PROCESS = ('tiny_default_job', 'installed_package')
# Modules whose module-scoped fixture takes a minute or more: their tests
# share a process too, or each process makes it (test_resources: 100 s).
_ONE_PROCESS_MODULES = ('test_resources', 'test_export')


def _made_once_per_run(tmp_path_factory, name):
  """Fails if another xdist worker of this run has made fixture `name`:
  the grouping below did not hold, and the run pays for it twice (pytest
  9.2 silently broke pytest-xdist 3.8's loadgroup)."""
  root = tmp_path_factory.getbasetemp()
  if os.environ.get('PYTEST_XDIST_WORKER'):
    root = root.parent  # shared by the run's workers
  marker = root / f'{name}.made'
  try:
    marker.touch(exist_ok=False)
  except FileExistsError:
    pytest.fail(f'{name} was made by two test processes: the xdist_group '
                'of tests/conftest.py was not honoured')


# Before pytest-xdist's own hook, which reads the groups.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
  for item in items:
    if any(f in item.fixturenames for f in _SHARED_PROCESS):
      item.add_marker(pytest.mark.xdist_group('default_job'))
    elif item.module.__name__.rpartition('.')[2] in _ONE_PROCESS_MODULES:
      item.add_marker(pytest.mark.xdist_group(item.module.__name__))
