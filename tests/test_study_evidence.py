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

"""What a study shows beside its numbers: whether its schedule is near
convergence (a schedule check), how strong each upstream is, and the
frozen-minus-fine-tuned gap against capacity."""
import json

import pytest
import yaml

from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.modeling import parameters
from official_projects_backbone_reuse.study import runner
from official_projects_backbone_reuse.study import spec
from official_projects_backbone_reuse.study import tables

CHECK = {'row': 'small', 'column': 'in/finetune', 'seed': 0,
         'params_override': 'trainer.train_steps=20'}


def _load(tmp_path, **changes):
  study = {
      'rows': [{'name': 'small', 'experiment': 'backbone_reuse_retinanet',
                'config_files': ['small/retinanet_frozen.yaml'],
                'params_override': 'trainer.train_steps=10'},
               {'name': 'large', 'experiment': 'backbone_reuse_retinanet',
                'config_files': ['small/retinanet_frozen.yaml']}],
      'initialisations': ['scratch', 'finetune', 'frozen'],
      'upstreams': {'in': str(tmp_path / 'up')}, 'seeds': [0, 1, 2],
      'schedule_check': CHECK}
  study.update(changes)
  path = tmp_path / 'study.yaml'
  path.write_text(yaml.safe_dump(study))
  return spec.load(str(path))


def test_the_schedule_check_is_one_more_cell_with_its_overrides(tmp_path):
  study = _load(tmp_path)
  *grid, check = study.cells()
  assert len(grid) == 2 * 3 * 3
  assert (check.row.name, check.column, check.seed) == (
      'small schedule check', 'in/finetune', 0)
  command = study.command(check, str(tmp_path / 'w'))
  assert f'--model_dir={tmp_path}/w/cells/small_schedule_check/in_finetune/' \
         'seed0' in command
  # The row's overrides, then the check's: the longer schedule wins.
  assert command[-1].startswith('--params_override=trainer.train_steps=10,'
                                'trainer.train_steps=20,')


@pytest.mark.parametrize('check, said', [
    ({**CHECK, 'row': 'medium'},
     "schedule_check.row: 'medium' is not a row of the study (small, large)"),
    ({**CHECK, 'column': 'in/parallel'},
     "schedule_check.column: 'in/parallel' is not a column of row 'small' "
     '(scratch, in/finetune, in/frozen)'),
    ({**CHECK, 'seed': 7}, 'schedule_check.seed: 7 is not a seed'),
    ({**CHECK, 'params_override': ''},
     'schedule_check.params_override: expected the longer schedule'),
    ({'row': 'small'}, 'schedule_check: expected {row, column, seed, '
     'params_override}'),
])
def test_a_bad_schedule_check_names_its_key(tmp_path, check, said):
  with pytest.raises(ConfigError) as raised:
    _load(tmp_path, schedule_check=check)
  assert f'study.yaml: {said}' in str(raised.value)


def test_a_row_may_train_only_some_of_the_initialisations(tmp_path):
  """Scratch as one row's reference: the other rows' scratch cells are
  not trained, and the table shows them as '-'."""
  study = _load(tmp_path, rows=[
      {'name': 'small', 'experiment': 'backbone_reuse_retinanet',
       'config_files': ['small/retinanet_frozen.yaml']},
      {'name': 'large', 'experiment': 'backbone_reuse_retinanet',
       'config_files': ['small/retinanet_frozen.yaml'],
       'initialisations': ['frozen', 'finetune']}])
  *cells, _ = study.cells()
  assert len(cells) == (3 + 2) * 3
  assert {c.column for c in cells if c.row.name == 'large'} == {
      'in/finetune', 'in/frozen'}
  metrics = {c: {'AP': 0.3, 'AP50': 0.5} for c in study.cells()}
  table = tables.table1_markdown(study, tables.results(metrics))
  assert '| large | - | 30.0/50.0 ±0.0 | 30.0/50.0 ±0.0 (+0.0) | 3 |' in (
      table)


@pytest.mark.parametrize('value, said', [
    (['frozen', 'parallel'], "['frozen', 'parallel']: expected a list of "
     "some of the study's initialisations (scratch, finetune, frozen)"),
    ([], '[]: expected a list'),
    ('frozen', "'frozen': expected a list"),
])
def test_a_bad_row_initialisations_names_its_key(tmp_path, value, said):
  rows = [{'name': 'small', 'experiment': 'backbone_reuse_retinanet',
           'config_files': ['small/retinanet_frozen.yaml'],
           'initialisations': value}]
  with pytest.raises(ConfigError) as raised:
    _load(tmp_path, rows=rows)
  assert f'study.yaml: rows[0] (small).initialisations: {said}' in str(
      raised.value)


def test_the_schedule_check_is_a_cell_its_row_trains(tmp_path):
  rows = [{'name': 'small', 'experiment': 'backbone_reuse_retinanet',
           'config_files': ['small/retinanet_frozen.yaml'],
           'initialisations': ['frozen']}]
  with pytest.raises(ConfigError) as raised:
    _load(tmp_path, rows=rows)
  assert ("schedule_check.column: 'in/finetune' is not a column of row "
          "'small' (in/frozen)") in str(raised.value)


def _found(study, again_ap):
  metrics = {}
  for cell in study.cells():
    ap = {'scratch': 0.30, 'in/finetune': 0.40, 'in/frozen': 0.35}[
        cell.column] + {0: -0.01, 1: 0.0, 2: 0.01}[cell.seed]
    if cell == study.schedule_check.cell:
      ap = again_ap
    metrics[cell] = {'AP': ap, 'AP50': ap + 0.2}
  return tables.results(metrics)


@pytest.mark.parametrize('again_ap, verdict', [
    (0.415, 'mAP 41.5 against 40.0 ±1.0 over 3 seed(s) at the study\'s '
     'schedule (+1.5): within two standard deviations of the seeds'),
    (0.43, '(+3.0): beyond two standard deviations of the seeds: the '
     'study\'s schedule is short of convergence.'),
])
def test_table1_says_whether_the_schedule_is_near_convergence(
    tmp_path, again_ap, verdict):
  study = _load(tmp_path)
  text = tables.table1_markdown(study, _found(study, again_ap))
  line = text.splitlines()[-1]
  assert line.startswith('Schedule check (small in/finetune, seed 0, '
                         'trained again with trainer.train_steps=20): ')
  assert verdict in line
  # The check is not a row of the table.
  assert '| small schedule check' not in text
  metrics = {c: None for c in study.cells()}
  assert tables.table1_markdown(study, tables.results(metrics)).endswith(
      'trainer.train_steps=20): not run yet.\n')


def test_each_upstream_says_how_strong_it_is(tmp_path):
  up = tmp_path / 'up'
  up.mkdir()
  (up / 'metrics.json').write_text(json.dumps({'accuracy': 0.6825}))
  (up / 'params.yaml').write_text(yaml.safe_dump(
      {'task': {'model': {'num_classes': 24}}}))
  half = tmp_path / 'half'  # metrics.json but no params.yaml
  half.mkdir()
  (half / 'metrics.json').write_text(json.dumps({'accuracy': 0.5}))
  study = _load(tmp_path, upstreams={
      'in': str(up), 'jft': str(tmp_path / 'ckpt' / 'model.ckpt-10'),
      'half': str(half / 'ckpt-5')})
  quality = runner.upstream_quality(study, str(tmp_path / 'w'))
  assert quality['jft'] is None and quality['half'] is None
  text = tables.table1_markdown(study, {}, quality)
  lines = text.split('Upstream classifiers:\n')[1].splitlines()
  assert lines[:3] == [
      '- half: not known here (no metrics.json with accuracy beside the '
      'checkpoint)',
      f'- in: val top-1 0.682 over 24 classes ({up}/metrics.json)',
      '- jft: not known here (no metrics.json with accuracy beside the '
      'checkpoint)']


def test_the_freezing_plot_draws_the_gap_against_trained_parameters(
    tmp_path, monkeypatch):
  study = _load(tmp_path)
  found = _found(study, 0.40)
  counts = {'small': {'total': parameters.ParameterCount(9e6, 5e5)},
            'large': {'total': parameters.ParameterCount(15e6, 4e6)}}
  drawn = []
  real = tables.figure.Figure.add_subplot

  def recording(fig, *args, **kwargs):
    ax = real(fig, *args, **kwargs)
    plot = ax.errorbar
    ax.errorbar = lambda x, y, yerr, **kw: (drawn.append((x, y, yerr)),
                                             plot(x, y, yerr=yerr, **kw))[1]
    return ax
  monkeypatch.setattr(tables.figure.Figure, 'add_subplot', recording)
  assert tables.freezing_png(study, counts, found)[:4] == b'\x89PNG'
  (x, y, yerr), = drawn  # one column with a reference: in/frozen
  assert x == [0.5, 4.0]
  assert y == pytest.approx([-5.0, -5.0])
  assert yerr == pytest.approx([2 ** 0.5] * 2)  # hypot(1.0, 1.0)
