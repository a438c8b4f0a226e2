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

"""Converts a folder-per-class image tree to classification TFRecords.

Input: `image_root/<class_name>/*.{jpg,jpeg,png,bmp,gif,tif,tiff,webp}`
(ImageNet-style; any case). Other files in a class folder are skipped,
counted in the summary and named in a warning. Output: tf.Examples in Model
Garden's classification format, read by
`official.vision.dataloaders.classification_input.Decoder`: image/encoded
(a JPEG, as the detection converters store it: the rule of `common.images`
for each kind of image, by content, not extension; JPEGs of RGB or grey
pixels as they are, anything else re-encoded as RGB JPEG at quality 95, of
a GIF its first frame; EXIF orientation not applied), image/format,
image/class/label (0..N-1), plus image/class/text, image/height,
image/width, image/filename, image/source_id and image/key/sha256 from
Model Garden's `tfrecord_lib.image_info_to_feature_dict`. Labels follow the
sorted class-folder names, or the order of `class_names` when given (then
only those folders are read). Examples are shuffled across shards with a
fixed seed, so a conversion is reproducible.

Outputs, all written only once every input is validated (a DataError names
the path: root missing, no class folders, an empty class folder, an image
that cannot be decoded, is truncated or has 32-bit integer or float
pixels):
  {output_prefix}-{i:05d}-of-{n:05d}.tfrecord
  {output_prefix}-labels.txt      one class name per line, line i = label i

Run:
  backbone-reuse-convert-classification \
      --image_root world/classification/train \
      --output_prefix /tmp/tfrecords/cls_train [--num_shards 4] \
      [--class_names a,b,c] [--seed 0]
"""

# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import os
import random
import sys
from typing import List, Optional, Sequence, Tuple


from official_projects_backbone_reuse.common import images as images_lib
from official_projects_backbone_reuse.data_tools import parallel
from official_projects_backbone_reuse.data_tools.cli import DataError
from official_projects_backbone_reuse.data_tools.cli import command_parser
from official_projects_backbone_reuse.data_tools.cli import run_main
from official_projects_backbone_reuse.data_tools import shards
from official_projects_backbone_reuse.data_tools.shards import write_tfrecord_shards
from official.vision.data import tfrecord_lib
import tensorflow as tf

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff',
                    '.webp')
NAMES_SHOWN = 5


def labels_path(output_prefix: str) -> str:
  """Where the label list of a conversion goes."""
  return f'{output_prefix}-labels.txt'


def list_images(image_root: str, class_names: Optional[Sequence[str]] = None
                ) -> Tuple[List[str], List[Tuple[str, int]], List[str]]:
  """Lists the images of the class folders with their labels.

  Class names, (image path, label) pairs, validated, in sorted order, and
  the other entries of the class folders (skipped)."""
  if not os.path.isdir(image_root):
    raise DataError(f'{image_root}: image root folder not found')
  if class_names is None:
    class_names = sorted(name for name in os.listdir(image_root)
                         if os.path.isdir(os.path.join(image_root, name)))
    if not class_names:
      raise DataError(f'{image_root}: expected one sub-folder per class, '
                      'found no sub-folders')
  elif len(set(class_names)) != len(class_names) or not class_names:
    raise DataError(f'class_names: expected distinct names, found '
                    f'{list(class_names)}')
  items, skipped = [], []
  for label, name in enumerate(class_names):
    folder = os.path.join(image_root, name)
    if not os.path.isdir(folder):
      raise DataError(f'{folder}: class folder of class {name!r} not found')
    entries = sorted(os.listdir(folder))
    files = [f for f in entries if f.lower().endswith(IMAGE_EXTENSIONS)
             and os.path.isfile(os.path.join(folder, f))]
    skipped.extend(os.path.join(folder, f) for f in entries
                   if f not in files)
    if not files:
      raise DataError(f'{folder}: expected images '
                      f'({", ".join(IMAGE_EXTENSIONS)}) for class {name!r}, '
                      'found none')
    items.extend((os.path.join(folder, f), label) for f in files)
  return list(class_names), items, skipped


def _read_image(path: str) -> Tuple[bytes, int, int]:
  """Reads an image file: the JPEG to store, its height and width.

  The JPEG to store (`common.images.stored_jpeg`: the file's own, or
  the picture re-encoded) and the height and width."""
  try:
    with open(path, 'rb') as f:
      stored = images_lib.stored_jpeg(f.read())
  except (OSError, ValueError) as e:
    raise DataError(f'{path}: cannot decode image: {e}') from e
  return stored.encoded, stored.height, stored.width


def encode_image(job: Tuple[str, int, str, str]) -> bytes:
  """Encodes one image as a serialized classification example.

  The serialized example of (path, label, class name, image root),
  after checking the image; run in a worker process."""
  path, label, class_name, image_root = job
  encoded, height, width = _read_image(path)
  name = os.path.relpath(path, image_root)
  features = tfrecord_lib.image_info_to_feature_dict(height, width, name, name,
                                                     encoded, 'jpeg')
  features['image/class/label'] = tfrecord_lib.convert_to_feature(label)
  features['image/class/text'] = tfrecord_lib.convert_to_feature(
      class_name.encode('utf8'))
  return tf.train.Example(features=tf.train.Features(
      feature=features)).SerializeToString(deterministic=True)


def convert_classification(image_root: str,
                           output_prefix: str,
                           num_shards: int = 4,
                           class_names: Optional[Sequence[str]] = None,
                           seed: int = 0,
                           progress_stream=None,
                           overwrite: bool = False,
                           num_processes: int = 1) -> dict:
  """Converts `image_root/<class>/*` to Model Garden classification shards.

  Args:
    image_root: folder with one sub-folder of images per class.
    output_prefix: shards are `{prefix}-{i:05d}-of-{n:05d}.tfrecord`, the
      label list `{prefix}-labels.txt`.
    num_shards: number of shards.
    class_names: the classes, in label order; default: all sub-folders,
      sorted.
    seed: seed of the shuffle across shards.
    progress_stream: where the progress counter goes (default stderr).
    overwrite: replace the shards of an earlier conversion to the prefix
      (see `shards`).
    num_processes: worker processes that read and encode the images (the
      output does not depend on it).

  Returns:
    Summary: number of classes and images, images per class, output files.

  Raises:
    DataError: invalid input (nothing is written then).
  """
  parallel.check_processes(num_processes)
  labels_file = labels_path(output_prefix)
  shards.check_outputs(output_prefix, num_shards, [('--image_root', image_root)],
                       [labels_file], overwrite)
  class_names, items, skipped = list_images(image_root, class_names)
  order = list(range(len(items)))
  random.Random(seed).shuffle(order)
  jobs = [(items[i][0], items[i][1], class_names[items[i][1]], image_root)
          for i in order]
  files = write_tfrecord_shards(
      output_prefix, parallel.imap(encode_image, jobs, num_processes),
      num_shards, len(items),
      label='converting classification',
      extra_files={labels_file: ''.join(f'{n}\n' for n in class_names).encode(
          'utf8')},
      progress_stream=progress_stream, overwrite=overwrite)
  return {
      'image_root': image_root,
      'num_classes': len(class_names),
      'images': len(items),
      'images_per_class': {name: sum(1 for _, label in items if label == i)
                           for i, name in enumerate(class_names)},
      'skipped_files': len(skipped),
      'first_skipped_files': skipped[:NAMES_SHOWN],
      'num_shards': num_shards,
      'output_files': files + [labels_file],
  }


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Command line entry point; returns the exit status."""
  parser = command_parser(
      'backbone-reuse-convert-classification', 'Convert a folder-per-class '
      'image tree to Model Garden classification TFRecords.',
      tfrecord_output=True)
  parser.add_argument('--image_root', required=True)
  parser.add_argument('--class_names', default=None,
                      help='comma-separated class folder names, in label '
                      'order (default: all folders, sorted)')
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)

  def _run() -> dict:
    class_names = args.class_names.split(',') if args.class_names else None
    summary = convert_classification(args.image_root, args.output_prefix,
                                     args.num_shards, class_names, args.seed,
                                     overwrite=args.overwrite,
                                     num_processes=args.num_processes)
    if summary['skipped_files']:
      print(f'warning: skipped {summary["skipped_files"]} file(s) that are '
            f'not images ({", ".join(IMAGE_EXTENSIONS)}) in the class '
            f'folders (first: {summary["first_skipped_files"]})',
            file=sys.stderr)
    return summary

  return run_main(_run)


if __name__ == '__main__':
  sys.exit(main())
