"""`backbone-reuse-study`: the paper's grid on your data, as one command.

  backbone-reuse-study run STUDY.yaml --workdir DIR
      trains and evaluates every cell with `train.py`, one process per cell
      (its log and model dir under DIR/cells/), then writes the tables.
      A finished cell (its metrics.json exists) is not run again; a killed
      cell resumes from its last checkpoint; a failed cell is reported and
      the others go on. Ctrl-C or SIGTERM stops the running cell and the
      study; run the same command again to go on.
  backbone-reuse-study run STUDY.yaml --workdir DIR --print_commands
      prints one `backbone-reuse-train` command per unfinished cell
      instead, to launch each as its own GPU / TPU job.
  backbone-reuse-study collect STUDY.yaml --workdir DIR
      builds the tables from the cells' model dirs, finished or not.

Outputs in DIR (`study/spec.py` has the study file's format,
`study/tables.py` the tables'): table1.md / table1.csv (mAP and AP50 per
detector and initialisation), table3.md (parameters), capacity.png (mAP
against detector capacity) and results.json (every cell's metrics).
"""
import argparse
import json
import os
import signal
import sys
from typing import Dict, List, Optional, Sequence

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common.errors import UserError
from official_projects_backbone_reuse.study import spec

# TensorFlow, Model Garden and matplotlib are imported by the functions that
# need them: printing the commands takes no 20 s of imports.
# pylint: disable=g-import-not-at-top


class Stopped(UserError):
  """The study was stopped by Ctrl-C (exit 130) or SIGTERM (143)."""

  def __init__(self, message: str, exit_code: int):
    super().__init__(message)
    self.exit_code = exit_code


def _metrics(study: spec.Study, workdir: str) -> Dict[spec.Cell, Optional[dict]]:
  found = {}
  for cell in study.cells():
    path = os.path.join(cell.model_dir(workdir), 'metrics.json')
    if os.path.exists(path):
      with open(path) as f:
        found[cell] = json.load(f)
    else:
      found[cell] = None
  return found


def parameter_counts(study: spec.Study) -> Dict[str, Dict]:
  """Each row's parameters, built frozen (`analysis.report`), by row name."""
  from official_projects_backbone_reuse.analysis import parameters
  from official_projects_backbone_reuse.analysis import report
  from official_projects_backbone_reuse.configs import loading
  from official_projects_backbone_reuse.configs import recipes
  counts = {}
  for row in study.rows:
    files_ = list(row.config_files) + [recipes.experiment_file(
        spec.INITIALISATIONS['frozen'][0])]
    params = loading.load_experiment(row.experiment, files_)
    counts[row.name] = parameters.count_parameters(
        report.build_for_counting(params, input_size=None))
  return counts


def collect(study: spec.Study, workdir: str) -> str:
  """Writes the outputs from the cells' model dirs; returns Table 1."""
  from official_projects_backbone_reuse.common import files
  from official_projects_backbone_reuse.study import tables
  metrics = _metrics(study, workdir)
  found = tables.results(study, metrics)
  counts = parameter_counts(study)
  table1 = tables.table1_markdown(study, found)
  finished = sum(m is not None for m in metrics.values())
  files.write_all_atomically({
      os.path.join(workdir, 'table1.md'): table1,
      os.path.join(workdir, 'table1.csv'): tables.table1_csv(study, found),
      os.path.join(workdir, 'table3.md'):
          tables.table3_markdown(study, counts, found),
      os.path.join(workdir, 'capacity.png'):
          tables.capacity_png(study, counts, found),
      os.path.join(workdir, 'results.json'): json.dumps({
          'study': os.path.abspath(study.path),
          'cells': [{'row': c.row.name, 'column': c.column, 'seed': c.seed,
                     'model_dir': c.model_dir(workdir), 'metrics': m}
                    for c, m in metrics.items()]}, indent=1)})
  print(f'{finished} of {len(metrics)} cells finished; tables in {workdir}')
  return table1


def _raise_stopped(signum, _):
  raise Stopped(signal.Signals(signum).name, 128 + signum)


def run(study: spec.Study, workdir: str) -> int:
  """Runs every unfinished cell; 0 when all finished, 1 if any failed."""
  from official_projects_backbone_reuse.jobs import steps
  failed: List[str] = []
  metrics = _metrics(study, workdir)
  cells = study.cells()
  number, cell = 0, None
  previous = signal.signal(signal.SIGTERM, _raise_stopped)
  try:
    for number, cell in enumerate(cells, 1):
      print(f'\n=== cell {number}/{len(cells)}: {cell.name}', flush=True)
      if metrics[cell] is not None:
        print('  done before, reused', flush=True)
        continue
      try:
        steps.run_logged(study.command(cell, workdir), cell.log_path(workdir))
      except steps.StepFailed as e:
        print(f'  failed: {e}', flush=True)
        failed.append(f'{cell.name}: {e}')
  except (KeyboardInterrupt, Stopped) as e:
    stopped = (Stopped('Ctrl-C', 130) if isinstance(e, KeyboardInterrupt)
               else e)
    where = f' at cell {number}/{len(cells)} ({cell.name})' if cell else ''
    raise Stopped(f'{stopped}: the study stopped{where}; run the same '
                  'command again to go on from its last checkpoint.',
                  stopped.exit_code) from e
  finally:
    signal.signal(signal.SIGTERM, previous)
  print(collect(study, workdir))
  for line in failed:
    print(f'error: {line}', file=sys.stderr)
  return 1 if failed else 0


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='backbone-reuse-study', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('action', choices=('run', 'collect'))
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
  if args.action == 'collect':
    print(collect(study, workdir))
    return 0
  if args.print_commands:
    metrics = _metrics(study, workdir)
    for cell in study.cells():
      if metrics[cell] is None:
        print(study.shell_command(cell, workdir))
    return 0
  return run(study, workdir)


if __name__ == '__main__':
  sys.exit(main())
