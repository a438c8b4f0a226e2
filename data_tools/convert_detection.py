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

"""Converts a COCO-format detection set (JSON + image folder) to TFRecords.

The tf.Examples are Model Garden's detection format, made by Model Garden's
own `official.vision.data.create_coco_tf_record.create_tf_example`
(image/encoded: a JPEG, the file's own or the picture re-encoded, by the
rule of `common.images` for each kind of image; image/source_id = the
image id, image/height, image/width, image/object/bbox/{xmin,ymin,xmax,ymax}
normalised, image/object/class/label = the category id,
image/object/is_crowd, image/object/area and, with masks, image/object/mask
as PNG), so `TfExampleDecoder` and the detection parsers
read them as they read COCO. LVIS v1 JSON (which names images by `coco_url`
and adds federated-evaluation keys) has its own converter, `convert_lvis`,
built on the functions here.

Nothing is left behind unless everything validates (the shards are written
under temporary names and renamed at the end): the JSON is checked first,
each image file as its example is made. A DataError names the file, key or
id concerned:
  * the annotation file is missing, not JSON, or lacks a required key
    (`images`, `annotations`, `categories`, or a key of one record);
  * `images`, `annotations` or `categories` is empty;
  * an id is not an integer (a bool is not one), or repeats: image,
    annotation and category ids; a category id is 0 (Model Garden's
    background label) or negative;
  * an image's `file_name` is not a relative path inside `--image_dir`
    (an absolute path or `..` above it would read a file from elsewhere);
  * an image file is missing, cannot be decoded (by its content, whatever
    its extension: no image, truncated, 32-bit integer or float pixels),
    its stored size differs from the JSON's width/height (EXIF orientation
    is not applied, as in COCO; the error says when the JSON gives the
    rotated view), or either is over
    `common.images.MAX_IMAGE_PIXELS` (checked before decoding);
  * a category `name` is not a string;
  * an annotation names an unknown `image_id` or `category_id` (or one
    that is not an integer), has a bbox that is not 4 finite numbers, an
    `area` that is not a finite number, an `iscrowd` other than 0 or 1,
    or (with masks) a malformed
    segmentation: polygons [[x1, y1, x2, y2, x3, y3, ...], ...] of finite
    coordinates within one image size of the image (rasterising a far-off
    or non-finite vertex would take unbounded memory), or an RLE
    {'size': [height, width], 'counts': ...} with counts as a list of run
    lengths or a compressed string (a crowd annotation must be RLE).
Box rule (as Detectron2 does for degenerate boxes): a box with non-positive
width or height, or lying entirely outside its image, is skipped and counted;
a box partly outside is clipped to the image (its area is capped at the
clipped box's area) and counted. The summary reports both counts and the
first offending annotation ids.

Shards: `{output_prefix}-{i:05d}-of-{n:05d}.tfrecord`, images round-robin.
Images are read and encoded in `--num_processes` worker processes (default:
every core), as Model Garden's `create_coco_tf_record` does; the shards are
the same bit for bit whatever their number.

Run:
  backbone-reuse-convert-detection --annotation_file train.json \
      --image_dir images/ --output_prefix /tmp/tfrecords/train \
      [--num_shards 4] [--no_masks] [--num_processes 8]
"""

# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import dataclasses
import hashlib
import os
import sys
from typing import Dict, List, Optional, Sequence

import tensorflow as tf

from official_projects_backbone_reuse.common import images as images_lib
from official_projects_backbone_reuse.data_tools import coco_json
from official_projects_backbone_reuse.data_tools import io_utils
from official_projects_backbone_reuse.data_tools import parallel
from official_projects_backbone_reuse.data_tools import segmentations
from official_projects_backbone_reuse.data_tools.cli import DataError
from official_projects_backbone_reuse.data_tools.cli import command_parser
from official_projects_backbone_reuse.data_tools.cli import run_main
from official_projects_backbone_reuse.data_tools import shards
from official_projects_backbone_reuse.data_tools.shards import write_tfrecord_shards
from official.vision.data import create_coco_tf_record

def check_image(path: str, image: dict) -> images_lib.StoredImage:
  """Checks an image file against its `images` entry.

  What to store of the file at `path` (`common.images.stored_jpeg`: any
  image Pillow reads, by content; a JPEG of RGB or grey pixels as it is,
  others re-encoded), which must have the `images` entry's size in its
  stored layout (EXIF orientation is not applied, as in COCO)."""
  if not os.path.isfile(path):
    raise DataError(f'{path}: image file not found (images entry id='
                    f'{image["id"]})')
  try:
    with open(path, 'rb') as f:
      stored = images_lib.stored_jpeg(f.read())
  except (OSError, ValueError) as e:
    raise DataError(f'{path}: cannot decode image (images entry id='
                    f'{image["id"]}): {e}') from e
  size = (stored.width, stored.height)
  if size != (image['width'], image['height']):
    viewed = ''
    if (stored.orientation in images_lib.SWAPPING_ORIENTATIONS
        and size[::-1] == (image['width'], image['height'])):
      viewed = (f'; with its EXIF orientation {stored.orientation} a viewer '
                f'shows it {size[1]}x{size[0]}, so the annotations were '
                'likely made on the rotated view, but boxes here are in the '
                'stored layout (as COCO\'s are): save the images upright '
                '(e.g. PIL.ImageOps.exif_transpose) before annotating or '
                'converting')
    raise DataError(
        f'{path}: the annotation file gives width x height '
        f'{image["width"]}x{image["height"]} for image id {image["id"]}, the '
        f'file stores {size[0]}x{size[1]}{viewed}')
  return stored


@dataclasses.dataclass
class ImageJob:
  """What a worker needs to check one image and make its example."""
  image: dict
  root: str
  file_name: str  # relative to root
  annotations: List[dict]  # passed check_annotations and the box rule
  id_to_name: Dict[int, str]  # of this image's categories
  include_masks: bool
  int64_features: Dict[str, List[int]] = dataclasses.field(
      default_factory=dict)  # added to the example (LVIS's)


def image_jobs(image_roots_and_names, to_write: Dict, id_to_name: Dict,
               include_masks: bool, int64_features=None) -> List[ImageJob]:
  """Makes the worker jobs of a conversion, one per image.

  A job per (image, root, file name), each with its own annotations and
  only the category names they use (small to send to a worker)."""
  jobs = []
  for image, root, name in image_roots_and_names:
    annotations = to_write[image['id']]
    jobs.append(ImageJob(
        image, root, name, annotations,
        {a['category_id']: id_to_name[a['category_id']] for a in annotations},
        include_masks, int64_features(image) if int64_features else {}))
  return jobs


def encode_image(job: ImageJob) -> bytes:
  """Encodes one image and its annotations as a serialized example.

  Checks the image file (`check_image`) and returns its serialized
  example, holding the JPEG `check_image` gives; run in a worker process."""
  stored = check_image(os.path.join(job.root, job.file_name), job.image)
  example = create_example(job.image, job.root, job.file_name,
                           job.annotations, job.id_to_name,
                           job.include_masks)
  if not stored.kept:  # Model Garden's maker stored the file as it is
    feature = example.features.feature
    feature['image/encoded'].bytes_list.value[:] = [stored.encoded]
    feature['image/key/sha256'].bytes_list.value[:] = [
        hashlib.sha256(stored.encoded).hexdigest().encode()]
  for key, ids in job.int64_features.items():
    example.features.feature[key].int64_list.value.extend(ids)
  # Sorted feature keys: protobuf's map order is random per process.
  return example.SerializeToString(deterministic=True)


def create_example(image: dict, image_dir: str, file_name: str,
                   annotations: Sequence[dict], id_to_name: Dict[int, str],
                   include_masks: bool) -> tf.train.Example:
  """Model Garden's tf.Example of an image at `image_dir`/`file_name`.

  Made by `create_coco_tf_record.create_tf_example`, its masks by
  `segmentations.mask_png` (the same pixels, sooner); `file_name` becomes
  image/filename and the image id image/source_id. `annotations` must have
  passed `check_annotations` (and the box rule).
  """
  example, _ = create_coco_tf_record.create_tf_example(
      dict(image, file_name=file_name), [image_dir],
      bbox_annotations=annotations, id_to_name_map=id_to_name,
      include_masks=False)
  if include_masks and annotations:  # where Model Garden's maker puts them
    example.features.feature['image/object/mask'].bytes_list.value.extend(
        segmentations.mask_png(a, image['height'], image['width'])
        for a in annotations)
  return example


def convert_detection(annotation_file: str,
                      image_dir: str,
                      output_prefix: str,
                      num_shards: int = 4,
                      include_masks: bool = True,
                      progress_stream=None,
                      overwrite: bool = False,
                      num_processes: int = 1) -> dict:
  """Converts COCO-format JSON + images to Model Garden detection TFRecords.

  Args:
    annotation_file: COCO (or LVIS v1) annotation JSON.
    image_dir: folder holding the `file_name` of every image.
    output_prefix: shards are `{prefix}-{i:05d}-of-{n:05d}.tfrecord`.
    num_shards: number of shards.
    include_masks: also write PNG instance masks from `segmentation`.
    progress_stream: where the progress counter goes (default stderr).
    overwrite: replace the shards of an earlier conversion to the prefix
      (see `shards`).
    num_processes: worker processes that check the images and make the
      examples (the output does not depend on it).

  Returns:
    Summary: images, annotations written, skipped/clipped counts with the
    first offending ids, and the output files.

  Raises:
    DataError: invalid input (nothing is written then).
  """
  parallel.check_processes(num_processes)
  shards.check_outputs(output_prefix, num_shards,
                       [('--annotation_file', annotation_file),
                        ('--image_dir', image_dir)], overwrite=overwrite)
  images, to_write, id_to_name, report = coco_json.check_annotations(
      annotation_file, coco_json.load_annotations(annotation_file), include_masks)
  located = []
  for image in images:
    io_utils.path_inside(image_dir, image['file_name'],
                         f'{annotation_file}: image id {image["id"]}')
    located.append((image, image_dir, image['file_name']))
  jobs = image_jobs(located, to_write, id_to_name, include_masks)
  files = write_tfrecord_shards(
      output_prefix, parallel.imap(encode_image, jobs, num_processes),
      num_shards, len(jobs), label='converting detection',
      progress_stream=progress_stream, overwrite=overwrite)
  summary = {
      'annotation_file': annotation_file,
      'images': len(images),
      'annotations_written': sum(len(v) for v in to_write.values()),
      **coco_json.box_report_summary(report),
      'num_shards': num_shards,
      'output_files': files,
  }
  return summary


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Command line entry point; returns the exit status."""
  parser = command_parser(
      'backbone-reuse-convert-detection', 'Convert COCO/LVIS JSON + images '
      'to Model Garden detection TFRecords.', tfrecord_output=True)
  parser.add_argument('--annotation_file', required=True)
  parser.add_argument('--image_dir', required=True)
  parser.add_argument('--no_masks', action='store_true',
                      help='write boxes only (no image/object/mask)')
  args = parser.parse_args(argv)

  def _run() -> dict:
    summary = convert_detection(args.annotation_file, args.image_dir,
                                args.output_prefix, args.num_shards,
                                include_masks=not args.no_masks,
                                overwrite=args.overwrite,
                                num_processes=args.num_processes)
    coco_json.warn(summary)
    return summary

  return run_main(_run)


if __name__ == '__main__':
  sys.exit(main())
