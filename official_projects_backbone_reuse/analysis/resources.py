"""`backbone-reuse-resources`: what freezing saves, per detector and variant.

For each experiment (a recipe, or a registered experiment with YAML files,
written NAME[:FILE[+FILE...]] as for `backbone-reuse-report`) and each
variant (`analysis/variants.py`: finetune, frozen, parallel / series / film
adapters, freeze_at=K), at the config's input size and batch or at
`--input_size` / `--batch_size`:

  - FLOPs of one training step, forward and backward, per component,
    counted on the pruned graph of the task's real training step
    (`train_flops`, which says what is not counted);
  - parameters, total and trained;
  - step time, wall and CPU, and memory (`step_cost`): each variant runs in
    a process of its own, `--repeats` times, interleaved (A B A B ...), each
    process timing `--steps` steps after `--warmup`; a process's figure is
    the median of its steps, the table shows the median over processes and
    their range. Memory is the training memory (peak above the memory in use
    once the model is built) and the peak;
  - with `--memory_budget MB`, the largest batch whose peak fits, found by
    doubling then bisection, one process per try (on one device);
  - with `--plot PNG`, the paper's Figure 1 (right): each variant relative
    to `finetune` in FLOPs, memory and time.

`--flops_only` counts FLOPs and parameters without running a step, so the
paper's full-size models can be analysed on a laptop:

  backbone-reuse-resources faster_rcnn_r101_fpn_72ep \\
      retinanet_r101_nasfpn_72ep --variants finetune,frozen,parallel \\
      --flops_only --input_size 1280 --batch_size 1

Ratios are against `finetune` when it is among the variants. Timings on a
shared machine are noisy: compare ratios from one run, not absolute times.
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import csv
import dataclasses
import io
import json
import multiprocessing
import os
import sys
import tempfile
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from matplotlib import figure
from matplotlib.backends import backend_agg
import numpy as np

from official_projects_backbone_reuse.analysis import report
from official_projects_backbone_reuse.analysis import step_cost
from official_projects_backbone_reuse.analysis import train_flops
from official_projects_backbone_reuse.analysis import variants
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.common.errors import UserError
from official_projects_backbone_reuse.modeling import parameters

_MB = 2 ** 20


@dataclasses.dataclass(frozen=True)
class StepCost:
  """Medians over processes (each the median of its steps), and ranges."""
  device: str
  wall_s: float
  wall_range: Tuple[float, float]
  cpu_s: float
  memory_bytes: int  # peak above the memory in use after the build
  peak_bytes: int
  largest_batch: Optional[str] = None  # with --memory_budget: 'N' or '>=N'


def summarise(measurements: Sequence[Dict]) -> StepCost:
  """One StepCost from the JSON results of `step_cost` processes."""
  median = lambda values: float(np.median(values))
  walls = [median(m['wall_s']) for m in measurements]
  return StepCost(
      device=measurements[0]['device'], wall_s=median(walls),
      wall_range=(min(walls), max(walls)),
      cpu_s=median([median(m['cpu_s']) for m in measurements]),
      memory_bytes=int(median([m['peak_bytes'] - m['baseline_bytes']
                               for m in measurements])),
      peak_bytes=int(median([m['peak_bytes'] for m in measurements])))


def measure_in_process(spec: str, variant: str, batch_size: int, steps: int,
                       warmup: int, params_override: str = '',
                       input_size: Optional[int] = None,
                       flops: bool = False) -> Optional[Dict]:
  """Runs `step_cost` in a process of its own.

  Returns its JSON result, or None when the batch does not fit in memory.

  The process is forked from a fork server that has imported `step_cost`
  (TensorFlow, Model Garden: about 20 s of CPU on a 2-core machine) once,
  not started afresh: it shares no runtime, memory peak or thread with the
  others."""
  argv = [spec, f'--variant={variant}', f'--batch_size={batch_size}',
          f'--steps={steps}', f'--warmup={warmup}',
          f'--params_override={params_override}']
  if input_size:
    argv.append(f'--input_size={input_size}')
  if flops:
    argv.append('--flops')
  context = multiprocessing.get_context('forkserver')
  # Only the first call's list counts; the server then lives on.
  context.set_forkserver_preload([step_cost.__name__])
  with tempfile.TemporaryDirectory() as directory:
    out, err = (os.path.join(directory, n) for n in ('out', 'err'))
    for path in (out, err):  # there to read even if the child never starts
      open(path, 'w').close()
    process = context.Process(target=step_cost.main_in_child,
                              args=(argv, out, err))
    process.start()
    try:
      process.join()
    finally:  # Ctrl-C or SIGTERM here: the measurement stops too
      if process.is_alive():
        process.kill()
        process.join()
    with open(out) as f_out, open(err) as f_err:
      stdout, stderr = f_out.read(), f_err.read()
  code = process.exitcode
  if code == step_cost.OUT_OF_MEMORY or code == -9:
    return None  # -9: killed, as the kernel's out-of-memory killer does
  if code:
    lines = [l for l in stderr.splitlines() if l.strip()] or ['']
    said = ([l for l in lines if l.startswith('error: ')] or lines)[-1]
    raise UserError(f'{spec} {variant}: measuring a step of {batch_size} '
                    f'image(s) failed (exit {code}): '
                    f'{said.removeprefix("error: ")}')
  return json.loads(stdout.strip().splitlines()[-1])


def largest_batch(fits: Callable[[int], bool], max_batch: int) -> str:
  """Finds the largest batch that fits.

  The largest batch in 1..max_batch for which `fits`, assumed monotone:
  doubling, then bisection. '0' if none fits, '>=max_batch' if all do."""
  if not fits(1):
    return '0'
  low, high = 1, None
  while high is None and low < max_batch:
    size = min(2 * low, max_batch)
    if fits(size):
      low = size
    else:
      high = size
  if high is None:
    return f'>={low}'
  while high - low > 1:
    middle = (low + high) // 2
    if fits(middle):
      low = middle
    else:
      high = middle
  return str(low)


def _columns(rows) -> List[str]:
  names = {n for row in rows for part in (row['flops'].forward,
                                          row['flops'].backward)
           for n in part}
  return sorted(names, key=report.component_key)


def _g(flops: int) -> str:
  return f'{flops / 1e9:,.2f}'


def _reference(rows, row):
  return next((r for r in rows if r['experiment'] == row['experiment']
               and r['variant'] == 'finetune'), None)


def ratios(rows, row) -> Dict[str, Optional[float]]:
  """{'flops', 'memory', 'time'}: `row` relative to its finetune row."""
  reference = _reference(rows, row)
  out = {'flops': None, 'memory': None, 'time': None}
  if reference is None:
    return out
  out['flops'] = row['flops'].total / reference['flops'].total
  cost, reference_cost = row.get('cost'), reference.get('cost')
  if cost and reference_cost:
    out['memory'] = cost.memory_bytes / max(reference_cost.memory_bytes, 1)
    out['time'] = cost.wall_s / reference_cost.wall_s
  return out


def _ratio(value: Optional[float]) -> str:
  return '-' if value is None else f'{value:.2f}'


def format_markdown(rows) -> str:
  """Formats the resources as a markdown table.

  One row per experiment and variant: FLOPs (forward + backward GFLOPs
  per component), and with measured steps their time and memory."""
  columns = _columns(rows)
  timed = any(row.get('cost') for row in rows)
  header = ['experiment', 'variant', 'images', 'trained params',
            'GFLOPs / step', 'forward', 'backward']
  if timed:
    header += ['step s, wall (range)', 'step CPU-s', 'training memory MB',
               'peak memory MB', 'largest batch']
  header += ['FLOPs vs finetune'] + (['memory vs finetune',
                                      'time vs finetune'] if timed else [])
  header += [f'{c} (fwd + bwd)' for c in columns]
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join(['---', '---'] + ['---:'] * (len(header) - 2)) + '|']
  for row in rows:
    flops, cost, relative = row['flops'], row.get('cost'), ratios(rows, row)
    cells = [row['experiment'], row['variant'], str(row['batch_size']),
             f'{row["parameters"]["total"].trained:,}', _g(flops.total),
             _g(sum(flops.forward.values())), _g(sum(flops.backward.values()))]
    if timed:
      cells += ([f'{cost.wall_s:.3f} ({cost.wall_range[0]:.3f}-'
                 f'{cost.wall_range[1]:.3f})', f'{cost.cpu_s:.3f}',
                 f'{cost.memory_bytes / _MB:,.0f}',
                 f'{cost.peak_bytes / _MB:,.0f}', cost.largest_batch or '-']
                if cost else ['-'] * 5)
    cells += [_ratio(relative['flops'])]
    if timed:
      cells += [_ratio(relative['memory']), _ratio(relative['time'])]
    cells += [f'{_g(flops.forward.get(c, 0))} + {_g(flops.backward.get(c, 0))}'
              for c in columns]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def format_csv(rows) -> str:
  columns = _columns(rows)
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  cost_fields = ['device', 'wall_s', 'wall_s_min', 'wall_s_max', 'cpu_s',
                 'memory_bytes', 'peak_bytes', 'largest_batch']
  writer.writerow(['experiment', 'variant', 'batch_size', 'params_total',
                   'params_trained', 'flops', 'flops_forward',
                   'flops_backward'] + cost_fields +
                  [f'{c}_{side}' for c in columns
                   for side in ('forward', 'backward')])
  for row in rows:
    flops, count, cost = (row['flops'], row['parameters']['total'],
                          row.get('cost'))
    measured = ([cost.device, cost.wall_s, *cost.wall_range, cost.cpu_s,
                 cost.memory_bytes, cost.peak_bytes, cost.largest_batch or '']
                if cost else [''] * len(cost_fields))
    writer.writerow(
        [row['experiment'], row['variant'], row['batch_size'], count.total,
         count.trained, flops.total, sum(flops.forward.values()),
         sum(flops.backward.values())] + measured +
        [getattr(flops, side).get(c, 0) for c in columns
         for side in ('forward', 'backward')])
  return out.getvalue()


def _short(spec: str) -> str:
  """NAME[:FILE+FILE] with the files' base names, for a plot's labels."""
  name, _, paths = spec.partition(':')
  stems = [os.path.splitext(os.path.basename(p))[0]
           for p in paths.split('+') if p]
  return '\n'.join([name] + stems)


def plot_png(rows) -> bytes:
  """Plots the paper's Figure 1 (right) as a PNG.

  The paper's Figure 1 (right): per experiment and variant, FLOPs,
  training memory and step time relative to fine-tuning."""
  bars = [(f'{_short(row["experiment"])}\n{row["variant"]}', ratios(rows, row))
          for row in rows if row['variant'] != 'finetune']
  kinds = [k for k in ('flops', 'memory', 'time')
           if any(r[k] is not None for _, r in bars)]
  fig = figure.Figure(figsize=(max(6, 2.2 * len(bars) + 2), 5), dpi=100)
  backend_agg.FigureCanvasAgg(fig)
  ax = fig.add_subplot()
  width = 0.8 / max(len(kinds), 1)
  labels = {'flops': 'FLOPs / step', 'memory': 'training memory',
            'time': 'step time (wall)'}
  for i, kind in enumerate(kinds):
    xs = [j + (i - (len(kinds) - 1) / 2) * width for j in range(len(bars))]
    values = [r[kind] if r[kind] is not None else np.nan for _, r in bars]
    ax.bar(xs, values, width, label=labels[kind], color=f'C{i}')
    for x, value in zip(xs, values):
      if not np.isnan(value):
        ax.text(x, value, f'{value:.2f}', ha='center', va='bottom',
                fontsize=8)
  ax.axhline(1.0, color='0.3', linewidth=0.8, linestyle='--',
             label='fine-tuned = 1')
  ax.set_xticks(range(len(bars)), [name for name, _ in bars], fontsize=8)
  ax.set_ylabel('relative to fine-tuning the backbone')
  ax.set_title('What the variants save per training step '
               '(paper Figure 1, right)', fontsize=10)
  ax.set_ylim(0, 1.25 * max(1.0, ax.get_ylim()[1]))  # room for the legend
  ax.legend(loc='upper left', fontsize=8, ncol=4)
  fig.tight_layout()
  out = io.BytesIO()
  fig.savefig(out, format='png')
  return out.getvalue()


def _rows_from_flops(spec, variant, params, batch_size):
  print(f'{spec} {variant}: tracing a training step of {batch_size} '
        'image(s)', file=sys.stderr, flush=True)
  flops, model = train_flops.training_step_flops(params, batch_size)
  return {'experiment': spec, 'variant': variant, 'batch_size': batch_size,
          'flops': flops, 'parameters': parameters.count_parameters(model)}


def _measured_rows(configs, args) -> List[Dict]:
  """Every (spec, variant) measured in processes of its own, interleaved."""
  measured = {(spec, variant): [] for spec, variant, _, _ in configs}
  for repeat in range(args.repeats):
    for spec, variant, _, batch_size in configs:
      print(f'{spec} {variant}: process {repeat + 1}/{args.repeats}, '
            f'{args.steps} steps of {batch_size} image(s)', file=sys.stderr,
            flush=True)
      result = measure_in_process(spec, variant, batch_size, args.steps,
                                  args.warmup, args.params_override,
                                  args.input_size, flops=repeat == 0)
      if result is None:
        raise UserError(f'{spec} {variant}: a step of {batch_size} image(s) '
                        'does not fit in memory; try a smaller --batch_size.')
      measured[spec, variant].append(result)
  rows = []
  for spec, variant, _, batch_size in configs:
    results = measured[spec, variant]
    first = results[0]
    rows.append({
        'experiment': spec, 'variant': variant, 'batch_size': batch_size,
        'flops': train_flops.StepFlops(first['flops']['forward'],
                                       first['flops']['backward']),
        'parameters': {name: parameters.ParameterCount(*count)
                       for name, count in first['parameters'].items()},
        'cost': summarise(results)})
  if args.memory_budget:
    budget = args.memory_budget * _MB
    for row in rows:
      print(f'{row["experiment"]} {row["variant"]}: searching the largest '
            f'batch within {args.memory_budget:,} MB', file=sys.stderr,
            flush=True)

      def fits(batch_size, row=row):
        result = measure_in_process(row['experiment'], row['variant'],
                                    batch_size, 1, 1, args.params_override,
                                    args.input_size)
        return result is not None and result['peak_bytes'] <= budget

      row['cost'] = dataclasses.replace(
          row['cost'], largest_batch=largest_batch(fits, args.max_batch))
  return rows


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
  parser.add_argument('--flops_only', action='store_true',
                      help='count FLOPs and parameters; run no step')
  parser.add_argument('--repeats', type=int, default=3,
                      help='processes per variant, interleaved')
  parser.add_argument('--steps', type=int, default=5,
                      help='steps timed per process')
  parser.add_argument('--warmup', type=int, default=2,
                      help='steps run before timing, per process')
  parser.add_argument('--memory_budget', type=int, default=None,
                      help='MB: also search the largest batch whose peak '
                      'memory fits')
  parser.add_argument('--max_batch', type=int, default=256,
                      help='the largest batch the search tries')
  parser.add_argument('--plot', help='write the Figure 1 (right) PNG here')
  parser.add_argument('--csv', help='also write the table as CSV here')
  return parser


def _check(args) -> None:
  for name in ('batch_size', 'repeats', 'steps', 'warmup', 'memory_budget',
               'max_batch'):
    value = getattr(args, name)
    if value is not None and value < (0 if name == 'warmup' else 1):
      raise ConfigError(f'--{name}={value}: expected at least '
                        f'{0 if name == "warmup" else 1}.')
  if args.flops_only and args.memory_budget:
    raise ConfigError('--memory_budget needs steps to run; drop --flops_only.')


def _check_batch_fits(spec: str, params, batch_size: int) -> None:
  """Refuses a batch too large for this machine's memory.

  A batch whose input images alone (float32) exceed this machine's
  memory is refused before anything is built: TensorFlow would try for
  minutes before failing."""
  height, width = params.task.model.input_size[:2]
  needed = batch_size * height * width * 3 * 4
  memory = os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')
  if needed > memory:
    raise ConfigError(
        f'{spec}: --batch_size={batch_size}: its images of {height}x{width} '
        f'alone take {needed / 2**30:.1f} GiB as float32, more than the '
        f'{memory / 2**30:.1f} GiB of memory this machine has.')


@errors.exits_on_error
def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = _parser()
  args = parser.parse_args(argv)
  if not args.experiments:
    parser.error('give at least one experiment')
  _check(args)
  report.check_outputs(args, ('output', 'plot', 'csv'))
  names = [v.strip() for v in args.variants.split(',') if v.strip()]
  if not names:
    raise ConfigError(f'--variants={args.variants!r}: expected one or more '
                      'of finetune, frozen, parallel, series, film, '
                      'freeze_at=K.')
  if args.plot and 'finetune' not in names:
    raise ConfigError('--plot shows each variant relative to finetune; add '
                      'finetune to --variants.')
  configs = []
  for spec, params in report.load_specs(args.experiments, args.params_override,
                                        args.input_size):
    for variant in names:
      configs.append((spec, variant,
                      variants.variant_config(params, variant, args.input_size),
                      args.batch_size or
                      params.task.train_data.global_batch_size))
  for spec, _, params, batch_size in configs:
    _check_batch_fits(spec, params, batch_size)
  if args.flops_only:
    rows = [_rows_from_flops(spec, variant, params, batch_size)
            for spec, variant, params, batch_size in configs]
  else:
    rows = _measured_rows(configs, args)
  text = (format_csv if args.format == 'csv' else format_markdown)(rows)
  outputs = {args.output: text} if args.output else {}
  if args.plot:
    outputs[args.plot] = plot_png(rows)
  if args.csv:
    outputs[args.csv] = format_csv(rows)
  files.write_all_atomically(outputs)
  if not args.output:
    sys.stdout.write(text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
