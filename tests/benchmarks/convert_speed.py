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

"""Times `backbone-reuse-convert-detection` against Model Garden's
`create_coco_tf_record`, side by side.

Makes a procedural detection set (`--images` JPEGs with instance masks),
then converts it with both, interleaved (Model Garden, ours, Model Garden,
...), each as its own command as a user runs it (TensorFlow's import
included), both with masks and `--num_processes` worker processes. Prints
the median wall and CPU time (the command and its workers) of each, and the
ratio. Model Garden's converter does not validate; ours checks the JSON and
decodes every image as it converts. Measured 2026-12-04, 2,000 images, 2
workers: 0.56x Model Garden's throughput (wall; CPU 0.55x). Most of the gap
is a fixed cost of about 12 s: our workers come from a fork server that
imports TensorFlow once (`data_tools/parallel`); forked from the command
itself, as Model Garden's are, the same run measured 0.94x.

Run:
  python -m tests.benchmarks.convert_speed [--images 4000 --repeats 3 \
      --num_processes 2 --num_shards 4]
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import ctypes
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

from official_projects_backbone_reuse.data_tools import cli
from official_projects_backbone_reuse.data_tools import make_procedural_dataset

_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def detection_set(directory: str, images: int) -> Tuple[str, str]:
  """A procedural detection set of `images` JPEGs with masks (and a token
  classification set) in `directory`: its annotation file and image
  folder."""
  make_procedural_dataset.make_dataset(
      directory, seed=0, cls_images_per_class=1, cls_val_per_class=1,
      det_train_images=images, det_val_images=1,
      progress_stream=io.StringIO())
  detection = os.path.join(directory, 'detection')
  return (os.path.join(detection, 'annotations', 'train.json'),
          os.path.join(detection, 'train', 'images'))


def _timed(command: List[str]) -> Dict[str, float]:
  """Wall and CPU seconds of a command and all its descendants."""
  before = resource.getrusage(resource.RUSAGE_CHILDREN)
  start = time.perf_counter()
  subprocess.run(command, check=True, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
  wall = time.perf_counter() - start
  # A fork server outlives its command by a moment; being the subreaper,
  # this process waits for it so that its and its workers' CPU count.
  while True:
    try:
      os.waitpid(-1, 0)
    except ChildProcessError:
      break
  after = resource.getrusage(resource.RUSAGE_CHILDREN)
  cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
  return {'wall': wall, 'cpu': cpu}


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--images', type=int, default=4000)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--num_processes', type=int,
                      default=cli.default_processes())
  parser.add_argument('--num_shards', type=int, default=4)
  args = parser.parse_args(argv)
  ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1)  # see _timed
  with tempfile.TemporaryDirectory() as tmp:
    annotations, images = detection_set(os.path.join(tmp, 'world'),
                                        args.images)
    processes = str(args.num_processes)
    commands = {
        'model_garden': [
            sys.executable, '-m', 'official.vision.data.create_coco_tf_record',
            f'--image_dir={images}', f'--object_annotations_file={annotations}',
            f'--output_file_prefix={tmp}/mg/train', '--include_masks',
            f'--num_shards={args.num_shards}', f'--num_processes={processes}'],
        'ours': [
            sys.executable, '-m',
            'official_projects_backbone_reuse.data_tools.convert_detection',
            f'--annotation_file={annotations}', f'--image_dir={images}',
            f'--output_prefix={tmp}/ours/train', '--overwrite',
            f'--num_shards={args.num_shards}', f'--num_processes={processes}']}
    os.makedirs(f'{tmp}/mg')
    times = {name: [] for name in commands}
    for _ in range(args.repeats):
      for name, command in commands.items():
        times[name].append(_timed(command))
  print(f'{args.images} images with masks, {args.num_processes} worker '
        f'processes, {args.num_shards} shards, median of {args.repeats} '
        'interleaved runs (TensorFlow import included):')
  medians = {name: {k: statistics.median(t[k] for t in runs)
                    for k in ('wall', 'cpu')}
             for name, runs in times.items()}
  for name, m in medians.items():
    print(f'  {name:13s} wall {m["wall"]:6.1f} s   CPU {m["cpu"]:6.1f} s')
  for key in ('wall', 'cpu'):
    ratio = medians['model_garden'][key] / medians['ours'][key]
    print(f'  {key}: ours is {ratio:.2f}x the throughput of Model Garden')


if __name__ == '__main__':
  main()
