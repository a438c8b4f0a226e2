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

"""The study runner: study files, the commands of their cells and the
paper-shaped tables (running them: test_study_runs.py)."""
import csv
import glob
import io
import os

import pytest
import yaml

from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.modeling import parameters
from official_projects_backbone_reuse.study import runner
from official_projects_backbone_reuse.study import spec
from official_projects_backbone_reuse.study import tables
from tests import reuse_helpers as h
from tests import runtime_helpers as rh

RUNNER = 'official_projects_backbone_reuse.study.runner'


def _write(tmp_path, study, name='study.yaml'):
  path = tmp_path / name
  path.write_text(yaml.safe_dump(study))
  return str(path)


def _study(**changes):
  study = {
      'rows': [{'name': 'R101 FPN', 'recipe': 'faster_rcnn_r101_fpn_600ep',
                'paper': ['table1/r101_fpn', 'table3/r101_fpn']},
               {'name': 'small', 'experiment': 'backbone_reuse_retinanet',
                'config_files': ['small/retinanet_frozen.yaml'],
                'params_override': 'trainer.train_steps=3'}],
      'initialisations': ['scratch', 'finetune', 'frozen', 'parallel'],
      'upstreams': {'imagenet': '/ckpt/in', 'jft': '{workdir}/jft'},
      'seeds': [0, 1],
      'params_override': 'runtime.mixed_precision_dtype=bfloat16'}
  study.update(changes)
  return study


def test_a_study_is_a_grid_of_train_commands(tmp_path):
  study = spec.load(_write(tmp_path, _study()))
  assert study.columns == ['scratch', 'imagenet/finetune', 'imagenet/frozen',
                           'imagenet/parallel', 'jft/finetune', 'jft/frozen',
                           'jft/parallel']
  cells = study.cells()
  assert len(cells) == 2 * 7 * 2
  assert [c.seed for c in cells[:14]] == [0] * 14  # every cell once first
  frozen = next(c for c in cells if c.row.name == 'small' and
                c.column == 'jft/parallel' and c.seed == 1)
  command = study.command(frozen, str(tmp_path / 'w'))
  files = [a.split('=', 1)[1] for a in command if a.startswith('--config_')]
  assert [os.path.relpath(f, h.REPO) for f in files] == [
      'experiments/small/retinanet_frozen.yaml', 'experiments/init/freeze.yaml',
      'experiments/adapters/parallel.yaml']
  assert '--experiment=backbone_reuse_retinanet' in command
  assert '--mode=train_and_eval' in command
  assert f'--model_dir={tmp_path}/w/cells/small/jft_parallel/seed1' in command
  assert command[-1] == (
      '--params_override=runtime.mixed_precision_dtype=bfloat16,'
      f'trainer.train_steps=3,task.init_checkpoint={tmp_path}/w/jft,'
      'task.train_data.seed=1')
  scratch = next(c for c in cells if c.column == 'scratch')
  command = study.command(scratch, 'w')
  assert 'init_checkpoint' not in command[-1]
  assert command[-4].endswith('experiments/init/scratch.yaml')
  assert command[-5].endswith('init/freeze.yaml')  # the recipe's own
  assert study.shell_command(scratch, 'w').startswith(
      'backbone-reuse-train --experiment=backbone_reuse_fasterrcnn ')


def test_a_column_takes_parts_from_another_run(tmp_path):
  """frozen+box: the upstream's backbone, frozen, and decoder and head from
  box-domain pre-training, compared with the same from random init."""
  study = spec.load(_write(tmp_path, _study(
      rows=[_study()['rows'][1]], initialisations=['frozen', 'frozen+box'],
      part_sources={'box': {'checkpoint': '{workdir}/pretrain',
                            'modules': ['decoder', 'head']}},
      upstreams={'imagenet': '/ckpt/in'}, seeds=[0])))
  assert study.columns == ['imagenet/frozen', 'imagenet/frozen+box']
  cell = study.cells()[1]
  assert cell.column == 'imagenet/frozen+box'
  workdir = str(tmp_path / 'w')
  command = study.command(cell, workdir)
  files = [a.split('=', 1)[1] for a in command if a.startswith('--config_')]
  overlay = f'{workdir}/overlays/imagenet_frozen+box.yaml'
  assert files[-2:] == [os.path.join(h.REPO, 'experiments', 'init',
                                     'freeze.yaml'), overlay]
  assert 'init_checkpoint' not in command[-1]
  params = loading.load_experiment(cell.row.experiment, files,
                                   command[-1].split('=', 1)[1])
  assert [e.as_dict() | {'skip': None} for e in
          params.task.init_checkpoints] == [
      {'checkpoint': '/ckpt/in', 'modules': ['backbone'], 'frozen': None,
       'skip': None, 'skip_label_space': True, 'reinit_novel_classes': False},
      {'checkpoint': f'{workdir}/pretrain', 'modules': ['decoder', 'head'],
       'frozen': False, 'skip': None, 'skip_label_space': True,
       'reinit_novel_classes': False}]
  assert params.task.freeze_backbone and not params.task.init_checkpoint
  assert tables.reference('imagenet/frozen+box') == 'imagenet/frozen'


@pytest.mark.parametrize('change, said', [
    ({'seeds': [0, 0]}, 'seeds: [0, 0]: expected a list of distinct'),
    ({'initialisations': ['frozen', 'warm']},
     "initialisations: 'warm' is not one of scratch, finetune, frozen"),
    ({'upstreams': {}}, 'upstreams: the initialisations other than scratch'),
    ({'params_override': 'task.init_checkpoint=/x'},
     'params_override: task.init_checkpoint is set by the study'),
    ({'rows': [{'name': 'a', 'recipe': 'no_such_recipe'}]},
     "rows[0] (a).recipe: 'no_such_recipe' is not a recipe"),
    ({'rows': [{'name': 'a', 'experiment': 'x', 'config_files': ['no.yaml']}]},
     'no.yaml: no such file'),
    ({'rows': [{'name': 'a', 'recipe': 'retinanet_r101_fpn_72ep',
                'paper': 'table13/r101_fnp'}]},
     "rows[0] (a).paper: unknown paper entry 'table13/r101_fnp' (table13 has "
     'r101_fpn, r101_nasfpn; in experiments/paper_numbers.yaml)'),
    ({'rows': [{'name': 'a', 'recipe': 'retinanet_r101_fpn_72ep',
                'paper': {'jft/film': [1, 2]}}]},
     'rows[0] (a).paper: expected entries TABLE/ROW of experiments/'
     'paper_numbers.yaml (table1/r101_fpn), or a list of them.'),
    ({'rows': [{'name': 'a', 'recipe': 'retinanet_r101_fpn_72ep',
                'paper': 'table4/coco'}]},
     'rows[0] (a).paper: table4/coco: its numbers are box mAP/mask mAP'),
    ({'colums': []}, 'unknown key(s) colums'),
    ({'upstreams': {'imagenet': '{world}/upstream'}},
     'world: {world} is used but no world is set'),
    ({'world': ['runs']}, "world: ['runs']: expected a directory"),
    ({'class_curves': {'val_annotations': 'v', 'train_annotations': 't',
                       'sigma': 0}}, 'class_curves.sigma: 0: expected a'),
    ({'initialisation_overrides': {'film': {
        'params_override': 'trainer.train_steps=9', 'reason': 'r'}}},
     "initialisation_overrides.film: not one of the study's initialisations"),
    ({'initialisation_overrides': {'scratch': 'trainer.train_steps=9'}},
     'initialisation_overrides.scratch: expected {params_override: '
     'KEY=VALUE,..., reason: WHY}: a column trained unlike the others is a '
     'fair comparison only if the tables say why'),
    ({'initialisations': ['frozen', 'frozen+box']},
     "initialisations: 'frozen+box': expected INIT+SOURCE with INIT not "
     'scratch and SOURCE a key of part_sources (none)'),
    ({'part_sources': {'box': {'checkpoint': '/x', 'modules': ['backbone']}}},
     'part_sources.box.modules: the backbone comes from the upstreams'),
    ({'part_sources': {'box': '/x'}},
     'part_sources.box: expected {checkpoint: PATH, modules: [PART, ...]}'),
    ({'before': [{'name': 'a', 'command': 'x --flag="open'}]},
     'before[0].command: not a command line: No closing quotation'),
    ({'before': [{'name': 'a', 'command': ''}]},
     'before[0].command: expected a command line'),
    ({'before': [{'name': 'a', 'command': 'x'}, {'name': 'a', 'command': 'y'}]},
     'before: two commands have the same name'),
    ({'before': [{'command': 'x'}]},
     'before[0]: expected {name: NAME, command: COMMAND}'),
    ({'before': [{'name': 'a', 'command': 'x {world}/y'}]},
     'world: {world} is used but no world is set'),
])
def test_a_mistake_in_a_study_names_file_and_key(tmp_path, change, said):
  path = _write(tmp_path, _study(**change))
  with pytest.raises(ConfigError) as raised:
    spec.load(path)
  assert str(raised.value).startswith(path + ': ')
  assert said in str(raised.value)


def test_table1_prints_the_change_against_fine_tuning_and_the_noise(tmp_path):
  study = spec.load(_write(tmp_path, _study(upstreams={'imagenet': '/c'})))
  row, small = study.rows
  metrics = {}
  for cell in study.cells():
    ap = {'scratch': 0.30, 'imagenet/finetune': 0.40, 'imagenet/frozen': 0.35,
          'imagenet/parallel': 0.405}[cell.column]
    spread = 0.01 if cell.seed else -0.01  # seeds 0.01 apart on each side
    metrics[cell] = {'AP': ap + spread, 'AP50': ap + 0.2}
  metrics[next(c for c in metrics if c.row == small and
               c.column == 'scratch' and c.seed == 1)] = None  # unfinished
  found = tables.results(metrics)
  text = tables.table1_markdown(study, found)
  lines = text.splitlines()
  assert lines[0] == ('| detector | scratch | finetune | frozen | parallel | '
                      'seeds |')
  # Frozen 5 points below fine-tuning, beyond the seeds' spread (1.4);
  # adapters 0.5 above, within it.
  assert lines[2] == ('| R101 FPN | 30.0/50.0 ±1.4 | 40.0/60.0 ±1.4 | '
                      '35.0/55.0 ±1.4 (-5.0) | 40.5/60.5 ±1.4 (+0.5~) | 2 |')
  assert lines[3] == ('| R101 FPN, paper | 48.4/70.1 | 48.6/70.5 | '
                      '42.1/65.3 (-6.5) | - | |')
  assert lines[4].startswith('| small | 29.0/50.0 | 40.0/60.0 ±1.4 |')
  assert lines[4].endswith(' | 1-2 |')
  rows = list(csv.DictReader(io.StringIO(tables.table1_csv(study, found))))
  frozen = next(r for r in rows if r['detector'] == 'R101 FPN' and
                r['column'] == 'imagenet/frozen')
  assert frozen['mAP_per_seed'] == '34.00 36.00'
  assert frozen['mAP_change'] == '-5.00'
  assert frozen['compared_with'] == 'imagenet/finetune'
  assert frozen['within_seed_spread'] == 'False'
  assert frozen['paper_mAP'] == '42.1'
  counts = {'R101 FPN': {'total': parameters.ParameterCount(60_000_000, 20_000_000)},
            'small': {'total': parameters.ParameterCount(12_000_000, 1_000_000)}}
  assert tables.table3_markdown(study, counts, found).splitlines()[2:] == [
      '| R101 FPN | 60,000,000 | 20,000,000 | 33.3 | -5.0 |',
      '| R101 FPN, paper | 83.5M | 21.9M | 26.1 | -6.5 |',
      '| small | 12,000,000 | 1,000,000 | 8.3 | -5.0 |', '',
      '`, paper`: the paper\'s Table 3, parameters in millions, the change '
      'of mAP from ImageNet at 600 epochs.']
  assert tables.capacity_png(study, counts, found)[:4] == b'\x89PNG'


def test_printing_the_commands_imports_no_tensorflow(tmp_path):
  study = _write(tmp_path, _study(seeds=[0]))
  printed, imported = rh.modules_imported(
      f'from {runner.__name__} import main\n'
      f'main(["run", {study!r}, "--workdir={tmp_path}/w", "--print_commands"])',
      ('tensorflow', 'official.'))
  assert len(printed.splitlines()) == 14  # the cells' commands
  assert imported == []


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(
    h.REPO, 'experiments', 'studies', '*.yaml'))), ids=os.path.basename)
def test_shipped_studies_load(path):
  study = spec.load(path)
  assert study.description and study.rows and study.cells()
  for row in study.rows:  # a paper table's study prints the paper's numbers
    assert not study.paper or set(row.paper) == set(study.columns), row.name
