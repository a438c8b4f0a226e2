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

"""Parameter report: how many parameters each detector has and trains.

For each experiment it builds the detector with the project's task, exactly
as training would (reuse policy included), counts its parameters per
component (`modeling.parameters`) and prints one row: total, trained, trained
share, then backbone, decoder, RPN head, detection head of each cascade stage
(`detection_head`, `detection_head_1`, ...), mask head. Nothing runs: no
checkpoint, no dataset, no training step. Under the table, the paper's
numbers for each recipe (its `paper_rows`, from
experiments/paper_numbers.yaml): mAP/AP50 per initialisation and, for the
rows of the paper's Table 3, its parameter counts (CSV: columns paper_*).

Each positional argument is one experiment, written NAME[:FILE[+FILE...]]:
NAME is a recipe of experiments/recipes.yaml (the paper's experiments) or a
registered experiment, and the YAML files override it in order, after the
recipe's own files. Examples:

  backbone-reuse-report faster_rcnn_r101_fpn_72ep \
      faster_rcnn_r101_nasfpn_cascade_72ep:experiments/init/finetune.yaml
  backbone-reuse-report --format=csv --output=params.csv \
      backbone_reuse_retinanet:experiments/small/retinanet_frozen.yaml
  backbone-reuse-report --list      # the recipes, as a markdown table

Parameter counts do not depend on the input size, so `--input_size` may
build a smaller model to save time. The detection generator (NMS) has no
parameters; it is built with TensorFlow's combined NMS
(`nms_version: batched`), which traces in a fraction of the time of Model
Garden's default.
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import csv
import io
import re
import sys
from typing import Dict, List, Optional, Sequence

from official.core import config_definitions as cfg
from official.core import task_factory

from official_projects_backbone_reuse import registry_imports  # pylint: disable=unused-import
from official_projects_backbone_reuse.analysis import paper
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.configs import recipes as recipes_lib
from official_projects_backbone_reuse.modeling import parameters

# Columns in data-flow order; cascade stages follow their first stage.
_COMPONENT_ORDER = ('backbone', 'adapters', 'decoder', 'rpn_head', 'head',
                    'detection_head', 'mask_head')


def check_input_size(params: cfg.ExperimentConfig,
                     input_size: Optional[int]) -> None:
  """Model Garden pads images to a multiple of 2^max_level; NAS-FPN needs it."""
  stride = 2 ** params.task.model.max_level
  if input_size is not None and (input_size <= 0 or input_size % stride):
    raise ConfigError(f'--input_size={input_size}: must be a positive '
                      f'multiple of 2^max_level = {stride}.')


def build_for_counting(params: cfg.ExperimentConfig,
                       input_size: Optional[int] = None):
  """Builds the experiment's detector to count its parameters.

  The experiment's detector, built by its task as training builds it,
  with parameter-free changes only (input size, NMS implementation)."""
  model = {'detection_generator': {'nms_version': 'batched'}}
  if input_size:
    model['input_size'] = [input_size, input_size, 3]
  return task_factory.get_task(params.task.replace(model=model)).build_model()


def component_key(name: str):
  """Sorts components in data-flow order, cascade stages after the first."""
  base, stage = re.fullmatch(r'(.*?)(?:_(\d+))?', name).groups()
  rank = (_COMPONENT_ORDER.index(base) if base in _COMPONENT_ORDER
          else len(_COMPONENT_ORDER))
  return rank, base, int(stage or 0)


def component_columns(rows) -> List[str]:
  names = {n for _, counts in rows for n in counts if n != 'total'}
  return sorted(names, key=component_key)


def _cell(count: Optional[parameters.ParameterCount]) -> str:
  if count is None:
    return '-'
  if count.trained == count.total:
    return f'{count.total:,}'
  if count.trained == 0:
    return f'{count.total:,} frozen'
  return f'{count.total:,} ({count.trained_share:.1f}% trained)'


def paper_rows(specs: Sequence[str]) -> Dict[str, List[paper.Entry]]:
  """The paper's rows of each NAME[:FILE...] whose NAME is a recipe."""
  recipes = recipes_lib.load_recipes()
  return {spec: paper.recipe_entries(recipes[spec.partition(':')[0]])
          for spec in specs if spec.partition(':')[0] in recipes}


def paper_markdown(papers: Dict[str, List[paper.Entry]]) -> str:
  """Formats the paper's rows of each experiment as markdown.

  A list of each experiment's rows of the paper's tables, with their
  notes; '' when none has any."""
  lines = []
  for spec, entries in papers.items():
    lines += [f'- `{spec}`'] if entries else []
    for entry in entries:
      lines.append(f'  - {entry.summary()}')
      lines += [f'    - note: {note}' for note in entry.notes]
  return ('\nThe paper\'s numbers (AP x100; experiments/'
          f'{paper.FILE}):\n\n' + '\n'.join(lines) + '\n') if lines else ''


def _paper_parameters(entries: List[paper.Entry]) -> List:
  """Returns the paper's parameter counts of an experiment.

  The paper's parameters (millions) and trained share, from its Table 3
  entry, or blanks."""
  for entry in entries:
    if entry.metrics == paper.PARAMETERS:
      return list(next(iter(entry.numbers.values())))[:3]
  return ['', '', '']


def format_markdown(rows, papers=None) -> str:
  """Formats the parameter counts as a markdown table.

  rows: (name, counts from `parameters.count_parameters`) pairs;
  papers: `paper_rows` of their names."""
  columns = component_columns(rows)
  header = ['experiment', 'total', 'trained', 'trained %'] + columns
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join(['---'] + ['---:'] * (len(header) - 1)) + '|']
  for name, counts in rows:
    total = counts['total']
    cells = [name, f'{total.total:,}', f'{total.trained:,}',
             f'{total.trained_share:.1f}']
    cells += [_cell(counts.get(c)) for c in columns]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n' + paper_markdown(papers or {})


def format_csv(rows, papers=None) -> str:
  """As format_markdown; the paper's rows by key, and its parameters."""
  columns = component_columns(rows)
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(['experiment', 'total', 'trained', 'trained_percent'] +
                  [f'{c}_{k}' for c in columns for k in ('total', 'trained')]
                  + ['paper_rows', 'paper_total_M', 'paper_trained_M',
                     'paper_trained_percent'])
  for name, counts in rows:
    total = counts['total']
    row = [name, total.total, total.trained, f'{total.trained_share:.2f}']
    for c in columns:
      count = counts.get(c)
      row += [count.total, count.trained] if count else ['', '']
    entries = (papers or {}).get(name, [])
    row += [' '.join(e.key for e in entries)] + _paper_parameters(entries)
    writer.writerow(row)
  return out.getvalue()


def recipes_table(recipes: Dict[str, recipes_lib.Recipe]) -> str:
  """The recipes as a markdown table (experiments/README.md shows it)."""
  lines = ['| recipe | paper | `--experiment` | `--config_file` (in order, '
           'under `experiments/`) | Model Garden original |',
           '|---|---|---|---|---|']
  for r in recipes.values():
    overlays = ' '.join(f'`{f}`' for f in r.config_files)
    original = f'`{r.original}`' if r.original else '-'
    lines.append(f'| `{r.name}` | {r.paper} | `{r.experiment}` | {overlays} | '
                 f'{original} |')
  return '\n'.join(lines) + '\n'


def experiments_parser(prog: str, description: str,
                       input_size_help: str) -> argparse.ArgumentParser:
  """Returns the parser of a command over experiments.

  The arguments of a command over experiments (this report, the
  resources report): NAME[:FILE[+FILE]]..., --params_override,
  --input_size, --format, --output."""
  parser = argparse.ArgumentParser(
      prog=prog, description=description,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('experiments', nargs='*', metavar='NAME[:FILE[+FILE]]',
                      help='a recipe or registered experiment, then YAML '
                      'files that override it in order')
  parser.add_argument('--params_override', default='',
                      help='applied to every experiment, after its files')
  parser.add_argument('--input_size', type=int, default=None,
                      help=input_size_help)
  parser.add_argument('--format', choices=('markdown', 'csv'),
                      default='markdown')
  parser.add_argument('--output', help='write here (atomically), not stdout')
  parser.add_argument('--overwrite', action='store_true',
                      help='replace output files that exist')
  return parser


def check_outputs(args, flags: Sequence[str] = ('output',)) -> None:
  """Checks the output files of the command.

  The output files of `flags` that are set (`files.check_outputs`),
  against the YAML files the experiments name."""
  specs = (args.experiments if hasattr(args, 'experiments')
           else [args.experiment])  # show-inputs: one
  files.check_outputs(
      [files.Output(f'--{flag}', getattr(args, flag)) for flag in flags
       if getattr(args, flag)],
      [('experiment file', path) for spec in specs
       for path in spec.partition(':')[2].split('+')], args.overwrite)


def load_specs(specs: Sequence[str], params_override: str,
               input_size: Optional[int]) -> List[tuple]:
  """(spec, config) of each NAME[:FILE[+FILE]]; errors name the spec."""
  recipes = recipes_lib.load_recipes()
  configs = []
  for spec in specs:
    try:
      params = loading.load_experiment(*recipes_lib.resolve(spec, recipes),
                                       params_override=params_override)
      check_input_size(params, input_size)
    except ConfigError as e:
      raise ConfigError(f'{spec}: {e}') from e
    configs.append((spec, params))
  return configs


def write_output(text: str, output: Optional[str]) -> None:
  """To `output` (atomically), or to stdout."""
  if output:
    files.write_atomically(output, text)
  else:
    sys.stdout.write(text)


def _parser() -> argparse.ArgumentParser:
  parser = experiments_parser(
      'backbone-reuse-report', __doc__,
      'build at NxN, a multiple of 2^max_level (counts do not depend on '
      "it); default: the config's")
  parser.add_argument('--list', action='store_true',
                      help='print the recipes of experiments/recipes.yaml')
  return parser


@errors.exits_on_error
def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = _parser()
  args = parser.parse_args(argv)
  if not args.list and not args.experiments:
    parser.error('give at least one experiment, or --list')
  check_outputs(args)
  if args.list:
    text = recipes_table(recipes_lib.load_recipes())
  else:
    configs = load_specs(args.experiments, args.params_override,
                         args.input_size)
    papers = paper_rows(args.experiments)
    rows = []
    for spec, params in configs:
      try:
        model = build_for_counting(params, args.input_size)
      except (ValueError, TypeError, KeyError) as e:
        raise ConfigError(f'{spec}: the model cannot be built: '
                          f'{errors.first_line(e)}') from e
      rows.append((spec, parameters.count_parameters(model)))
    text = (format_csv if args.format == 'csv' else format_markdown)(rows,
                                                                     papers)
  write_output(text, args.output)
  return 0


if __name__ == '__main__':
  sys.exit(main())
