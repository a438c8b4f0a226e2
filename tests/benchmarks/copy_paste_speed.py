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

"""Input throughput of the Mask R-CNN training pipeline with and without
Copy-Paste, side by side.

Makes a procedural detection set with masks (`--images`), converts it, and
times Model Garden's Mask R-CNN training input (`task.build_inputs`, LSJ
`--scale_min`..`--scale_max`) built three ways: plain, with
`task.train_data.copy_paste`, and with Copy-Paste and a seed (every draw
stateless: should cost nothing), interleaved (plain, copy-paste, seeded,
plain, ...), each reading `--batches` batches after one warm-up batch.
Prints the median images/s of each and the ratios to plain.

Measured 2026-12-03 (200 images, 256 px, LSJ 0.1-2.0, 2 cores, machine
otherwise idle): medians of 5 interleaved runs 1.58x and 1.52x the time of
plain LSJ (1.55x and 1.56x seeded); runs of 3 repeats 1.7-1.8x. It was
2.2x before masks stayed uint8 from the decoder on, the image was
resampled by one ScaleAndTranslate and only the chosen source objects'
masks were resampled; 2.4x (3.0x seeded) before the jitter computed only
output pixels from stateless seeds. What is left: the second decode, the
two jitters and the parse of the composite (Model Garden's parser resizes
it again at scale 1). At 1024 and 1280 px (2026-12-07, 30 batches): 4.5x
and 6.0x the time of plain LSJ, 7.4 and 5.1 images per CPU-second against
33.5 and 29.8 (the README's table). Each line also prints the images per
CPU-second (all threads: one host core's rate) and the host cores a
batch-64 step needs at a few step times.

Run:
  python -m tests.benchmarks.copy_paste_speed [--images 200 --batches 60 \
      --batch_size 8 --input_size 256 --repeats 3]
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import io
import os
import statistics
import tempfile
import time
from typing import Optional, Sequence, Tuple

from official.core import task_factory

from official_projects_backbone_reuse.data_tools import convert_detection
from tests import reuse_helpers as h
from tests.benchmarks import convert_speed


# Step times of a batch-64 accelerator step, for the host cores it needs
# (this machine has no TPU: the step time is the reader's).
STEP_TIMES = (0.25, 0.5, 1.0)


def _images_per_second(pattern, args, copy_paste, seed) -> Tuple[float,
                                                                 float]:
  """Images a second of wall time, and a second of CPU time (all threads:
  the rate of one host core)."""
  params = h.set_data(h.maskrcnn_config(input_size=args.input_size), pattern,
                      batch=args.batch_size)
  data = params.task.train_data
  data.shuffle_buffer_size = 100
  data.parser.aug_scale_min, data.parser.aug_scale_max = (args.scale_min,
                                                          args.scale_max)
  data.copy_paste.enabled = copy_paste
  data.seed = seed
  batches = iter(task_factory.get_task(params.task).build_inputs(data))
  next(batches)  # tracing and the first fill of the buffers
  start, cpu = time.perf_counter(), time.process_time()
  for _ in range(args.batches):
    next(batches)
  images = args.batches * args.batch_size
  return (images / (time.perf_counter() - start),
          images / (time.process_time() - cpu))


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--images', type=int, default=200)
  parser.add_argument('--batches', type=int, default=60)
  parser.add_argument('--batch_size', type=int, default=8)
  parser.add_argument('--input_size', type=int, default=256)
  parser.add_argument('--scale_min', type=float, default=0.1)
  parser.add_argument('--scale_max', type=float, default=2.0)
  parser.add_argument('--repeats', type=int, default=3)
  args = parser.parse_args(argv)
  with tempfile.TemporaryDirectory() as tmp:
    annotations, images = convert_speed.detection_set(
        os.path.join(tmp, 'world'), args.images)
    convert_detection.convert_detection(
        annotations, images, os.path.join(tmp, 'train'), num_shards=2,
        progress_stream=io.StringIO())
    pattern = os.path.join(tmp, 'train-*')
    ways = {'plain LSJ': (False, None), 'copy-paste': (True, None),
            'copy-paste, seeded': (True, 0)}
    rates = {name: [] for name in ways}
    per_core = {name: [] for name in ways}
    for _ in range(args.repeats):
      for name, (copy_paste, seed) in ways.items():
        wall, cpu = _images_per_second(pattern, args, copy_paste, seed)
        rates[name].append(wall)
        per_core[name].append(cpu)
  print(f'Mask R-CNN training input, {args.input_size} px, batch '
        f'{args.batch_size}, LSJ {args.scale_min}-{args.scale_max}, '
        f'{args.batches} batches, median of {args.repeats} interleaved '
        f'runs, {os.cpu_count()} cores:')
  plain = statistics.median(rates['plain LSJ'])
  for name, found in rates.items():
    rate, core = statistics.median(found), statistics.median(per_core[name])
    print(f'  {name:20s} {rate:6.1f} images/s   {plain / rate:4.2f}x the '
          f'time of plain LSJ   {core:5.1f} images per CPU-second; host '
          'cores a step of batch 64 needs at '
          + ', '.join(f'{t} s: {64 / (t * core):.0f}' for t in STEP_TIMES))


if __name__ == '__main__':
  main()
