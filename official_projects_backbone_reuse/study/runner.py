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

"""`backbone-reuse-study`: the paper's grid on your data, as one command.

  backbone-reuse-study run STUDY.yaml --workdir DIR
      makes the study's world and runs its `before` commands (each once),
      then trains and evaluates every cell with `train.py`, one process per
      cell (its log and model dir under DIR/cells/), then writes the tables.
      A finished cell (its metrics.json exists) is not run again; a killed
      cell resumes from its last checkpoint; a failed cell is reported and
      the others go on. Ctrl-C or SIGTERM stops the running cell and the
      study; run the same command again to go on.
  backbone-reuse-study run STUDY.yaml --workdir DIR --print_commands
      prints the study's unfinished `before` commands, then one
      `backbone-reuse-train` command per unfinished cell, instead, to
      launch each as its own GPU / TPU job (in that order).
  backbone-reuse-study collect STUDY.yaml --workdir DIR
      builds the tables from the cells' model dirs, finished or not.
  backbone-reuse-study prepare STUDY.yaml --workdir DIR
      only makes (or reuses) the study's `world`, which `run` does first.

Outputs in DIR (`study/spec.py` has the study file's format,
`study/tables.py` the tables'): table1.md / table1.csv (mAP and AP50 per
detector and initialisation; under it each upstream's own top-1 and the
schedule check), table3.md (parameters), capacity.png (mAP against
detector capacity), freezing.png (frozen minus fine-tuned against the
parameters trained), cost.md (each cell's step time, wall and CPU time,
peak memory) and results.json (every cell's metrics).
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import contextlib
import json
import os
import sys
from typing import Dict, Iterator, List, Optional, Sequence

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.study import cell_results
from official_projects_backbone_reuse.study import grid
from official_projects_backbone_reuse.study import spec

# TensorFlow, Model Garden and matplotlib are imported by the functions that
# need them: printing the commands takes no 20 s of imports.
# pylint: disable=g-import-not-at-top

FLOPS_FILE = 'flops.json'  # in the workdir, by `collect`


def step_gflops(study: grid.Study, workdir: str,
                cells: List[grid.Cell]) -> Dict[str, float]:
  """Counts the GFLOPs of a training step of the `cells`.

  GFLOPs of one training step of the `cells`' detector and initialisation
  (`analysis.train_flops`: the cell's own config, batch and input size;
  traced, not run), by `tables.flops_key`; counted once and kept in
  DIR/flops.json."""
  from official_projects_backbone_reuse.analysis import train_flops
  from official_projects_backbone_reuse.common import files
  from official_projects_backbone_reuse.configs import loading
  from official_projects_backbone_reuse.study import tables
  path = os.path.join(workdir, FLOPS_FILE)
  known = {}
  if os.path.exists(path):
    with open(path) as f:
      known = json.load(f)
  for cell in cells:
    key = tables.flops_key(cell)
    if key in known:
      continue
    files_, overrides = study.config(cell.row, cell.initialisation, workdir)
    params = loading.load_experiment(cell.row.experiment, files_,
                                     ','.join(overrides))
    flops, _ = train_flops.training_step_flops(
        params, params.task.train_data.global_batch_size)
    known[key] = flops.total / 1e9
  files.write_atomically(path, json.dumps(known, indent=1, sort_keys=True))
  return known


def parameter_counts(study: grid.Study, workdir: str) -> Dict[str, Dict]:
  """Counts each row's parameters.

  Each row's parameters, built frozen with the study's and the row's
  overrides (`analysis.report`), by row name."""
  from official_projects_backbone_reuse.analysis import report
  from official_projects_backbone_reuse.configs import loading
  from official_projects_backbone_reuse.modeling import parameters
  counts = {}
  for row in study.rows:
    files_, overrides = study.config(row, 'frozen', workdir)
    params = loading.load_experiment(row.experiment, files_,
                                     ','.join(overrides))
    counts[row.name] = parameters.count_parameters(
        report.build_for_counting(params, input_size=None))
  return counts


def class_curves(study: grid.Study, workdir: str) -> List[str]:
  """Plots Figure 4 per detector.

  Figure 4 per detector (`backbone-reuse-analyse`) into
  DIR/curves/<detector>/, from the first seed's saved LVIS detections;
  returns the plots written. A detector whose reference cell (fine-tuned
  from the first upstream) or every other cell lacks them is skipped."""
  from official_projects_backbone_reuse.analysis import class_curves as curves
  from official_projects_backbone_reuse.evaluation import LVIS_DETECTIONS_FILE
  if not study.class_curves or not study.upstreams:
    return []
  reference = f'{next(iter(study.upstreams))}/finetune'
  options = {k: study.fill(str(v), workdir)
             for k, v in study.class_curves.items()}
  written = []
  for row in study.rows:
    runs = {}
    for column in study.columns:
      cell = grid.Cell(row, column, study.seeds[0])
      path = os.path.join(cell.model_dir(workdir), LVIS_DETECTIONS_FILE)
      if os.path.exists(path):
        runs[column] = path
    if reference not in runs or len(runs) < 2:
      continue
    output_dir = os.path.join(workdir, 'curves', grid.slug(row.name))
    curves.run([f'--run={c}={p}' for c, p in runs.items()] + [
        f'--reference={reference}', f'--output_dir={output_dir}',
        '--iou_types=bbox', '--overwrite']  # the study's own, re-collected
               + [f'--{k}={v}' for k, v in options.items()])
    written.append(os.path.join(output_dir, 'relative_ap_bbox.png'))
  return written


def upstream_quality(study: grid.Study,
                     workdir: str) -> Dict[str, Optional[dict]]:
  """Reads each upstream's val top-1 and number of classes.

  Each upstream's val top-1 and number of classes, from the
  metrics.json and params.yaml its classification run left beside the
  checkpoint (Model Garden's train.py writes both); None where there is
  none, as for a downloaded checkpoint."""
  import tensorflow as tf
  import yaml
  from official.modeling import hyperparams
  quality = {}
  for name, path in study.upstreams.items():
    path = study.fill(path, workdir)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    metrics_path = os.path.join(folder, 'metrics.json')
    quality[name] = None
    try:
      with open(metrics_path) as f:
        top1 = float(json.load(f)['accuracy'])
      classes = hyperparams.read_yaml_to_params_dict(os.path.join(
          folder, 'params.yaml')).as_dict()['task']['model']['num_classes']
    except (OSError, tf.errors.OpError, yaml.YAMLError, ValueError, KeyError,
            TypeError, AttributeError):
      continue  # not known: said so in the table
    quality[name] = {'top1': top1, 'classes': classes,
                     'source': metrics_path}
  return quality


def collect(study: grid.Study, workdir: str) -> str:
  """Writes the outputs from the cells' model dirs; returns Table 1."""
  from official_projects_backbone_reuse.common import files
  from official_projects_backbone_reuse.study import tables
  metrics = cell_results.metrics(study, workdir)
  found = tables.results(metrics)
  counts = parameter_counts(study, workdir)
  costs = cell_results.costs(study, workdir)
  table1 = tables.table1_markdown(study, found,
                                  upstream_quality(study, workdir))
  finished = sum(m is not None for m in metrics.values())
  files.write_all_atomically({
      os.path.join(workdir, 'table1.md'): table1,
      os.path.join(workdir, 'table1.csv'): tables.table1_csv(study, found),
      os.path.join(workdir, 'table3.md'):
          tables.table3_markdown(study, counts, found),
      os.path.join(workdir, 'capacity.png'):
          tables.capacity_png(study, counts, found),
      os.path.join(workdir, 'freezing.png'):
          tables.freezing_png(study, counts, found),
      os.path.join(workdir, 'cost.md'):
          tables.cost_markdown(study, costs, step_gflops(
              study, workdir, [c for c, cost in costs.items() if cost])),
      os.path.join(workdir, 'results.json'): json.dumps({
          'study': os.path.abspath(study.path),
          'cells': [{'row': c.row.name, 'column': c.column, 'seed': c.seed,
                     'model_dir': c.model_dir(workdir), 'metrics': m}
                    for c, m in metrics.items()]}, indent=1)})
  for plot in class_curves(study, workdir):
    print(f'class-wise AP relative to fine-tuning: {plot}')
  print(f'{finished} of {len(metrics)} cells finished; tables in {workdir}')
  return table1


def prepare(study: grid.Study) -> None:
  """Makes (or reuses) the study's procedural world.

  That is the default job's steps 1-3."""
  from official_projects_backbone_reuse.jobs import steps
  if study.world:
    steps.prepare_world(study.world, steps.Scale(), total_steps=3)


def _finished(study: grid.Study, step: grid.Before, workdir: str) -> bool:
  """Whether `step` finished with the command it has now."""
  marker = step.marker(workdir)
  if not os.path.exists(marker):
    return False
  with open(marker) as f:
    return f.read() == study.before_shell(step, workdir)


def run_before(study: grid.Study, workdir: str) -> None:
  """Runs the study's `before` commands that have not finished.

  They run in order; a failure (StepFailed) stops the study."""
  from official_projects_backbone_reuse.common import files
  from official_projects_backbone_reuse.jobs import steps
  for number, step in enumerate(study.before, 1):
    print(f'\n=== before the cells {number}/{len(study.before)}: '
          f'{step.name}', flush=True)
    if _finished(study, step, workdir):
      print('  done before, reused', flush=True)
      continue
    steps.run_logged(study.before_command(step, workdir),
                     step.log_path(workdir))
    files.write_atomically(step.marker(workdir),
                           study.before_shell(step, workdir))


def check_cells(study: grid.Study, workdir: str, cells: List[grid.Cell],
                files_too: bool) -> None:
  """Loads each cell's config to check it before any cell runs.

  Loads each cell's config as its `train.py` would (`files_too`: and
  checks the files its run reads, once the world and the `before`
  commands made them), so that a bad cell stops the study before the
  first cell runs, not when its turn comes."""
  from official_projects_backbone_reuse.configs import loading
  from official_projects_backbone_reuse.runtime import checks
  for cell in cells:
    files, overrides = study.cell_config(cell, workdir)
    try:
      if files_too:
        checks.load_run(cell.row.experiment, files, ','.join(overrides),
                        mode='train_and_eval',
                        model_dir=cell.model_dir(workdir))
      else:
        loading.load_experiment(cell.row.experiment, files,
                                ','.join(overrides))
    except errors.UserError as e:
      raise errors.ConfigError(
          f'cell {cell.name}: {errors.one_line(e)} (no cell was run)') from e


_RUNNING = 'BACKBONE_REUSE_STUDIES_RUNNING'  # the studies this one runs in


@contextlib.contextmanager
def _running(study: grid.Study) -> Iterator[None]:
  """Marks the study as running for the commands it starts.

  A study started by its own `before` commands (at any depth) would start
  itself without end, and is refused."""
  path = os.path.realpath(study.path)
  running = os.environ.get(_RUNNING, '')
  if path in running.split(os.pathsep):
    raise errors.ConfigError(
        f'{study.path}: this study is already running, and one of its '
        '`before` commands starts it again; it would never end.')
  os.environ[_RUNNING] = os.pathsep.join(p for p in (running, path) if p)
  try:
    yield
  finally:
    if running:
      os.environ[_RUNNING] = running
    else:
      del os.environ[_RUNNING]


def run(study: grid.Study, workdir: str) -> int:
  """Runs every unfinished cell; 0 when all finished, 1 if any failed."""
  with _running(study):
    return _run(study, workdir)


def _run(study: grid.Study, workdir: str) -> int:
  from official_projects_backbone_reuse.common import files
  from official_projects_backbone_reuse.jobs import steps
  for line in study.differences():
    print(f'warning: a column trains unlike the others: {line}',
          file=sys.stderr)
  failed: List[str] = []
  metrics = cell_results.metrics(study, workdir)
  cells = study.cells()
  unfinished = [cell for cell in cells if metrics[cell] is None]
  check_cells(study, workdir, unfinished, files_too=False)
  number, cell = 0, None
  try:
    with errors.stop_requests():
      prepare(study)
      try:
        run_before(study, workdir)
      except steps.StepFailed as e:
        raise steps.StepFailed(f'the study stopped before its cells: {e}'
                               ) from e
      check_cells(study, workdir, unfinished, files_too=True)
      for number, cell in enumerate(cells, 1):
        errors.raise_if_stopped()
        print(f'\n=== cell {number}/{len(cells)}: {cell.name}', flush=True)
        if metrics[cell] is not None:
          print('  done before, reused', flush=True)
          continue
        try:
          cost = steps.run_logged(study.command(cell, workdir),
                                  cell.log_path(workdir))
          files.write_atomically(
              os.path.join(cell.model_dir(workdir), cell_results.COST_FILE),
              json.dumps(cost))
        except steps.StepFailed as e:
          print(f'  failed: {e}', flush=True)
          failed.append(f'{cell.name}: {e}')
  except (KeyboardInterrupt, errors.Stopped) as e:
    stopped = errors.Stopped.of(e)
    where = (f' at cell {number}/{len(cells)} ({cell.name})' if cell
             else ' before its cells')
    raise errors.Stopped(f'{stopped.signal_name}: the study stopped{where}; '
                         'run the same command again to go on from its last '
                         'checkpoint.', stopped.exit_code) from e
  print(collect(study, workdir))
  for line in failed:
    print(f'error: {line}', file=sys.stderr)
  return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='backbone-reuse-study', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('action', choices=('run', 'collect', 'prepare'))
  parser.add_argument('study', help='a study YAML (experiments/studies/)')
  parser.add_argument('--workdir', required=True,
                      help='where the cells and the tables go')
  parser.add_argument('--print_commands', action='store_true',
                      help='with run: print each unfinished cell\'s '
                      'command instead of running it')
  return parser


@errors.exits_on_error
def main(argv: Optional[Sequence[str]] = None) -> int:
  args = _parser().parse_args(argv)
  study = spec.load(args.study)
  workdir = os.path.abspath(args.workdir)
  from official_projects_backbone_reuse.common import files  # pylint: disable=g-import-not-at-top
  # The workdir is resumed, never replaced: only the inputs rule applies.
  files.check_outputs(
      [files.Output('--workdir', workdir, folder=True)],
      [('world', study.world)] + [
          (f'upstreams.{name}', study.fill(path, workdir))
          for name, path in study.upstreams.items()
          if '{workdir}' not in path],  # one a before-step makes in it
      overwrite=True)
  if args.action == 'collect':
    print(collect(study, workdir))
    return 0
  if args.action == 'prepare':
    prepare(study)
    return 0
  if args.print_commands:
    print(f'# the commands of {study.path}', file=sys.stderr)
    if study.world:
      print(f'# the cells read the world in {study.world}: make it first '
            f'with `backbone-reuse-study prepare {study.path} --workdir '
            f'{args.workdir}`', file=sys.stderr)
    for step in study.before:
      if not _finished(study, step, workdir):
        print(study.before_shell(step, workdir))
    metrics = cell_results.metrics(study, workdir)
    for cell in study.cells():
      if metrics[cell] is None:
        print(study.shell_command(cell, workdir))
    return 0
  return run(study, workdir)


if __name__ == '__main__':
  sys.exit(main())
