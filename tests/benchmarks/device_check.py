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

"""The device check: the paper's Figure 1 (right) measured on an accelerator.

One command for a GPU owner, and for this project whenever a GPU machine is
lent to it:

  python -m tests.benchmarks.device_check --output_dir runs/device_check

Faster R-CNN on ResNet-50 and ResNet-101 with FPN, and on ResNet-101 with
NAS-FPN (the paper's 72-epoch recipes), at 1024 x 1024, 8 images a step;
fine-tuned, frozen, and frozen with parallel adapters (the paper's three);
each in float32, in mixed float16 with a dynamic loss scale, and in mixed
float16 compiled with XLA (`experiments/runtime/gpu_mixed_float16.yaml`,
`xla.yaml`): 27 cells. `backbone-reuse-resources` measures every cell in
processes of its own, interleaved (each cell's first process before any
cell's second): step time (median of a process's steps, then of the
processes, with their range), images per second, CPU time, training and
peak device memory (TensorFlow's allocator on a GPU), FLOPs and trained
parameters; with `--memory_budget MB` also the largest batch whose peak
fits. It writes <output_dir>/device_check.md (the table), .csv and .png
(each variant against fine-tuning: Figure 1, right).

Sized for 10 minutes on one H100 by `--time_limit_s` (default 540): no
process starts after it, and the cells it left are named under the table.
The cells are ordered so that the ResNet-50 FPN row comes first.

`--tiny` runs the same plumbing at 128 x 128 on the small world's RetinaNet,
one image, one step, float32 and mixed float16 + XLA: what
tests/test_resources.py runs on a CPU.
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import os
import sys
from typing import List, Optional, Sequence

from official_projects_backbone_reuse.analysis import resources
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import recipes as recipes_lib

MODELS = ('faster_rcnn_r50_fpn_72ep', 'faster_rcnn_r101_fpn_72ep',
          'faster_rcnn_r101_nasfpn_72ep')
TINY_MODEL = ('backbone_reuse_retinanet:'
              + recipes_lib.experiment_file('small/retinanet_frozen.yaml'))
MIXED = recipes_lib.experiment_file('runtime/gpu_mixed_float16.yaml')
XLA = recipes_lib.experiment_file('runtime/xla.yaml')
RUNTIMES = ((), (MIXED,), (MIXED, XLA))  # float32, mixed, mixed + XLA
VARIANTS = 'finetune,frozen,parallel'
OUTPUTS = ('device_check.md', 'device_check.csv', 'device_check.png')


def specs(tiny: bool) -> List[str]:
  """NAME:FILE+FILE of every model in every runtime, in measuring order."""
  models = (TINY_MODEL,) if tiny else MODELS
  runtimes = (RUNTIMES[0], RUNTIMES[2]) if tiny else RUNTIMES
  out = []
  for model in models:
    for files in runtimes:
      separator = '+' if ':' in model else ':'
      out.append(model + (separator + '+'.join(files) if files else ''))
  return out


def resources_argv(args) -> List[str]:
  """The `backbone-reuse-resources` arguments of the check."""
  paths = [os.path.join(args.output_dir, name) for name in OUTPUTS]
  argv = specs(args.tiny) + [
      f'--variants={VARIANTS}', f'--output={paths[0]}', f'--csv={paths[1]}',
      f'--plot={paths[2]}', f'--repeats={args.repeats}',
      f'--steps={args.steps}', f'--warmup={args.warmup}',
      f'--batch_size={args.batch_size}', f'--input_size={args.input_size}',
      f'--time_limit_s={args.time_limit_s}']
  if args.memory_budget:
    argv.append(f'--memory_budget={args.memory_budget}')
  if args.overwrite:
    argv.append('--overwrite')
  return argv


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='python -m tests.benchmarks.device_check', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--output_dir', required=True)
  parser.add_argument('--tiny', action='store_true',
                      help='the plumbing at 128 px on a CPU, for the test')
  parser.add_argument('--repeats', type=int, default=None,
                      help='processes per cell (default 2; tiny 1)')
  parser.add_argument('--steps', type=int, default=None,
                      help='steps timed per process (default 10; tiny 1)')
  parser.add_argument('--warmup', type=int, default=None,
                      help='steps before timing (default 3; tiny 1)')
  parser.add_argument('--batch_size', type=int, default=None,
                      help='images a step (default 8; tiny 1)')
  parser.add_argument('--input_size', type=int, default=None,
                      help='N x N images (default 1024; tiny 128)')
  parser.add_argument('--time_limit_s', type=int, default=540)
  parser.add_argument('--memory_budget', type=int, default=None,
                      help='MB: also search the largest batch that fits')
  parser.add_argument('--overwrite', action='store_true',
                      help='replace the outputs of an earlier check')
  return parser


@errors.exits_on_error
def main(argv: Optional[Sequence[str]] = None) -> int:
  args = _parser().parse_args(argv)
  defaults = ((1, 1, 1, 1, 128) if args.tiny else (2, 10, 3, 8, 1024))
  for name, default in zip(('repeats', 'steps', 'warmup', 'batch_size',
                            'input_size'), defaults):
    if getattr(args, name) is None:
      setattr(args, name, default)
  if os.path.exists(args.output_dir) and not os.path.isdir(args.output_dir):
    raise ConfigError(f'--output_dir={args.output_dir}: is a file, not a '
                      'folder.')
  made = not os.path.exists(args.output_dir)
  os.makedirs(args.output_dir, exist_ok=True)
  try:
    status = resources.main(resources_argv(args))
  finally:  # an error, Ctrl-C or SIGTERM leaves no empty folder behind
    if made and not os.listdir(args.output_dir):
      os.rmdir(args.output_dir)
  if status == 0:
    print(f'Wrote {", ".join(OUTPUTS)} in {args.output_dir}.')
  return status


if __name__ == '__main__':
  sys.exit(main())
