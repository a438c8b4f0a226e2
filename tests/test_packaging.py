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

"""The package works when installed, not only from its source tree: the
wheel carries every subpackage, the YAML experiments and the data tools, and
its commands find them from any working directory."""
import configparser
import os
import sys

import pytest

from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import recipes
from tests import reuse_helpers as h
from tests import runtime_helpers as rh

_PACKAGE = 'official_projects_backbone_reuse'


def _setup_cfg():
  config = configparser.ConfigParser()
  config.read(os.path.join(h.REPO, 'setup.cfg'))
  return config


def test_setup_cfg_lists_every_package_of_the_tree():
  options = _setup_cfg()['options']
  listed = set(options['packages'].split())
  mapped = dict(line.split(' = ') for line in
                options['package_dir'].strip().splitlines())
  in_tree = {_PACKAGE + root[len(os.path.join(h.REPO, _PACKAGE)):].replace(
      os.sep, '.') for root, _, names in os.walk(os.path.join(h.REPO, _PACKAGE))
             if '__init__.py' in names}
  assert mapped == {f'{_PACKAGE}.experiments': 'experiments',
                    f'{_PACKAGE}.data_tools': 'data_tools'}
  assert listed == in_tree | set(mapped)


def test_test_only_dependencies_are_an_extra():
  options = _setup_cfg()['options']
  runtime = options['install_requires']
  assert 'pytest' not in runtime and 'lvis' not in runtime
  test = _setup_cfg()['options.extras_require']['test']
  assert 'pytest==' in test and 'lvis==' in test


def test_missing_experiments_are_a_clear_error(monkeypatch):
  monkeypatch.setattr(recipes, '_PACKAGE', f'{_PACKAGE}.no_experiments')
  with pytest.raises(ConfigError, match='experiments folder .* is not '
                                        'installed'):
    recipes.load_recipes()


@pytest.mark.slow
def test_the_jobs_do_not_import_model_garden_vision():
  # They only launch commands; registering everything would cost seconds.
  _, imported = rh.modules_imported(
      f'from {_PACKAGE}.jobs import default_job, lvis_job',
      ('official.vision', 'official_projects_backbone_reuse.registry_imports'))
  assert imported == []


@pytest.mark.slow
def test_installed_commands_work_from_another_directory(installed_package,
                                                        tmp_path):
  env = {'PYTHONPATH': installed_package.site}
  where = rh.run([sys.executable, '-c', f'import {_PACKAGE}.data_tools as d; '
                  'print(d.__file__)'], cwd=tmp_path, **env)
  assert where.stdout.startswith(installed_package.site), where.stderr
  listing = rh.run([os.path.join(installed_package.bin,
                                 'backbone-reuse-report'), '--list'],
                   cwd=tmp_path, **env)
  assert listing.returncode == 0, listing.stderr[-2000:]
  rows = [l for l in listing.stdout.splitlines() if l.startswith('| `')]
  assert len(rows) == len(recipes.load_recipes()) > 30
  # A shipped study by its name, read from the installed package.
  study = rh.run([os.path.join(installed_package.bin, 'backbone-reuse-study'),
                  'run', 'small_capacity', f'--workdir={tmp_path}/w',
                  '--print_commands'], cwd=tmp_path, **env)
  assert study.returncode == 0, study.stderr[-2000:]
  assert f'{installed_package.site}/{_PACKAGE}/experiments/studies/' \
         'small_capacity.yaml' in study.stderr
  assert study.stdout.count('backbone-reuse-train ') > 10
  # A paper table's study reads the paper's numbers the wheel carries.
  table1 = rh.run([os.path.join(installed_package.bin, 'backbone-reuse-study'),
                   'run', 'table1', f'--workdir={tmp_path}/t',
                   '--print_commands'], cwd=tmp_path, **env)
  assert table1.returncode == 0, table1.stderr[-2000:]
  assert len(table1.stdout.splitlines()) == 20
  assert os.listdir(tmp_path) == []
