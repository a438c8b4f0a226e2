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

"""Converts an LVIS v1 annotation file + COCO images to Model Garden TFRecords.

The tf.Examples are exactly those of `convert_detection` (Model Garden's own
`create_coco_tf_record.create_tf_example`: image/encoded, image/source_id =
the LVIS image id, boxes, image/object/class/label = the LVIS category id
(1..1203 for LVIS v1, kept as is), PNG masks from polygons or RLE), so
`TfExampleDecoder` and the detection parsers read them as they read COCO.
Two int64-list features are added per image for federated evaluation:
  image/lvis/neg_category_ids             categories verified absent;
  image/lvis/not_exhaustive_category_ids  categories not exhaustively
                                          annotated.
image/filename is the image's path relative to the root it was found in.

Where the images are. LVIS v1 images have no `file_name`; they name a COCO
image by `coco_url`, e.g. `http://images.cocodataset.org/val2017/
000000397133.jpg` (LVIS v1 val uses images of COCO train2017 AND val2017).
Writing `<folder>/<file>` for the last two parts of the url path, each
`--image_root` is tried in the order given, and in each root the first
existing file of:
  1. <root>/<folder>/<file>         a COCO root holding train2017/, val2017/;
  2. <root>/<folder>/images/<file>  the procedural world's `detection` folder
                                    (url .../val/<file>, file in
                                    detection/val/images/);
  3. <root>/<file>                  a flat folder, e.g. coco/val2017.
A `file_name` key, if the JSON has one, is not used.

Validation happens before anything is written, with the rules of the COCO
conversion (see `convert_detection`: missing or non-JSON file, missing keys,
unknown ids, malformed segmentation, an image that cannot be read or is of
another size than the JSON says, the same rule per kind of image and the
same box rule), plus LVIS's: LVIS v0.5 (1,230
categories, COCO 2014 images) is refused; every image needs `coco_url` (its
last two path parts neither `.` nor `..`, which would leave the roots),
`neg_category_ids` and `not_exhaustive_category_ids` (lists of known category
ids); annotations need no `iscrowd` (absent means 0). Images found under no
root are a DataError (how many, the first urls, the roots tried) unless
`--skip_missing_images` is given: then they and their annotations are left
out and the summary says how many and which. A failed conversion leaves no
output.

Shards: `{output_prefix}-{i:05d}-of-{n:05d}.tfrecord`, images round-robin.

Run:
  backbone-reuse-convert-lvis --annotation_file lvis_v1_val.json \
      --image_root /data/coco --output_prefix /tmp/tfrecords/lvis_val \
      [--image_root more/roots,comma/separated] [--num_shards 8] \
      [--skip_missing_images] [--no_masks]
"""

# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple
import urllib.parse

from official_projects_backbone_reuse.common import values
from official_projects_backbone_reuse.data_tools import coco_json
from official_projects_backbone_reuse.data_tools import convert_detection
from official_projects_backbone_reuse.data_tools import parallel
from official_projects_backbone_reuse.data_tools.cli import DataError
from official_projects_backbone_reuse.data_tools.cli import command_parser
from official_projects_backbone_reuse.data_tools.cli import run_main
from official_projects_backbone_reuse.data_tools import shards
from official_projects_backbone_reuse.data_tools.shards import write_tfrecord_shards
from official_projects_backbone_reuse.evaluation import lvis_evaluator

REQUIRED_KEYS = {
    'images': ('id', 'coco_url', 'height', 'width'),
    'annotations': ('id', 'image_id', 'category_id', 'bbox', 'area'),
    'categories': ('id', 'name'),
}
FEDERATED_KEYS = ('neg_category_ids', 'not_exhaustive_category_ids')
FEATURE_PREFIX = 'image/lvis/'
URLS_SHOWN = 5
RULE = ('an image whose coco_url ends in <folder>/<file> is looked for as '
        '<root>/<folder>/<file>, <root>/<folder>/images/<file> and '
        '<root>/<file>')


def url_parts(coco_url: str) -> List[str]:
  """The non-empty parts of the url's path."""
  return [p for p in urllib.parse.urlparse(coco_url).path.split('/') if p]


def candidate_names(coco_url: str) -> List[str]:
  """Paths relative to an image root where the url's image may be, in order.

  `http://images.cocodataset.org/val2017/1.jpg` -> `val2017/1.jpg`,
  `val2017/images/1.jpg`, `1.jpg`.
  """
  parts = url_parts(coco_url)
  if len(parts) < 2:
    return parts[-1:]
  folder, name = parts[-2:]
  return [f'{folder}/{name}', f'{folder}/images/{name}', name]


def resolve_image(coco_url: str,
                  roots: Sequence[str]) -> Optional[Tuple[str, str]]:
  """(root, path relative to it) of the first existing candidate, or None."""
  for root in roots:
    for name in candidate_names(coco_url):
      if os.path.isfile(os.path.join(root, name)):
        return root, name
  return None


def split_roots(image_roots: Sequence[str]) -> List[str]:
  """Splits and checks the `--image_root` values.

  The roots of repeated and comma-separated `--image_root` values; each
  must be an existing folder."""
  roots = [r.strip() for value in image_roots for r in value.split(',')
           if r.strip()]
  if not roots:
    raise DataError('expected at least one --image_root, found none')
  for root in roots:
    if not os.path.isdir(root):
      raise DataError(f'{root}: image root not found (expected a folder of '
                      'images, given by --image_root)')
  return roots


def _check_lvis_images(annotation_file: str, images: Sequence[dict],
                       id_to_name: Dict[int, str]) -> None:
  """coco_url names a file; the federated keys list known category ids."""
  for image in images:
    where = f'{annotation_file}: image id {image["id"]}'
    url = image['coco_url']
    if not (isinstance(url, str) and url_parts(url)):
      raise DataError(f'{where}: expected \'coco_url\' to be a url ending in '
                      f'an image file name, found {url!r}')
    if {'.', '..'} & set(url_parts(url)[-2:]):  # would leave the image root
      raise DataError(f'{where}: coco_url {url!r} has a \'.\' or \'..\' '
                      'part, which would look for the image outside the '
                      'image roots')
    for key in FEDERATED_KEYS:
      if key not in image:
        raise DataError(
            f'{where} is missing key {key!r} (an LVIS v1 image lists the '
            'categories verified absent from it in \'neg_category_ids\' and '
            'those not exhaustively annotated in '
            '\'not_exhaustive_category_ids\')')
      ids = image[key]
      if not isinstance(ids, list):
        raise DataError(f'{where}: expected {key!r} to be a list of category '
                        f'ids, found {ids!r}')
      for category_id in ids:
        known = (values.is_integer(category_id) and
                 category_id in id_to_name)
        if not known:
          raise DataError(f'{where}: {key!r} names category id '
                          f'{category_id!r}, which is not the id of any '
                          'entry in \'categories\'')


def _locate_images(annotation_file: str, images: Sequence[dict],
                   roots: Sequence[str], skip_missing_images: bool
                   ) -> Tuple[List[Tuple[dict, str, str]], List[dict]]:
  """(image, root, name) of the found images, and the missing images."""
  found, missing = [], []
  for image in images:
    location = resolve_image(image['coco_url'], roots)
    if location is None:
      missing.append(image)
    else:
      found.append((image, *location))
  urls = [image['coco_url'] for image in missing[:URLS_SHOWN]]
  where = (f'{annotation_file}: {len(missing)} of {len(images)} image(s) not '
           f'found under any image root (first coco_urls: {urls}); roots '
           f'tried: {list(roots)}; {RULE}')
  if missing and not skip_missing_images:
    raise DataError(f'{where}; pass --skip_missing_images to convert without '
                    'them')
  if images and not found:
    raise DataError(f'{where}; nothing left to convert')
  return found, missing


def convert_lvis(annotation_file: str,
                 image_roots: Sequence[str],
                 output_prefix: str,
                 num_shards: int = 4,
                 include_masks: bool = True,
                 skip_missing_images: bool = False,
                 progress_stream=None,
                 overwrite: bool = False,
                 num_processes: int = 1) -> dict:
  """Converts LVIS v1 JSON + COCO images to Model Garden detection TFRecords.

  Args:
    annotation_file: LVIS v1 annotation JSON (train or val).
    image_roots: folders to look for images in (entries may be
      comma-separated lists); see the module docstring for the rule.
    output_prefix: shards are `{prefix}-{i:05d}-of-{n:05d}.tfrecord`.
    num_shards: number of shards.
    include_masks: also write PNG instance masks from `segmentation`.
    skip_missing_images: leave out images found under no root instead of
      failing.
    progress_stream: where the progress counter goes (default stderr).
    overwrite: replace the shards of an earlier conversion to the prefix
      (see `shards`).
    num_processes: worker processes that check the images and make the
      examples (the output does not depend on it).

  Returns:
    Summary: images and annotations written, images skipped (first urls),
    category count, the box rule's skip/clip counts and the output files.

  Raises:
    DataError: invalid input (nothing is written then).
  """
  parallel.check_processes(num_processes)
  roots = split_roots(image_roots)
  shards.check_outputs(output_prefix, num_shards,
                       [('--annotation_file', annotation_file)]
                       + [('--image_root', root) for root in roots],
                       overwrite=overwrite)
  content = coco_json.load_annotations(annotation_file, REQUIRED_KEYS)
  refusal = lvis_evaluator.lvis_v0_5_refusal(content, annotation_file)
  if refusal:  # the evaluator's own check, word for word
    raise DataError(refusal)
  for annotation in content['annotations']:
    annotation.setdefault('iscrowd', 0)
  images, to_write, id_to_name, report = coco_json.check_annotations(
      annotation_file, content, include_masks)
  _check_lvis_images(annotation_file, images, id_to_name)
  found, missing = _locate_images(annotation_file, images, roots,
                                  skip_missing_images)
  jobs = convert_detection.image_jobs(
      found, to_write, id_to_name, include_masks,
      lambda image: {FEATURE_PREFIX + key: image[key]
                     for key in FEDERATED_KEYS})
  files = write_tfrecord_shards(
      output_prefix,
      parallel.imap(convert_detection.encode_image, jobs, num_processes),
      num_shards, len(found), label='converting LVIS',
      progress_stream=progress_stream, overwrite=overwrite)
  return {
      'annotation_file': annotation_file,
      'image_roots': roots,
      'images': len(found),
      'annotations_written': sum(len(to_write[image['id']])
                                 for image, _, _ in found),
      'skipped_images': len(missing),
      'first_skipped_urls': [i['coco_url'] for i in missing[:URLS_SHOWN]],
      'num_categories': len(id_to_name),
      'max_category_id': max(id_to_name, default=0),
      **coco_json.box_report_summary(report),
      'num_shards': num_shards,
      'output_files': files,
  }


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Command line entry point; returns the exit status."""
  parser = command_parser(
      'backbone-reuse-convert-lvis', 'Convert LVIS v1 JSON + COCO images to '
      'Model Garden detection TFRecords (with LVIS federated-evaluation '
      'features).', tfrecord_output=True)
  parser.add_argument('--annotation_file', required=True)
  parser.add_argument(
      '--image_root', action='append', required=True,
      help='folder to look for images in; repeat it or give a comma-'
      f'separated list; {RULE}')
  parser.add_argument('--no_masks', action='store_true',
                      help='write boxes only (no image/object/mask)')
  parser.add_argument('--skip_missing_images', action='store_true',
                      help='leave out images found under no image root '
                      'instead of failing')
  args = parser.parse_args(argv)

  def _run() -> dict:
    summary = convert_lvis(args.annotation_file, args.image_root,
                           args.output_prefix, args.num_shards,
                           include_masks=not args.no_masks,
                           skip_missing_images=args.skip_missing_images,
                           overwrite=args.overwrite,
                           num_processes=args.num_processes)
    if summary['skipped_images']:
      print(f'warning: skipped {summary["skipped_images"]} image(s) found '
            'under no image root (first coco_urls: '
            f'{summary["first_skipped_urls"]})', file=sys.stderr)
    coco_json.warn(summary)
    return summary

  return run_main(_run)


if __name__ == '__main__':
  sys.exit(main())
