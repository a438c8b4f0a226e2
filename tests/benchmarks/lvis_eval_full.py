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

"""LVIS evaluation with masks at full size, end to end: time and memory.

A synthetic LVIS v1 val of the real size (19,809 images of 400-640 px,
1,203 categories with r/c/f frequencies, `lvis_eval_speed.synthetic_lvis`),
300 detections an image with 28 x 28 masks in 360 slots, handed to
`LVISEvaluator.update_state` batch by batch as a Model Garden evaluation
hands them over (`mask_eval_speed.model_garden_batches`), then `result()`:
box and mask AP. Prints the wall and CPU time of the updates (the mask
conversion; making the synthetic batches is not counted) and of `result()`,
and the process's peak resident memory.

  python -m tests.benchmarks.lvis_eval_full [--images 19809]
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import time
from typing import Dict, Optional, Sequence

from tests.benchmarks import mask_eval_speed


def _memory_mb(key: str) -> float:
  """VmHWM (peak) or VmRSS (now) of this process, in MB."""
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith(key + ':'):
        return int(line.split()[1]) / 1024
  return float('nan')


def run(num_images: int, detections: int, slots: int,
        batch_size: int, seed: int) -> Dict[str, float]:
  """Evaluates the synthetic set; prints and returns the figures."""
  gt, dets, evaluator = mask_eval_speed.masked_lvis(num_images, 1203,
                                                    detections, seed)
  update = {'wall': 0.0, 'cpu': 0.0}
  before = _memory_mb('VmRSS')  # the synthetic set, made before evaluating
  for predictions in mask_eval_speed.model_garden_batches(
      gt, dets, slots, detections, seed, batch_size):
    wall, cpu = time.perf_counter(), time.process_time()
    evaluator.update_state(None, predictions)
    update['wall'] += time.perf_counter() - wall
    update['cpu'] += time.process_time() - cpu
  held = _memory_mb('VmRSS')  # the set and the converted detections
  wall, cpu = time.perf_counter(), time.process_time()
  metrics = evaluator.result()
  result_wall = time.perf_counter() - wall
  result_cpu = time.process_time() - cpu
  figures = {'update_wall_s': update['wall'], 'update_cpu_s': update['cpu'],
             'result_wall_s': result_wall, 'result_cpu_s': result_cpu,
             'total_wall_s': update['wall'] + result_wall,
             'peak_rss_mb': _memory_mb('VmHWM'), 'data_rss_mb': before,
             'held_rss_mb': held,
             'AP': float(metrics['AP']),
             'mask_AP': float(metrics['mask_AP'])}
  print(f'{num_images} images, {detections} detections with 28x28 masks '
        f'in {slots} slots each, batches of {batch_size}.')
  print(f'update_state (mask conversion): wall {update["wall"]:.0f} s, CPU '
        f'{update["cpu"]:.0f} s')
  print(f'result (box and mask evaluation): wall {result_wall:.0f} s, CPU '
        f'{result_cpu:.0f} s')
  print(f'evaluator total: wall {figures["total_wall_s"]:.0f} s '
        f'({figures["total_wall_s"] / 60:.1f} min); peak resident memory of '
        f'the process {figures["peak_rss_mb"]:,.0f} MB, of which the '
        f'synthetic set held {before:,.0f} MB before the first batch and '
        f'{held:,.0f} MB with the converted detections after the last; AP '
        f'{figures["AP"]:.3f}, mask AP {figures["mask_AP"]:.3f}')
  return figures


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--images', type=int,
                      default=mask_eval_speed.LVIS_VAL_IMAGES)
  parser.add_argument('--detections', type=int, default=300)
  parser.add_argument('--slots', type=int, default=360)
  parser.add_argument('--batch_size', type=int, default=8)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  run(args.images, args.detections, args.slots, args.batch_size, args.seed)
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
