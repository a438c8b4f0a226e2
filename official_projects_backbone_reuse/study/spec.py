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

"""A study file: the paper's grid and the command of each cell.

The grid is detectors x initialisations x upstream checkpoints x seeds,
and each cell runs one `train.py` command.

  # experiments/studies/NAME.yaml
  description: what the study asks
  paper: Table 1            # optional: the paper's table it reproduces
  rows:                     # detectors, in order of capacity
    - name: R101 FPN
      recipe: faster_rcnn_r101_fpn_600ep        # a recipe, or:
      # experiment: backbone_reuse_retinanet     #   a registered experiment
      # config_files: [small/retinanet_frozen.yaml]  # under experiments/
      params_override: task.model.decoder.fpn.num_filters=128   # optional
      paper: [table1/r101_fpn, table3/r101_fpn]  # optional: its rows in
      # experiments/paper_numbers.yaml, printed under it (table1/3.md)
      initialisations: [finetune, frozen]  # optional: the row trains only
      # these of the study's (e.g. scratch as one row's reference); its
      # other cells show '-'
  initialisations: [scratch, finetune, frozen, parallel]
  initialisation_overrides:   # optional; every column trains alike unless
    scratch:                  # one says here how and why it differs
      params_override: trainer.train_steps=...
      reason: why this column's comparison stays fair (printed by the tables)
  part_sources:   # optional: parts from another run, see below
    box: {checkpoint: /runs/box_pretraining, modules: [decoder, head]}
  upstreams: {imagenet: /ckpt/a, jft: /ckpt/b}   # checkpoint files or dirs
  seeds: [0, 1]
  params_override: task.train_data.input_path=...,trainer.train_steps=...
  world: runs/default_job   # optional: the procedural world, see below
  before:                   # optional: commands run once before the cells
    - name: proposals
      command: backbone-reuse-proposals --input_pattern ... --output_prefix {workdir}/proposals/train
  schedule_check:           # optional: one cell again, longer (see below)
    row: R101 FPN
    column: imagenet/finetune
    seed: 0
    params_override: trainer.train_steps=...
  class_curves:             # optional: Figure 4 per detector (see below)
    val_annotations: /data/lvis_v1_val.json
    train_annotations: /data/lvis_v1_train.json
    sigma: 1000

A cell is (row, column, seed). A column is `scratch` (no checkpoint) or
UPSTREAM/INIT for every other initialisation and upstream. Each cell is
the row's experiment and files, then the initialisation's files
(`experiments/init/*.yaml`, `experiments/adapters/*.yaml`; later files
win, so a recipe's own init/freeze.yaml is overridden), then the study's,
the row's and the initialisation's `params_override`, the upstream checkpoint
(`task.init_checkpoint`) and the seed (`task.train_data.seed`: the order
and augmentation of the training data; the heads' initialisation is not
seeded). `config_files` are under experiments/ unless absolute; other
paths are used as written, and `{workdir}` anywhere in a value becomes the
study's --workdir.

An initialisation `INIT+SOURCE` (e.g. `frozen+box`) is INIT with the
parts of `part_sources.SOURCE` restored from its checkpoint (trained; their
label-space layers left new): the cell restores through
`task.init_checkpoints` (the backbone from the upstream, those parts from
the source), written to {workdir}/overlays/ and added after INIT's files.
This is how a column of decoder and heads from box-domain pre-training, or
from another detector, stands beside their random initialisation.

`world` (optional) is a directory where the study first makes, or reuses,
this project's procedural world (`jobs/steps.py`): the default job's
dataset, TFRecords and upstream classifier. `{world}` in a value becomes
that directory. With
`world: runs/default_job` a study reuses what `backbone-reuse-demo` made.

`before` (optional) lists commands the cells need, run once, in order,
after the world and before the first cell: data a row reads (label
fractions, proposals), a pre-training run a `part_sources` checkpoint
names. Each has a `name` and a `command` ({workdir} and {world} filled,
{experiments} is the experiments/ folder; a `backbone-reuse-*` command
runs from this Python's environment); its log
is DIR/before/NAME.log. One that finished is not run again while its
command is unchanged; one that fails stops the study.

`schedule_check` (optional) trains one cell of the grid again with the
overrides given (a longer schedule), as a cell of its own; the tables say
whether it lands within the seeds' spread of its column, i.e. whether the
study's schedule is near convergence.

`class_curves` (optional; cells evaluated with `task.evaluation.type=lvis`,
which saves their detections): per detector, each column's class-wise AP
relative to fine-tuning from the first upstream, against the classes'
training annotations (`backbone-reuse-analyse`, the paper's Figure 4),
for the first seed.
"""
import dataclasses
import os
import re
import shlex
from typing import Dict, List, Optional, Tuple

import yaml

from official_projects_backbone_reuse.analysis import paper as paper_lib
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.common import values
from official_projects_backbone_reuse.configs import recipes as recipes_lib
from official_projects_backbone_reuse.study import grid

_KEYS = {'description', 'paper', 'rows', 'initialisations', 'upstreams',
         'seeds', 'params_override', 'world', 'initialisation_overrides',
         'class_curves', 'part_sources', 'before', 'schedule_check'}
_CHECK_KEYS = {'row', 'column', 'seed', 'params_override'}
_CURVE_KEYS = {'val_annotations', 'train_annotations', 'sigma'}
_ROW_KEYS = {'name', 'recipe', 'experiment', 'config_files',
             'params_override', 'paper', 'initialisations'}
# Set by the study itself; a study's own overrides may not set them.
_OWNED = ('task.init_checkpoint', 'task.train_data.seed')
_NAME = re.compile(r'[A-Za-z0-9][A-Za-z0-9_.+ -]*')


def _error(path: str, where: str, message: str) -> ConfigError:
  return ConfigError(f'{path}: {where}: {message}')


def _overrides(path: str, where: str, value) -> Tuple[str, ...]:
  if value is None:
    return ()
  if not isinstance(value, str):
    raise _error(path, where, f'expected a string KEY=VALUE,...; found '
                 f'{value!r}.')
  parts = tuple(p.strip() for p in value.split(',') if p.strip())
  for part in parts:
    key = part.partition('=')[0].strip()
    if key in _OWNED:
      raise _error(path, where, f'{key} is set by the study (upstreams, '
                   'seeds); remove it here.')
  return parts


def _paper(path: str, where: str, value, columns: List[str]) -> dict:
  """The Row fields `paper` and `paper_parameters` of the entries named."""
  keys = [value] if isinstance(value, str) else value or []
  if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
    raise _error(path, where, 'expected entries TABLE/ROW of experiments/'
                 f'{paper_lib.FILE} (table1/r101_fpn), or a list of them.')
  try:
    numbers, parameters = paper_lib.study_numbers(keys, columns)
  except ConfigError as e:
    raise _error(path, where, str(e)) from e
  return {'paper': numbers, 'paper_parameters': parameters}


def _row(path: str, index: int, entry, recipes, columns,
         initialisations) -> grid.Row:
  where = f'rows[{index}]'
  if not isinstance(entry, dict):
    raise _error(path, where, 'expected a mapping with name and recipe or '
                 'experiment.')
  unknown = set(entry) - _ROW_KEYS
  if unknown:
    raise _error(path, where, f'unknown key(s) {", ".join(sorted(unknown))}; '
                 f'expected {", ".join(sorted(_ROW_KEYS))}.')
  name = str(entry.get('name', ''))
  if not _NAME.fullmatch(name):
    raise _error(path, f'{where}.name', f'{name!r}: expected a name of '
                 'letters, digits, spaces and _.+-.')
  where = f'rows[{index}] ({name})'
  if ('recipe' in entry) == ('experiment' in entry):
    raise _error(path, where, 'give either recipe or experiment.')
  files = entry.get('config_files') or []
  if not isinstance(files, list):
    raise _error(path, f'{where}.config_files', 'expected a list of YAML '
                 'files.')
  files = [f if os.path.isabs(f) else recipes_lib.experiment_file(f)
           for f in files]
  if 'recipe' in entry:
    if entry['recipe'] not in recipes:
      raise _error(path, f'{where}.recipe', f'{entry["recipe"]!r} is not a '
                   'recipe of experiments/recipes.yaml.')
    experiment, files = recipes_lib.resolve(
        entry['recipe'] + ':' + '+'.join(files), recipes)
  else:
    experiment = str(entry['experiment'])
  for f in files:
    if not os.path.isfile(f):
      raise _error(path, f'{where}.config_files', f'{f}: no such file.')
  return grid.Row(name=name, experiment=experiment, config_files=tuple(files),
             params_override=_overrides(path, f'{where}.params_override',
                                        entry.get('params_override')),
             initialisations=_row_initialisations(
                 path, f'{where}.initialisations',
                 entry.get('initialisations'), initialisations),
             **_paper(path, f'{where}.paper', entry.get('paper'), columns))


def _row_initialisations(path: str, where: str, value,
                         initialisations: Tuple[str, ...]
                         ) -> Optional[Tuple[str, ...]]:
  """A row's own subset of the study's initialisations (None: all)."""
  if value is None:
    return None
  if (not isinstance(value, list) or not value
      or any(v not in initialisations for v in value)):
    raise _error(path, where, f'{value!r}: expected a list of some of the '
                 f'study\'s initialisations ({", ".join(initialisations)}).')
  return tuple(v for v in initialisations if v in value)


def _initialisation_overrides(path: str, value, inits
                              ) -> Tuple[Dict[str, Tuple], Dict[str, str]]:
  """Reads the `initialisation_overrides` of a study file.

  ({initialisation: its overrides}, {initialisation: the reason}): a
  column that trains unlike the others says why, and the tables print it."""
  value = value or {}
  if not isinstance(value, dict):
    raise _error(path, 'initialisation_overrides', 'expected {initialisation:'
                 ' {params_override: KEY=VALUE,..., reason: WHY}}.')
  for init, entry in value.items():
    where = f'initialisation_overrides.{init}'
    if init not in inits:
      raise _error(path, where, 'not one of the study\'s initialisations '
                   f'({", ".join(inits)}).')
    if (not isinstance(entry, dict) or set(entry) != {'params_override',
                                                      'reason'}
        or not isinstance(entry['reason'], str) or not entry['reason'].strip()):
      raise _error(path, where, 'expected {params_override: KEY=VALUE,..., '
                   'reason: WHY}: a column trained unlike the others is a '
                   'fair comparison only if the tables say why.')
  return ({init: _overrides(path, f'initialisation_overrides.{init}'
                            '.params_override', entry['params_override'])
           for init, entry in value.items()},
          {init: ' '.join(entry['reason'].split())
           for init, entry in value.items()})


def _class_curves(path: str, value) -> Dict[str, object]:
  if value is None:
    return {}
  if not isinstance(value, dict) or set(value) != _CURVE_KEYS:
    raise _error(path, 'class_curves', 'expected val_annotations, '
                 'train_annotations and sigma.')
  sigma = value['sigma']
  if not values.is_number(sigma) or sigma <= 0:
    raise _error(path, 'class_curves.sigma', f'{sigma!r}: expected a positive'
                 ' number of annotations.')
  return dict(value)


def _part_sources(path: str, value) -> Dict[str, grid.PartSource]:
  value = value or {}
  if not isinstance(value, dict):
    raise _error(path, 'part_sources', 'expected {name: {checkpoint, '
                 'modules}}.')
  out = {}
  for name, entry in value.items():
    where = f'part_sources.{name}'
    if not _NAME.fullmatch(str(name)) or '/' in str(name) or '+' in str(name):
      raise _error(path, where, 'expected a name of letters, digits and _.-.')
    if (not isinstance(entry, dict) or set(entry) != {'checkpoint', 'modules'}
        or not isinstance(entry['checkpoint'], str) or not entry['checkpoint']
        or not isinstance(entry['modules'], list) or not entry['modules']):
      raise _error(path, where, 'expected {checkpoint: PATH, modules: [PART, '
                   '...]}.')
    if 'backbone' in entry['modules']:
      raise _error(path, f'{where}.modules', 'the backbone comes from the '
                   'upstreams; name the other parts.')
    out[str(name)] = grid.PartSource(entry['checkpoint'],
                                tuple(map(str, entry['modules'])))
  return out


def _before(path: str, value) -> Tuple[grid.Before, ...]:
  value = value or []
  if not isinstance(value, list):
    raise _error(path, 'before', 'expected a list of {name, command}.')
  out = []
  for index, entry in enumerate(value):
    where = f'before[{index}]'
    if not isinstance(entry, dict) or set(entry) != {'name', 'command'}:
      raise _error(path, where, 'expected {name: NAME, command: COMMAND}.')
    name, command = str(entry['name']), entry['command']
    if not _NAME.fullmatch(name):
      raise _error(path, f'{where}.name', f'{name!r}: expected a name of '
                   'letters, digits, spaces and _.+-.')
    try:
      args = shlex.split(command) if isinstance(command, str) else []
    except ValueError as e:
      raise _error(path, f'{where}.command', f'not a command line: {e}.'
                   ) from e
    if not args:
      raise _error(path, f'{where}.command', 'expected a command line.')
    out.append(grid.Before(name, command))
  names = [grid.slug(b.name) for b in out]
  if len(set(names)) != len(names):
    raise _error(path, 'before', 'two commands have the same name.')
  return tuple(out)


def _schedule_check(path: str, value, study: grid.Study
                    ) -> Optional[grid.ScheduleCheck]:
  if value is None:
    return None
  where = 'schedule_check'
  if not isinstance(value, dict) or set(value) != _CHECK_KEYS:
    raise _error(path, where, 'expected {row, column, seed, params_override}:'
                 ' a cell of the grid trained again with a longer schedule.')
  row = next((r for r in study.rows if r.name == value['row']), None)
  if row is None:
    raise _error(path, f'{where}.row', f'{value["row"]!r} is not a row of '
                 f'the study ({", ".join(r.name for r in study.rows)}).')
  if value['column'] not in study.row_columns(row):
    raise _error(path, f'{where}.column', f'{value["column"]!r} is not a '
                 f'column of row {row.name!r} '
                 f'({", ".join(study.row_columns(row))}).')
  if value['seed'] not in study.seeds:
    raise _error(path, f'{where}.seed', f'{value["seed"]!r} is not a seed '
                 'of the study.')
  overrides = _overrides(path, f'{where}.params_override',
                         value['params_override'])
  if not overrides:
    raise _error(path, f'{where}.params_override', 'expected the longer '
                 'schedule (trainer.train_steps=..., ...).')
  name = f'{row.name} schedule check'
  if any(grid.slug(r.name) == grid.slug(name) for r in study.rows):
    raise _error(path, f'{where}.row', f'a row is named {name!r} already.')
  again = dataclasses.replace(row, name=name, paper={}, paper_parameters=(),
                              params_override=row.params_override + overrides)
  return grid.ScheduleCheck(row,
                            grid.Cell(again, value['column'], value['seed']),
                       overrides)


def _world(path: str, value) -> str:
  if value is None:
    return ''
  if not isinstance(value, str) or not value or '{' in value:
    raise _error(path, 'world', f'{value!r}: expected a directory.')
  return os.path.abspath(value)


def shipped() -> List[str]:
  """The names of the studies shipped with the package."""
  folder = recipes_lib.experiment_file('studies')
  return sorted(name[:-len('.yaml')] for name in os.listdir(folder)
                if name.endswith('.yaml'))


def load(path: str) -> grid.Study:
  """Loads a study from a file or by its shipped name.

  The study in `path`, or the shipped study of that name (as
  `backbone-reuse-study run small_capacity`, from a clone or an installed
  wheel); a mistake is a ConfigError naming file and key."""
  if not os.path.exists(path) and path in shipped():
    path = recipes_lib.experiment_file('studies', f'{path}.yaml')
  try:
    with open(path) as f:
      entries = yaml.safe_load(f)
  except OSError as e:
    raise ConfigError(f'{path}: cannot read the study: {e.strerror} (the '
                      f'studies shipped: {", ".join(shipped())}).') from e
  except yaml.YAMLError as e:
    raise ConfigError(f'{path}: not valid YAML: '
                      f'{" ".join(str(e).split())}') from e
  if not isinstance(entries, dict):
    raise ConfigError(f'{path}: expected a mapping with rows, '
                      'initialisations, upstreams and seeds.')
  unknown = set(entries) - _KEYS
  if unknown:
    raise ConfigError(f'{path}: unknown key(s) {", ".join(sorted(unknown))}; '
                      f'expected {", ".join(sorted(_KEYS))}.')
  inits = entries.get('initialisations') or []
  if not isinstance(inits, list) or not inits:
    raise _error(path, 'initialisations', 'expected a list of '
                 f'{", ".join(grid.INITIALISATIONS)}.')
  sources = _part_sources(path, entries.get('part_sources'))
  for init in inits:
    base, source = grid.split(str(init))
    if base not in grid.INITIALISATIONS:
      raise _error(path, 'initialisations', f'{init!r} is not one of '
                   f'{", ".join(grid.INITIALISATIONS)}, or one of them '
                   '+SOURCE.')
    if '+' in str(init) and (base == 'scratch' or source not in sources):
      raise _error(path, 'initialisations', f'{init!r}: expected INIT+SOURCE'
                   ' with INIT not scratch and SOURCE a key of part_sources'
                   f' ({", ".join(sources) or "none"}).')
  if len(set(inits)) != len(inits):
    raise _error(path, 'initialisations', 'an initialisation is repeated.')
  upstreams = entries.get('upstreams') or {}
  if not isinstance(upstreams, dict):
    raise _error(path, 'upstreams', 'expected {name: checkpoint}.')
  for name, checkpoint in upstreams.items():
    if not _NAME.fullmatch(str(name)) or '/' in str(name):
      raise _error(path, f'upstreams.{name}', 'expected a name of letters, '
                   'digits and _.+-.')
    if not isinstance(checkpoint, str) or not checkpoint:
      raise _error(path, f'upstreams.{name}', 'expected a checkpoint path.')
  if not upstreams and set(inits) != {'scratch'}:
    raise _error(path, 'upstreams', 'the initialisations other than scratch '
                 'restore an upstream checkpoint: name at least one.')
  seeds = entries.get('seeds', [0])
  if (not isinstance(seeds, list) or not seeds or
      not all(values.is_integer(s) for s in seeds)
      or len(set(seeds)) != len(seeds)):
    raise _error(path, 'seeds', f'{seeds!r}: expected a list of distinct '
                 'integers.')
  overrides, reasons = _initialisation_overrides(
      path, entries.get('initialisation_overrides'), inits)
  study = grid.Study(path=path, rows=(), initialisations=tuple(inits),
                upstreams={str(k): v for k, v in upstreams.items()},
                seeds=tuple(seeds),
                params_override=_overrides(path, 'params_override',
                                           entries.get('params_override')),
                initialisation_overrides=overrides, override_reasons=reasons,
                description=str(entries.get('description', '')).strip(),
                paper=str(entries.get('paper', '')),
                world=_world(path, entries.get('world')),
                class_curves=_class_curves(path, entries.get('class_curves')),
                part_sources=sources,
                before=_before(path, entries.get('before')))
  rows = entries.get('rows') or []
  if not isinstance(rows, list) or not rows:
    raise _error(path, 'rows', 'expected a list of detectors.')
  recipes = recipes_lib.load_recipes()
  rows = tuple(_row(path, i, entry, recipes, study.columns,
                    study.initialisations) for i, entry in enumerate(rows))
  names = [grid.slug(r.name) for r in rows]
  if len(set(names)) != len(names):
    raise _error(path, 'rows', 'two rows have the same name.')
  study = dataclasses.replace(study, rows=rows)
  study = dataclasses.replace(study, schedule_check=_schedule_check(
      path, entries.get('schedule_check'), study))
  if not study.world and any('{world}' in v for v in study.texts()):
    raise _error(path, 'world', '{world} is used but no world is set.')
  return study
