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
included; ours is the installed `backbone-reuse-convert-detection`, which
starts its workers' fork server before its own imports), both with masks
and `--num_processes` worker processes. Prints the median wall and CPU time
(the command and its workers) of each, and the ratio, for the whole command
and per image (each also converts the first 8 images, and the difference
takes the start-up out: what a large set costs). Model Garden's converter
does not validate; ours checks the JSON and decodes every image as it
converts.

Measured 2026-12-07, the defaults (4,000 images, 2 workers, one run of
5.5 min): the whole command 1.05x Model Garden's throughput (17.4 s against
18.3 s; CPU 0.74x: the fork server imports TensorFlow a second time, on the
other core); per image 1.7 ms against 1.9 ms, 1.11x (CPU 1.10x); start-up
(8 images) 10.6 s against 10.8 s. A second run, the machine slower for
both: 1.17x whole (21.0 s against 24.7 s; CPU 0.79x), 1.44x per image
(2.1 ms against 3.0 ms). Before that day's two changes (the fork
server started when the workers were first needed, masks deflated as
Pillow's default): 0.63x whole, 0.95x per image, start-up 22.7 s against
11.8 s.

Run:
  python -m tests.benchmarks.convert_speed [--images 4000 --repeats 3 \
      --num_processes 2 --num_shards 4]
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import ctypes
import io
import json
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
    small = _first_images(annotations, SMALL_SET, os.path.join(tmp,
                                                               'small.json'))
    times = {(name, size): [] for name in ('model_garden', 'ours')
             for size in (SMALL_SET, args.images)}
    for _ in range(args.repeats):
      for name, size in times:
        times[name, size].append(_timed(_command(
            name, small if size == SMALL_SET else annotations, images,
            os.path.join(tmp, f'{name}_{size}'), args)))
  print(f'{args.images} images with masks, {args.num_processes} worker '
        f'processes, {args.num_shards} shards, median of {args.repeats} '
        'interleaved runs (TensorFlow import included):')
  medians = {key: {k: statistics.median(t[k] for t in runs)
                   for k in ('wall', 'cpu')} for key, runs in times.items()}
  for (name, size), m in medians.items():
    print(f'  {name:13s} {size:5d} images: wall {m["wall"]:6.1f} s   '
          f'CPU {m["cpu"]:6.1f} s')
  for key in ('wall', 'cpu'):
    whole = (medians['model_garden', args.images][key]
             / medians['ours', args.images][key])
    per_image = {name: (medians[name, args.images][key]
                        - medians[name, SMALL_SET][key])
                 / (args.images - SMALL_SET) for name in ('model_garden',
                                                          'ours')}
    print(f'  {key}: ours is {whole:.2f}x the throughput of Model Garden '
          f'for the whole command; per image beyond the first {SMALL_SET} '
          f'(the start-up taken out) {per_image["model_garden"] * 1e3:.1f} '
          f'ms against {per_image["ours"] * 1e3:.1f} ms, '
          f'{per_image["model_garden"] / per_image["ours"]:.2f}x')


# The start-up set: what a command costs before its images (TensorFlow's
# import, the fork server's), measured on this many images.
SMALL_SET = 8


def _first_images(annotation_file: str, count: int, path: str) -> str:
  """A copy of the annotation file with only its first `count` images."""
  with open(annotation_file) as f:
    content = json.load(f)
  content['images'] = content['images'][:count]
  kept = {image['id'] for image in content['images']}
  content['annotations'] = [a for a in content['annotations']
                            if a['image_id'] in kept]
  with open(path, 'w') as f:
    json.dump(content, f)
  return path


def _command(name: str, annotations: str, images: str, output: str,
             args: argparse.Namespace) -> List[str]:
  """The command line of one converter, as a user runs it."""
  common = [f'--num_shards={args.num_shards}',
            f'--num_processes={args.num_processes}']
  if name == 'model_garden':
    os.makedirs(output, exist_ok=True)
    return [sys.executable, '-m', 'official.vision.data.create_coco_tf_record',
            f'--image_dir={images}', f'--object_annotations_file={annotations}',
            f'--output_file_prefix={output}/train', '--include_masks', *common]
  return [os.path.join(os.path.dirname(sys.executable),  # the venv's
                       'backbone-reuse-convert-detection'),
          f'--annotation_file={annotations}', f'--image_dir={images}',
          f'--output_prefix={output}/train', '--overwrite', *common]


if __name__ == '__main__':
  main()
