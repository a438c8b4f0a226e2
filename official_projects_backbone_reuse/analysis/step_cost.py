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

"""Measures the step time and peak memory of a detector's training step.

Both are measured in a process of its own (`backbone-reuse-resources` forks
one per variant and repeat from a fork server that has imported this
module, interleaved, so that the variants share the machine's noise).

The step is the task's own `train_step` (forward, losses, gradients, the
optimizer update) on one synthetic batch made by the task's input pipeline
(`train_flops.synthetic_batch`), run as `tf.function` like Model Garden's
trainer does, so the input pipeline is not timed. After `warmup` steps
(tracing, optimizer slots), `steps` steps are timed one by one: wall time
and the process's CPU time (all threads).

Memory. On a GPU: `tf.config.experimental.get_memory_info`, its peak reset
after the warm-up. On the CPU: the process's resident set (Linux /proc),
its high-water mark reset after the warm-up (`/proc/self/clear_refs`), so
that graph tracing, which can need more than a step, is not counted.
`baseline` is the memory in use after the model and the batch are built,
before the first step; `peak - baseline` is what training adds (optimizer
slots, gradients, activations), the figure the variants differ in.

  python -m official_projects_backbone_reuse.analysis.step_cost NAME[:FILE] \\
      --variant frozen --batch_size 2 [--input_size 256] [--flops]

prints one JSON object on its last line of stdout; a batch that does not fit
ends with exit status 3 (`OUT_OF_MEMORY`).
"""
import argparse
import json
import os
import signal
import sys
import time
from typing import Dict, Optional, Sequence

import tensorflow as tf

from official.core import config_definitions as cfg
from official.core import task_factory
from official.modeling import performance

from official_projects_backbone_reuse import registry_imports  # pylint: disable=unused-import
from official_projects_backbone_reuse.analysis import report
from official_projects_backbone_reuse.analysis import train_flops
from official_projects_backbone_reuse.analysis import variants
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.modeling import parameters

OUT_OF_MEMORY = 3


def _gpu() -> Optional[str]:
  return 'GPU:0' if tf.config.list_logical_devices('GPU') else None


def _proc_status(key: str) -> int:
  """A /proc/self/status memory field (e.g. VmRSS, VmHWM), in bytes."""
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith(key + ':'):
        return int(line.split()[1]) * 1024
  raise RuntimeError(f'/proc/self/status has no {key}')


def memory_in_use() -> int:
  gpu = _gpu()
  if gpu:
    return tf.config.experimental.get_memory_info(gpu)['current']
  return _proc_status('VmRSS')


def reset_peak() -> None:
  gpu = _gpu()
  if gpu:
    tf.config.experimental.reset_memory_stats(gpu)
    return
  with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')  # Linux: resets the resident set's high-water mark.


def peak_memory() -> int:
  gpu = _gpu()
  if gpu:
    return tf.config.experimental.get_memory_info(gpu)['peak']
  return _proc_status('VmHWM')


def measure(params: cfg.ExperimentConfig, batch_size: int, steps: int,
            warmup: int, count_flops: bool = False) -> Dict:
  """Measures the time and memory of training steps.

  Times `steps` training steps after `warmup` ones; memory; optionally
  the FLOPs and parameters (one trace serves both)."""
  if params.runtime.mixed_precision_dtype:  # as Model Garden's train.py
    performance.set_mixed_precision_policy(params.runtime.mixed_precision_dtype)
  tf.random.set_seed(0)
  task = task_factory.get_task(params.task)
  model = task.build_model()
  optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                    params.runtime)
  batch = train_flops.synthetic_batch(task, params.task.train_data,
                                      batch_size,
                                      params.task.model.input_size[0])
  # Compiled with XLA under runtime.enable_xla, as Model Garden's trainer
  # compiles a GPU's step (a TPU's always is).
  step = tf.function(lambda inputs: task.train_step(inputs, model, optimizer),
                     jit_compile=bool(params.runtime.enable_xla))

  def run_step():
    logs = step(batch)
    return float(logs[task.loss])  # waits for the step to finish

  baseline = memory_in_use()
  for _ in range(warmup):
    run_step()
  reset_peak()
  cpu, wall = [], []
  for _ in range(steps):
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    loss = run_step()
    wall.append(time.perf_counter() - wall_start)
    cpu.append(time.process_time() - cpu_start)
  result = {'device': 'gpu' if _gpu() else 'cpu', 'batch_size': batch_size,
            'wall_s': wall, 'cpu_s': cpu, 'loss': loss,
            'baseline_bytes': baseline, 'peak_bytes': peak_memory()}
  if count_flops:
    flops = train_flops.count(
        model, lambda inputs: task.train_step(inputs, model, optimizer), batch)
    result['flops'] = {'forward': flops.forward, 'backward': flops.backward}
    result['parameters'] = {
        name: [count.total, count.trained]
        for name, count in parameters.count_parameters(model).items()}
  return result


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m official_projects_backbone_reuse.analysis.step_cost',
      description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('experiment', metavar='NAME[:FILE[+FILE]]')
  parser.add_argument('--variant', required=True)
  parser.add_argument('--params_override', default='')
  parser.add_argument('--input_size', type=int, default=None)
  parser.add_argument('--batch_size', type=int, required=True)
  parser.add_argument('--steps', type=int, default=5)
  parser.add_argument('--warmup', type=int, default=2)
  parser.add_argument('--flops', action='store_true',
                      help='also count FLOPs and parameters')
  return parser


@errors.exits_on_error
def main(argv: Optional[Sequence[str]] = None) -> int:
  args = _parser().parse_args(argv)
  [(_, params)] = report.load_specs([args.experiment], args.params_override,
                                    args.input_size)
  params = variants.variant_config(params, args.variant, args.input_size)
  try:
    result = measure(params, args.batch_size, args.steps, args.warmup,
                     args.flops)
  except tf.errors.ResourceExhaustedError as e:
    print(f'error: out of memory at batch size {args.batch_size}: '
          f'{errors.first_line(e)}', file=sys.stderr, flush=True)
    return OUT_OF_MEMORY
  print(json.dumps(result), flush=True)
  return 0


def main_in_child(argv: Sequence[str], stdout_path: str,
                  stderr_path: str) -> None:
  """Runs `main` in a process that `resources` forked.

  `main` in a process that `resources` forked: its output to files
  (TensorFlow's C++ logs too), its exit status the process's."""
  signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it
  for fd, path in ((1, stdout_path), (2, stderr_path)):
    opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(opened, fd)
    os.close(opened)
  sys.exit(main(argv))


if __name__ == '__main__':
  sys.exit(main())
