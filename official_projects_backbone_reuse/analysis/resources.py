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
import dataclasses
import json
import multiprocessing
import os
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from official_projects_backbone_reuse.analysis import report
from official_projects_backbone_reuse.analysis import resource_tables
from official_projects_backbone_reuse.analysis import step_cost
from official_projects_backbone_reuse.analysis import train_flops
from official_projects_backbone_reuse.analysis import variants
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.common.errors import UserError
from official_projects_backbone_reuse.modeling import parameters


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


def _rows_from_flops(spec, variant, params, batch_size):
  print(f'{spec} {variant}: tracing a training step of {batch_size} '
        'image(s)', file=sys.stderr, flush=True)
  flops, model = train_flops.training_step_flops(params, batch_size)
  return {'experiment': spec, 'variant': variant, 'batch_size': batch_size,
          'flops': flops, 'parameters': parameters.count_parameters(model)}


def _measured_rows(configs, args) -> List[Dict]:
  """Every (spec, variant) measured in processes of its own, interleaved.

  With `--time_limit_s`, no process starts after the limit: a cell not
  measured once is left out of the rows (`main` names it under the table),
  and a largest-batch search not finished says so."""
  deadline = (time.monotonic() + args.time_limit_s if args.time_limit_s
              else float('inf'))
  measured = {(spec, variant): [] for spec, variant, _, _ in configs}
  for repeat in range(args.repeats):
    for spec, variant, _, batch_size in configs:
      if time.monotonic() > deadline:
        break
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
    if not results:
      continue
    first = results[0]
    rows.append({
        'experiment': spec, 'variant': variant, 'batch_size': batch_size,
        'flops': train_flops.StepFlops(first['flops']['forward'],
                                       first['flops']['backward']),
        'parameters': {name: parameters.ParameterCount(*count)
                       for name, count in first['parameters'].items()},
        'cost': summarise(results)})
  if args.memory_budget:
    budget = args.memory_budget * resource_tables.MB
    for row in rows:
      print(f'{row["experiment"]} {row["variant"]}: searching the largest '
            f'batch within {args.memory_budget:,} MB', file=sys.stderr,
            flush=True)

      def fits(batch_size, row=row):
        if time.monotonic() > deadline:
          raise _TimeUp()
        result = measure_in_process(row['experiment'], row['variant'],
                                    batch_size, 1, 1, args.params_override,
                                    args.input_size)
        return result is not None and result['peak_bytes'] <= budget

      try:
        found = largest_batch(fits, args.max_batch)
      except _TimeUp:
        found = 'time limit'
      row['cost'] = dataclasses.replace(row['cost'], largest_batch=found)
  return rows


class _TimeUp(Exception):
  """`--time_limit_s` passed during a largest-batch search."""


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
  parser.add_argument('--time_limit_s', type=int, default=None,
                      help='start no measuring process after this many '
                      'seconds; the cells not measured are named under '
                      'the table')
  parser.add_argument('--plot', help='write the Figure 1 (right) PNG here')
  parser.add_argument('--csv', help='also write the table as CSV here')
  return parser


def _check(args) -> None:
  for name in ('batch_size', 'repeats', 'steps', 'warmup', 'memory_budget',
               'max_batch', 'time_limit_s'):
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
    if not rows:
      raise UserError(f'nothing measured within --time_limit_s='
                      f'{args.time_limit_s}.')
  text = (resource_tables.format_csv if args.format == 'csv'
          else resource_tables.format_markdown)(rows)
  left = [f'{spec} {variant}' for spec, variant, _, _ in configs
          if not any(r['experiment'] == spec and r['variant'] == variant
                     for r in rows)]
  if left and args.format != 'csv':
    text += (f'\nNot measured within --time_limit_s={args.time_limit_s}: '
             f'{", ".join(left)}.\n')
  outputs = {args.output: text} if args.output else {}
  if args.plot:
    outputs[args.plot] = resource_tables.plot_png(rows)
  if args.csv:
    outputs[args.csv] = resource_tables.format_csv(rows)
  files.write_all_atomically(outputs)
  if not args.output:
    sys.stdout.write(text)
  return 0


if __name__ == '__main__':
  sys.exit(main())
