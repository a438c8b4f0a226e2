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

"""A study checks every cell before the first runs, refuses to start itself
again, and names the cell and file of a damaged output."""
import os

import pytest
import yaml

from official_projects_backbone_reuse.jobs import steps
from official_projects_backbone_reuse.study import runner
from official_projects_backbone_reuse.study import spec


def _study(tmp_path, tiny_world, upstreams, row=None):
  row = row or {'name': 'small', 'experiment': 'backbone_reuse_retinanet',
                'config_files': ['small/retinanet_frozen.yaml'],
                'params_override': 'task.model.backbone.resnet.model_id=10'}
  path = tmp_path / 'study.yaml'
  path.write_text(yaml.safe_dump({
      'rows': [row], 'initialisations': ['finetune', 'frozen'],
      'upstreams': upstreams, 'seeds': [0, 1],
      'params_override': (
          f'task.train_data.input_path={tiny_world.det_train_pattern},'
          f'task.validation_data.input_path={tiny_world.det_val_pattern},'
          f'task.annotation_file={tiny_world.det_val_json}')}))
  return str(path)


@pytest.mark.parametrize('case', ['unknown experiment', 'missing upstream'])
def test_a_bad_cell_stops_the_study_before_any_cell_runs(
    case, tmp_path, tiny_world, upstream, monkeypatch, capsys):
  row = ({'name': 'small', 'experiment': 'backbone_reuse_retinanet_typo'}
         if case == 'unknown experiment' else None)
  study = _study(tmp_path, tiny_world,
                 {'imagenet': upstream, 'jft': str(tmp_path / 'no_ckpt')},
                 row)
  done = []  # what ran: the world, the before commands, cells
  monkeypatch.setattr(runner, 'prepare', lambda s: done.append('world'))
  monkeypatch.setattr(steps, 'run_logged', lambda *a: done.append(a))
  workdir = tmp_path / 'w'
  assert runner.main(['run', study, f'--workdir={workdir}']) == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and err.startswith('error: cell small | '), err
  if case == 'unknown experiment':
    assert "'backbone_reuse_retinanet_typo'" in err
    assert done == []  # found before the world is made
  else:  # found once the world and before commands made theirs
    assert f"'{tmp_path}/no_ckpt': no such checkpoint" in err
    assert done == ['world']
  assert not os.path.exists(workdir / 'table1.md')


def test_a_study_its_own_before_command_starts_again_is_refused(
    tmp_path, tiny_world, monkeypatch, capsys):
  study = _study(tmp_path, tiny_world, {'imagenet': '/c'})
  # As the child a `before` command started would find it.
  monkeypatch.setenv('BACKBONE_REUSE_STUDIES_RUNNING', os.path.realpath(study))
  assert runner.main(['run', study, f'--workdir={tmp_path}/w']) == 2
  assert capsys.readouterr().err == (
      f'error: {study}: this study is already running, and one of its '
      '`before` commands starts it again; it would never end.\n')


@pytest.mark.parametrize('content, said', [
    ('{"AP": 0.3', 'cannot be read as JSON (Expecting'),
    ('[0.3]', 'holds a list, not a JSON object')])
def test_collect_names_the_cell_of_a_damaged_metrics_file(
    tmp_path, tiny_world, capsys, content, said):
  study = _study(tmp_path, tiny_world, {'imagenet': '/c'})
  cell = spec.load(study).cells()[1]
  path = os.path.join(cell.model_dir(str(tmp_path / 'w')), 'metrics.json')
  os.makedirs(os.path.dirname(path))
  with open(path, 'w') as f:
    f.write(content)
  assert runner.main(['collect', study, f'--workdir={tmp_path}/w']) == 2
  err = capsys.readouterr().err
  assert err.startswith(f'error: cell {cell.name}: {path} {said}'), err
  assert err.endswith('remove it to run the cell again.\n')


def test_a_shipped_study_is_found_by_its_name(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)  # not beside experiments/
  study = spec.load('small_capacity')
  assert study.path.endswith('experiments/studies/small_capacity.yaml')
  assert 'small_box_pretraining' in spec.shipped()
  with pytest.raises(spec.ConfigError) as e:
    spec.load('small_capasity')
  assert str(e.value) == (
      'small_capasity: cannot read the study: No such file or directory (the '
      f'studies shipped: {", ".join(spec.shipped())}).')


def test_a_column_trained_unlike_the_others_says_why(tmp_path, tiny_world,
                                                     capsys):
  from official_projects_backbone_reuse.study import tables
  path = tmp_path / 'study.yaml'
  path.write_text(yaml.safe_dump({
      'rows': [{'name': 'small', 'experiment': 'no_such_experiment'}],
      'initialisations': ['scratch', 'frozen'], 'upstreams': {'in': '/c'},
      'initialisation_overrides': {'scratch': {
          'params_override': 'trainer.train_steps=9',
          'reason': 'a random\n backbone needs longer'}}}))
  study = spec.load(str(path))
  why = 'scratch (trainer.train_steps=9): a random backbone needs longer'
  assert tables.table1_markdown(study, {}).endswith(
      '\n\nColumns trained unlike the others (compare them with that in '
      f'mind):\n- {why}\n')
  # `run` says so first (here before the bad row stops it).
  assert runner.main(['run', str(path), f'--workdir={tmp_path}/w']) == 2
  err = capsys.readouterr().err.splitlines()
  assert err[0] == f'warning: a column trains unlike the others: {why}'
