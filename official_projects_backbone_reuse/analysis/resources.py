"""`backbone-reuse-resources`: what freezing saves, per detector and variant.

For each experiment (a recipe, or a registered experiment with YAML files,
written NAME[:FILE[+FILE...]] as for `backbone-reuse-report`) and each
variant (fine-tuned, frozen, frozen with adapters, frozen up to a stage),
the training FLOPs of one step, forward and backward, per component, counted
on the pruned graph of the task's real training step (`train_flops`), and
the parameters, total and trained. Nothing is trained and nothing is read:
the paper's full-size models can be analysed on a laptop.

  backbone-reuse-resources faster_rcnn_r101_fpn_72ep \\
      retinanet_r101_nasfpn_72ep --variants finetune,frozen,parallel \\
      --input_size 640 --batch_size 2 --format csv --output flops.csv

Variants: `finetune` (the backbone trains), `frozen`, `parallel` / `series` /
`film` (frozen, with those adapters), `freeze_at=K` (the stem and the stages
of levels 2..K frozen, Detectron2's FREEZE_AT). A from-scratch run costs
what a fine-tuned one costs. Ratios are against `finetune` when it is among
the variants.
"""
import argparse
import csv
import io
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from official.core import config_definitions as cfg

from official_projects_backbone_reuse import registry_imports  # pylint: disable=unused-import
from official_projects_backbone_reuse.analysis import parameters
from official_projects_backbone_reuse.analysis import report
from official_projects_backbone_reuse.analysis import train_flops
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.modeling import adapters

_ADAPTERS = tuple(a for a in adapters.ADAPTER_TYPES if a != 'none')


def variant_overrides(variant: str) -> dict:
  """The task overrides of a variant name (module doc)."""
  frozen = {'freeze_backbone': True, 'freeze_at': None,
            'model': {'backbone_adapter': {'type': 'none'}}}
  if variant == 'finetune':
    return dict(frozen, freeze_backbone=False)
  if variant == 'frozen':
    return frozen
  if variant in _ADAPTERS:
    return dict(frozen, model={'backbone_adapter': {'type': variant}})
  found = re.fullmatch(r'freeze_at=(\d)', variant)
  if found:
    return dict(frozen, freeze_backbone=False, freeze_at=int(found.group(1)))
  raise ConfigError(
      f'--variants: {variant!r} is not a variant; expected finetune, frozen, '
      f'{", ".join(_ADAPTERS)} or freeze_at=K.')


def variant_config(params: cfg.ExperimentConfig, variant: str,
                   input_size: Optional[int]) -> cfg.ExperimentConfig:
  """`params` as the variant trains it, at `input_size` when given."""
  task = variant_overrides(variant)
  if input_size:
    task['model'] = dict(task['model'], input_size=[input_size, input_size,
                                                     3])
  params = params.replace(task=task)
  loading.check_project_config(params, for_run=False)
  return params


def measure(params: cfg.ExperimentConfig, batch_size: int
            ) -> Tuple[train_flops.StepFlops, Dict]:
  """The training-step FLOPs and the parameter counts of an experiment."""
  flops, model = train_flops.training_step_flops(params, batch_size)
  return flops, parameters.count_parameters(model)


def _columns(rows) -> List[str]:
  names = {n for row in rows for part in (row['flops'].forward,
                                          row['flops'].backward)
           for n in part}
  return sorted(names, key=report.component_key)


def _g(flops: int) -> str:
  return f'{flops / 1e9:,.2f}'


def _ratio(row, reference) -> str:
  if reference is None:
    return '-'
  return f'{row["flops"].total / reference["flops"].total:.2f}'


def _reference(rows, row):
  return next((r for r in rows if r['experiment'] == row['experiment']
               and r['variant'] == 'finetune'), None)


def format_markdown(rows) -> str:
  """One row per experiment and variant; per component, forward + backward
  GFLOPs of one step."""
  columns = _columns(rows)
  header = (['experiment', 'variant', 'images', 'trained params',
             'GFLOPs / step', 'forward', 'backward', 'vs finetune'] +
            [f'{c} (fwd + bwd)' for c in columns])
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join(['---', '---'] + ['---:'] * (len(header) - 2)) + '|']
  for row in rows:
    flops = row['flops']
    cells = [row['experiment'], row['variant'], str(row['batch_size']),
             f'{row["parameters"]["total"].trained:,}', _g(flops.total),
             _g(sum(flops.forward.values())), _g(sum(flops.backward.values())),
             _ratio(row, _reference(rows, row))]
    cells += [f'{_g(flops.forward.get(c, 0))} + {_g(flops.backward.get(c, 0))}'
              for c in columns]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def format_csv(rows) -> str:
  columns = _columns(rows)
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(['experiment', 'variant', 'batch_size', 'params_total',
                   'params_trained', 'flops', 'flops_forward',
                   'flops_backward'] +
                  [f'{c}_{side}' for c in columns
                   for side in ('forward', 'backward')])
  for row in rows:
    flops, count = row['flops'], row['parameters']['total']
    writer.writerow(
        [row['experiment'], row['variant'], row['batch_size'], count.total,
         count.trained, flops.total, sum(flops.forward.values()),
         sum(flops.backward.values())] +
        [getattr(flops, side).get(c, 0) for c in columns
         for side in ('forward', 'backward')])
  return out.getvalue()


def _parser() -> argparse.ArgumentParser:
  parser = report.experiments_parser(
      'backbone-reuse-resources', __doc__,
      "NxN images, a multiple of 2^max_level; default: the config's")
  parser.add_argument('--variants', default='finetune,frozen',
                      help='comma-separated: finetune, frozen, parallel, '
                      'series, film, freeze_at=K')
  parser.add_argument('--batch_size', type=int, default=None,
                      help="images per step; default: the config's "
                      'task.train_data.global_batch_size')
  return parser


@errors.exits_on_error
def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = _parser()
  args = parser.parse_args(argv)
  if not args.experiments:
    parser.error('give at least one experiment')
  if args.batch_size is not None and args.batch_size < 1:
    raise ConfigError(f'--batch_size={args.batch_size}: expected at least 1.')
  variants = [v.strip() for v in args.variants.split(',') if v.strip()]
  configs = [(spec, v, variant_config(params, v, args.input_size))
             for spec, params in report.load_specs(
                 args.experiments, args.params_override, args.input_size)
             for v in variants]
  rows = []
  for spec, variant, params in configs:
    batch_size = args.batch_size or params.task.train_data.global_batch_size
    print(f'{spec} {variant}: tracing a training step of {batch_size} '
          'image(s)', file=sys.stderr, flush=True)
    flops, counts = measure(params, batch_size)
    rows.append({'experiment': spec, 'variant': variant,
                 'batch_size': batch_size, 'flops': flops,
                 'parameters': counts})
  text = (format_csv if args.format == 'csv' else format_markdown)(rows)
  report.write_output(text, args.output)
  return 0


if __name__ == '__main__':
  sys.exit(main())
