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

"""Makes low-label training sets from a detection set.

Low-label training sets: a percentage of a detection set's images with
their labels, as the semi-supervised detection splits (COCO 1 / 5 / 10 %)
that AlignDet's low-label results use.

From a COCO-format annotation file, writes into `--output_dir`
`{percent}pct_seed{S}.json` for each percentage and seed: the first
`max(1, round(percent / 100 * images))` images of one seeded shuffle of all
images (Python's `random.Random(seed).shuffle` over file order), with all
their objects and the same categories; images keep their file order. One
shuffle per seed, so a smaller set lies inside every larger one of the
same seed, and the sets differ only in how many labels they hold. For
`backbone-reuse-convert-detection` with the full set's `--image_dir`; the
input is first checked as that converter checks it (an annotation of an
unknown image, an empty `images`: one line naming the file, nothing
written).
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import json
import os
import random
import sys
from typing import Dict, List, Optional, Sequence

from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.data_tools import coco_json
from official_projects_backbone_reuse.data_tools.cli import DataError
from official_projects_backbone_reuse.data_tools.cli import command_parser
from official_projects_backbone_reuse.data_tools.cli import numbers
from official_projects_backbone_reuse.data_tools.cli import run_main
from official_projects_backbone_reuse.data_tools.few_shot import subset


def fractions(content: dict, percents: Sequence[float], seed: int
              ) -> Dict[float, dict]:
  """percent -> the annotation file of that share of the images."""
  order = [image['id'] for image in content['images']]
  random.Random(seed).shuffle(order)
  objects: Dict[int, List[dict]] = {}
  for ann in content['annotations']:
    objects.setdefault(ann['image_id'], []).append(ann)
  sets = {}
  for percent in percents:
    count = max(1, round(percent / 100 * len(order)))
    sets[percent] = subset(content, {i: objects.get(i, [])
                                     for i in order[:count]})
  return sets


def write_fractions(annotation_file: str, output_dir: str,
                    percents: Sequence[float], seeds: Sequence[int],
                    overwrite: bool = False) -> dict:
  """Writes every (percent, seed) set, all or nothing; the summary."""
  bad = [p for p in percents if not 0 < p <= 100]
  if not percents or bad:
    raise DataError(f'--percents: expected numbers in (0, 100], found '
                    f'{list(percents)}')
  if not seeds or min(seeds) < 0:
    raise DataError(f'--seeds: expected non-negative seeds, found '
                    f'{list(seeds)}')
  path = lambda percent, seed: os.path.join(output_dir,
                                            f'{percent:g}pct_seed{seed}.json')
  files.check_outputs([files.Output('--output_dir', path(p, s))
                       for s in seeds for p in percents],
                      [('--annotation_file', annotation_file)], overwrite)
  content = coco_json.load_annotations(annotation_file)
  # The converter's record checks: an annotation of an unknown image would
  # be dropped without a word, a file without images would give empty sets.
  coco_json.check_annotations(annotation_file, content,
                                      include_masks=False)
  outputs, summary = {}, {'annotation_file': annotation_file, 'sets': {}}
  for seed in seeds:
    for percent, chosen in fractions(content, percents, seed).items():
      outputs[path(percent, seed)] = json.dumps(chosen)
      summary['sets'][f'{percent:g}pct_seed{seed}'] = {'images': len(chosen['images']),
                               'annotations': len(chosen['annotations'])}
  files.write_all_atomically(outputs)
  summary['output_files'] = sorted(outputs)
  return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Command line entry point; returns the exit status."""
  parser = command_parser(
      'backbone-reuse-label-fraction', 'Write low-label training sets (a '
      'seeded percentage of the images, with their labels) of a detection '
      'set.')
  parser.add_argument('--annotation_file', required=True)
  parser.add_argument('--output_dir', required=True)
  parser.add_argument('--overwrite', action='store_true',
                      help='replace sets of an earlier run that exist')
  parser.add_argument('--percents', default='1,5,10',
                      help='N,N,... (percent of the images)')
  parser.add_argument('--seeds', default='0', help='N-M or N,N,...')
  args = parser.parse_args(argv)

  def _run() -> dict:
    files.check_output_path(args.output_dir, '--output_dir', folder=True)
    return write_fractions(args.annotation_file, args.output_dir,
                           numbers(args.percents, '--percents', float),
                           numbers(args.seeds, '--seeds'), args.overwrite)

  return run_main(_run)


if __name__ == '__main__':
  sys.exit(main())
