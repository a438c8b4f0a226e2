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

"""float32 against bfloat16 on the default job: step time and val AP.

Makes (or reuses) the default job's world and upstream classifier in
--workdir, then, for the default job's detector (RetinaNet + FPN on the
frozen ResNet-18, `experiments/small/retinanet_frozen.yaml`):

  - step time: `backbone-reuse-resources`' measurement of one training
    step (its `step_cost` process), one process per precision, interleaved
    (A B A B) `--repeats` times; medians of wall and CPU time;
  - accuracy: the detector trained and evaluated as the default job does,
    once per precision and seed, interleaved (f32 s0, bf16 s0, f32 s1 ...),
    each its own `train.py` process (`task.train_data.seed` = the seed; the
    heads' initialisation is not seeded, as in any run). Finished runs are
    reused.

With --upstream, the upstream classifier's pre-training instead
(`experiments/small/upstream_classification.yaml`, the default job's
step 3) once per precision and seed, interleaved the same way: val top-1,
training steps per second as Model Garden logs them, and the run's wall
time.

Prints a markdown table, also written to <workdir>/precision.md
(precision_upstream.md with --upstream).

  python -m tests.benchmarks.precision --workdir runs/default_job \\
      [--seeds 0,1,2] [--repeats 3] [--upstream] [the default job's scale
      flags]
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import json
import os
import re
import statistics
import time
from typing import Callable, Dict, List

from official_projects_backbone_reuse.analysis import resources
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.jobs import default_job
from official_projects_backbone_reuse.jobs import steps

DTYPES = ('float32', 'bfloat16')
_TRAIN_RATE = re.compile(r'train \| step: +\d+ \| steps/sec: +([0-9.]+)')


def step_times(repeats: int) -> Dict[str, List[Dict]]:
  """{dtype: step_cost results}, processes interleaved."""
  spec = (f'{default_job.DETECTOR_EXPERIMENT}:'
          f'{steps.small_experiment(default_job.DETECTOR_YAML)}')
  results = {dtype: [] for dtype in DTYPES}
  for repeat in range(repeats):
    for dtype in DTYPES:
      print(f'step time, {dtype}, process {repeat + 1}/{repeats}', flush=True)
      results[dtype].append(resources.measure_in_process(
          spec, 'frozen', batch_size=8, steps=5, warmup=2,
          params_override=f'runtime.mixed_precision_dtype={dtype}'))
  return results


def _runs(world: steps.World, seeds: List[int], prefix: str,
          command: Callable[[str, List[str]], List[str]], after: str
          ) -> Dict[str, Dict[int, Dict]]:
  """{dtype: {seed: metrics and wall seconds}}: `command(model_dir,
  overrides)` once per precision and seed, interleaved; a run finished from
  the same inputs (its command, the world's step `after`) is reused."""
  runs = {dtype: {} for dtype in DTYPES}
  for seed in seeds:
    for dtype in DTYPES:
      name = f'{prefix}_{dtype}_seed{seed}'
      model_dir = world.path(name)
      log = os.path.join(world.logs, f'{name}.log')
      seconds = None
      cmd = command(model_dir, [f'runtime.mixed_precision_dtype={dtype}',
                                f'task.train_data.seed={seed}'])
      if not world.done(name, os.path.join(model_dir, 'metrics.json'),
                        steps.command_inputs(cmd, world.inputs[after])):
        start = time.time()
        steps.run_logged(cmd, log)
        seconds = time.time() - start
      runs[dtype][seed] = dict(
          steps.metrics(model_dir), seconds=seconds,
          train_steps_per_second=_train_rate(log))
  return runs


def _train_rate(log_path: str) -> float:
  """The median of the training steps per second a run's log shows.

  Model Garden logs one per `steps_per_loop`; the first, which includes
  tracing, is left out. (metrics.json's `steps_per_second` is the final
  evaluation's.)"""
  with open(log_path) as f:
    rates = [float(m.group(1)) for m in _TRAIN_RATE.finditer(f.read())]
  return statistics.median(rates[1:] or rates)


def train_runs(world: steps.World, scale: steps.Scale,
               seeds: List[int]) -> Dict[str, Dict[int, Dict]]:
  """The detector's runs (`_runs`)."""
  overrides = default_job.detector_overrides(world, scale)
  detector_yaml = steps.small_experiment(default_job.DETECTOR_YAML)
  return _runs(world, seeds, 'precision', lambda model_dir, extra: (
      steps.train_cmd(default_job.DETECTOR_EXPERIMENT, [detector_yaml],
                      'train_and_eval', model_dir, overrides + extra)),
               'upstream')


def upstream_runs(world: steps.World, scale: steps.Scale,
                  seeds: List[int]) -> Dict[str, Dict[int, Dict]]:
  """The upstream classifier's pre-training runs (`_runs`)."""
  with open(os.path.join(world.path('data'), 'dataset.json')) as f:
    num_classes = json.load(f)['num_classes']
  return _runs(world, seeds, 'precision_upstream', lambda model_dir, extra: (
      steps.pretrain_cmd(world, model_dir, 'cls', scale.upstream_steps,
                         num_classes, extra)), 'tfrecords')


def upstream_table(runs, seeds) -> str:
  median = statistics.median
  lines = ['| upstream precision | '
           + ' | '.join(f'top-1 seed {s}' for s in seeds)
           + ' | top-1 mean ± std | train steps/s (median) | vs float32 | '
           'run s (train + eval) |', '|---|' + '---:|' * (len(seeds) + 4)]
  rate = {d: median(runs[d][s]['train_steps_per_second'] for s in seeds)
          for d in DTYPES}
  for dtype in DTYPES:
    top1 = [runs[dtype][s]['accuracy'] for s in seeds]
    seconds = [runs[dtype][s]['seconds'] for s in seeds
               if runs[dtype][s]['seconds'] is not None]
    lines.append(
        f'| {dtype} | ' + ' | '.join(f'{a:.3f}' for a in top1)
        + f' | {_mean_std(top1)} | {rate[dtype]:.2f} | '
        f'{rate[dtype] / rate["float32"]:.2f} | '
        + (f'{median(seconds):.0f}' if seconds else '-') + ' |')
  return '\n'.join(lines) + '\n'


def _mean_std(values: List[float]) -> str:
  if len(values) < 2:
    return f'{values[0]:.3f}'
  return f'{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}'


def table(times, runs, seeds) -> str:
  median = statistics.median
  wall = {d: median(median(r['wall_s']) for r in times[d]) for d in DTYPES}
  lines = ['| precision | step s, wall | step CPU-s | vs float32 | '
           + ' | '.join(f'AP seed {s}' for s in seeds)
           + ' | AP mean ± std | AP50 mean ± std | run s (train + eval) |',
           '|---|' + '---:|' * (6 + len(seeds))]
  for dtype in DTYPES:
    cpu = median(median(r['cpu_s']) for r in times[dtype])
    aps = [runs[dtype][s]['AP'] for s in seeds]
    ap50s = [runs[dtype][s]['AP50'] for s in seeds]
    seconds = [runs[dtype][s]['seconds'] for s in seeds
               if runs[dtype][s]['seconds'] is not None]
    lines.append(
        f'| {dtype} | {wall[dtype]:.3f} | {cpu:.3f} | '
        f'{wall[dtype] / wall["float32"]:.2f} | '
        + ' | '.join(f'{ap:.3f}' for ap in aps)
        + f' | {_mean_std(aps)} | {_mean_std(ap50s)} | '
        + (f'{median(seconds):.0f}' if seconds else '-') + ' |')
  return '\n'.join(lines) + '\n'


def main():
  parser = steps.job_arguments(__doc__.split('\n\n')[0])
  parser.add_argument('--seeds', default='0,1,2')
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--upstream', action='store_true',
                      help='pre-train the upstream in both precisions '
                      'instead of training the detector')
  args = parser.parse_args()
  seeds = [int(s) for s in args.seeds.split(',')]
  scale = steps.scale_of(args)
  world = steps.prepare_world(args.workdir, scale, total_steps=3)
  if args.upstream:
    name = 'precision_upstream'
    runs = upstream_runs(world, scale, seeds)
    text = upstream_table(runs, seeds)
    results = {'upstream_runs': runs}
  else:
    name = 'precision'
    times = step_times(args.repeats)
    runs = train_runs(world, scale, seeds)
    text = table(times, runs, seeds)
    results = {'step_cost': times, 'runs': runs}
  files.write_all_atomically({
      world.path(f'{name}.md'): text,
      world.path(f'{name}.json'): json.dumps(results, indent=1)})
  print(text)


if __name__ == '__main__':
  main()
