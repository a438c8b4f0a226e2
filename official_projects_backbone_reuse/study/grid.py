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

"""A study's grid and what each of its cells runs.

Rows (detectors) x columns (initialisations from each upstream) x seeds.
`spec.load` makes one from a study file; the runner runs its cells and the
tables read them back.
"""
import dataclasses
import os
import re
import shlex
import sys
from typing import Dict, List, Optional, Tuple

import yaml

from official_projects_backbone_reuse.common.files import write_atomically
from official_projects_backbone_reuse.configs import recipes as recipes_lib

# The files each initialisation adds after the row's files.
INITIALISATIONS = {
    'scratch': ('init/scratch.yaml',),
    'finetune': ('init/finetune.yaml',),
    'frozen': ('init/freeze.yaml',),
    'parallel': ('init/freeze.yaml', 'adapters/parallel.yaml'),
    'series': ('init/freeze.yaml', 'adapters/series.yaml'),
    'film': ('init/freeze.yaml', 'adapters/film.yaml'),
}


@dataclasses.dataclass(frozen=True, eq=False)  # rows are told apart by identity
class Row:
  name: str
  experiment: str
  config_files: Tuple[str, ...]  # absolute paths
  params_override: Tuple[str, ...] = ()
  paper: Dict[str, Tuple[float, float]] = dataclasses.field(
      default_factory=dict)  # column -> (mAP, AP50), x100
  paper_parameters: Tuple[float, ...] = ()  # paper_lib.PARAMETERS
  # The study's initialisations this row trains (None: all of them).
  initialisations: Optional[Tuple[str, ...]] = None


@dataclasses.dataclass(frozen=True)
class PartSource:
  checkpoint: str
  modules: Tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Before:
  """A command run once before the cells."""
  name: str
  command: str  # as written, {workdir} and {world} not yet filled

  def log_path(self, workdir: str) -> str:
    return os.path.join(workdir, 'before', slug(self.name) + '.log')

  def marker(self, workdir: str) -> str:
    """Written when the command finished; holds the command."""
    return os.path.join(workdir, 'before', slug(self.name) + '.done')


def initialisation_of(column: str) -> str:
  """INIT of a column `UPSTREAM/INIT` (or `scratch`)."""
  return column.rpartition('/')[2]


def split(initialisation: str) -> Tuple[str, str]:
  """(INIT, SOURCE) of `INIT+SOURCE`; SOURCE is '' for a plain one."""
  base, _, source = initialisation.partition('+')
  return base, source


@dataclasses.dataclass(frozen=True)
class Cell:
  row: Row
  column: str  # 'scratch' or 'UPSTREAM/INIT'
  seed: int

  @property
  def initialisation(self) -> str:
    return initialisation_of(self.column)

  @property
  def upstream(self) -> Optional[str]:
    return self.column.rpartition('/')[0] or None

  @property
  def name(self) -> str:
    return f'{self.row.name} | {self.column} | seed {self.seed}'

  def model_dir(self, workdir: str) -> str:
    return os.path.join(workdir, 'cells', slug(self.row.name),
                        self.column.replace('/', '_'), f'seed{self.seed}')

  def log_path(self, workdir: str) -> str:
    return os.path.join(self.model_dir(workdir), 'train.log')


@dataclasses.dataclass(frozen=True)
class ScheduleCheck:
  """A cell of the grid trained again with other overrides.

  A cell of the grid (`of`) trained again as `cell`: its row with the
  check's overrides added, under a name of its own."""
  of: Row
  cell: Cell
  overrides: Tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Study:
  path: str
  rows: Tuple[Row, ...]
  initialisations: Tuple[str, ...]
  upstreams: Dict[str, str]
  seeds: Tuple[int, ...]
  params_override: Tuple[str, ...] = ()
  initialisation_overrides: Dict[str, Tuple[str, ...]] = dataclasses.field(
      default_factory=dict)
  override_reasons: Dict[str, str] = dataclasses.field(default_factory=dict)
  description: str = ''
  paper: str = ''
  world: str = ''  # absolute, or '' for none
  class_curves: Dict[str, object] = dataclasses.field(default_factory=dict)
  part_sources: Dict[str, PartSource] = dataclasses.field(
      default_factory=dict)
  before: Tuple[Before, ...] = ()
  schedule_check: Optional[ScheduleCheck] = None

  @property
  def columns(self) -> List[str]:
    """Returns the table's columns in order.

    Scratch, then per upstream its initialisations."""
    columns = ['scratch'] if 'scratch' in self.initialisations else []
    for upstream in self.upstreams:
      columns += [f'{upstream}/{init}' for init in self.initialisations
                  if init != 'scratch']
    return columns

  def differences(self) -> List[str]:
    """Describes the columns trained unlike the others.

    A line per column trained unlike the others: its overrides and
    why (`initialisation_overrides`)."""
    return [f'{init} ({", ".join(self.initialisation_overrides[init])}): '
            f'{reason}' for init, reason in self.override_reasons.items()]

  def cells(self) -> List[Cell]:
    """Lists every cell, seed by seed.

    Every cell, seed by seed (a first result for every cell comes
    before a second seed of any)."""
    check = [self.schedule_check.cell] if self.schedule_check else []
    return [Cell(row, column, seed) for seed in self.seeds
            for row in self.rows for column in self.row_columns(row)] + check

  def row_columns(self, row: Row) -> List[str]:
    """The columns a row trains: all, or those of its `initialisations`."""
    return [c for c in self.columns if row.initialisations is None
            or initialisation_of(c) in row.initialisations]

  def config(self, row: Row, initialisation: str,
             workdir: str) -> Tuple[List[str], List[str]]:
    """Returns the config files and overrides of a row and initialisation.

    They are taken before any upstream or seed: what the cells and the
    tables build."""
    overrides = (list(self.params_override) + list(row.params_override)
                 + list(self.initialisation_overrides.get(initialisation,
                                                          ())))
    files = list(row.config_files) + [
        recipes_lib.experiment_file(f) for f in INITIALISATIONS[
            split(initialisation)[0]]]
    return ([self.fill(f, workdir) for f in files],
            [self.fill(o, workdir) for o in overrides])

  def cell_config(self, cell: Cell,
                  workdir: str) -> Tuple[List[str], List[str]]:
    """The config files and overrides of a cell's `train.py` command."""
    files, overrides = self.config(cell.row, cell.initialisation, workdir)
    if split(cell.initialisation)[1]:
      files.append(self.parts_overlay(cell, workdir))
    elif cell.upstream:
      overrides.append(self.fill(
          f'task.init_checkpoint={self.upstreams[cell.upstream]}', workdir))
    overrides.append(f'task.train_data.seed={cell.seed}')
    return files, overrides

  def command(self, cell: Cell, workdir: str,
              program: Tuple[str, ...] = ()) -> List[str]:
    """Returns the `train.py` command of a cell.

    The `train.py` command of a cell (`program`: how to start it;
    default this Python's `-m official_projects_backbone_reuse.train`)."""
    files, overrides = self.cell_config(cell, workdir)
    program = program or (sys.executable, '-m',
                          'official_projects_backbone_reuse.train')
    return list(program) + [f'--experiment={cell.row.experiment}'] + [
        f'--config_file={f}' for f in files] + [
            '--mode=train_and_eval',
            f'--model_dir={cell.model_dir(workdir)}',
            '--params_override=' + ','.join(overrides)]

  def shell_command(self, cell: Cell, workdir: str) -> str:
    """The command a user launches as a job of its own."""
    return shlex.join(self.command(cell, workdir, ('backbone-reuse-train',)))


  def parts_overlay(self, cell: Cell, workdir: str) -> str:
    """Writes the config file of an `INIT+SOURCE` column.

    Writes (once per column) and returns the config file of an
    `INIT+SOURCE` column: the upstream's backbone and the source's parts,
    through `task.init_checkpoints`."""
    source = self.part_sources[split(cell.initialisation)[1]]
    task = {'init_checkpoints': [
        {'checkpoint': self.fill(self.upstreams[cell.upstream], workdir),
         'modules': ['backbone']},
        {'checkpoint': self.fill(source.checkpoint, workdir),
         'modules': list(source.modules), 'frozen': False}]}
    path = os.path.join(os.path.abspath(workdir), 'overlays',
                        cell.column.replace('/', '_') + '.yaml')
    text = yaml.safe_dump({'task': task})
    if not os.path.exists(path) or open(path).read() != text:
      os.makedirs(os.path.dirname(path), exist_ok=True)
      write_atomically(path, text)
    return path

  def before_command(self, step: Before, workdir: str,
                     resolve: bool = True) -> List[str]:
    """Returns a `before` command's arguments.

    A `before` command's arguments; with `resolve`, a `backbone-reuse-*`
    program is the one beside this Python (its environment's)."""
    args = shlex.split(self.fill(step.command, workdir))
    here = os.path.join(os.path.dirname(sys.executable), args[0])
    if resolve and args[0].startswith('backbone-reuse-') and os.path.isfile(
        here):
      args[0] = here
    return args

  def before_shell(self, step: Before, workdir: str) -> str:
    """Returns a `before` command as a shell line.

    A `before` command as a user launches it, and as its marker holds
    it once finished."""
    return shlex.join(self.before_command(step, workdir, resolve=False))

  def texts(self) -> List[str]:
    """Every value of the study in which {workdir} or {world} is filled."""
    return (list(self.params_override) + list(self.upstreams.values())
            + [v for r in self.rows for v in r.params_override]
            + list(self.schedule_check.overrides if self.schedule_check
                   else ())
            + [v for vs in self.initialisation_overrides.values() for v in vs]
            + [str(v) for v in self.class_curves.values()]
            + [s.checkpoint for s in self.part_sources.values()]
            + [b.command for b in self.before])

  def fill(self, value: str, workdir: str) -> str:
    """`value` with {workdir}, {world} and {experiments} replaced."""
    return value.replace('{workdir}', os.path.abspath(workdir)).replace(
        '{world}', self.world).replace('{experiments}',
                                       recipes_lib.experiments_dir())


def slug(name: str) -> str:
  """A row name as a directory name."""
  return re.sub(r'[^A-Za-z0-9_.+-]+', '_', name).strip('_')
