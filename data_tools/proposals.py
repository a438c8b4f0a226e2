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

"""Class-agnostic box proposals without labels, for box-domain pre-training.

AlignDet (Li et al., ICCV 2023) pre-trains a detector's decoder and heads,
backbone frozen, against unsupervised proposals. `backbone-reuse-proposals`
reads detection TFRecords, computes selective-search proposals on each
image, and writes the same images with the proposals as their boxes, all of
one class `object` (id 1), so that Model Garden's parsers read them
unchanged. Labels, masks and crowd flags of the input are not written.

Proposals: the selective search of the code AlignDet's released proposals
came from (SoCo's, after Uijlings et al. 2013), a single strategy:
Felzenszwalb's graph segmentation (scikit-image; scale 300, sigma 0.9,
minimum segment 100 px), then greedy merging of the most similar pair of
adjacent regions until one is left, similarity = colour (HSV histograms, 25
bins per channel) + texture (local binary patterns, 10 bins per channel) +
size + fill, each in [0, 1]. Every region, the segments and each merge, is
a box, in that order. Where this differs from SoCo's code, on purpose: its
colour histograms bin HSV values of [0, 1] over [0, 255] and its texture
histograms LBP codes of [0, 255] over [0, 1] (both degenerate: almost
everything falls in one bin), and it pairs regions whose boxes overlap;
here the histograms span the values' ranges and regions are adjacent when
their pixels touch (Uijlings et al.'s definition).

Filter (SoCo's `ratio3size0008`, the one AlignDet used): width and height
at least 32 px, aspect ratio within 1/3..3, sqrt(box area / image area) at
most 0.8; duplicate boxes dropped; the first `--max_proposals` kept (0: all;
AlignDet's RetinaNet keeps 50, its R-CNNs all). An image left without a
proposal is not written (AlignDet's loader skips it too) and is counted.

Why not OpenCV's `ximgproc` selective search: it ships in
opencv-contrib-python-headless, which shares the `cv2` package with the
opencv-python wheels tf-models-official installs; installed together,
whichever comes last wins, so `cv2.ximgproc` may or may not exist.

Deterministic: the same image gives the same proposals, whatever
`--num_processes`. Every numeric flag is checked (finite, in its range)
before any work; one out of range is one line naming it.
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import dataclasses
import heapq
import io
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage
import skimage.color
import skimage.feature
import skimage.segmentation
import skimage.util
import tensorflow as tf

from official_projects_backbone_reuse.common import images
from official_projects_backbone_reuse.common import tfrecords
from official_projects_backbone_reuse.data_tools import parallel
from official_projects_backbone_reuse.data_tools import shards
from official_projects_backbone_reuse.data_tools.cli import DataError
from official_projects_backbone_reuse.data_tools.cli import command_parser
from official_projects_backbone_reuse.data_tools.cli import run_main
from official_projects_backbone_reuse.runtime import input_files

CLASS_ID = 1
CLASS_NAME = b'object'
_COLOUR_BINS = 25
_TEXTURE_BINS = 10
# What of an input example is kept: the image and its identity.
_IMAGE_FEATURES = ('image/encoded', 'image/format', 'image/height',
                   'image/width', 'image/filename', 'image/source_id',
                   'image/key/sha256')


@dataclasses.dataclass(frozen=True)
class Settings:
  """Selective search and filter settings (see the module docstring)."""
  scale: float = 300.0
  sigma: float = 0.9
  min_segment_size: int = 100
  min_box_size: float = 32.0
  max_aspect_ratio: float = 3.0
  max_relative_size: float = 0.8
  max_proposals: int = 0


def _histograms(values: np.ndarray, labels: np.ndarray, count: int,
                bins: int, low: float, high: float) -> np.ndarray:
  """Computes per-region histograms of `values`.

  Per-region histograms of `values` ([H, W, C]) over [low, high], bins
  per channel, L1-normalised over all channels: [count, C * bins]."""
  channels = values.shape[-1]
  index = np.clip(((values - low) / (high - low) * bins).astype(np.int64),
                  0, bins - 1)
  flat = ((labels[..., None] * channels + np.arange(channels)) * bins
          + index).ravel()
  hist = np.bincount(flat, minlength=count * channels * bins).astype(
      np.float64).reshape(count, channels * bins)
  return hist / hist.sum(axis=1, keepdims=True)


def _adjacent_pairs(labels: np.ndarray) -> np.ndarray:
  """Unique (a, b), a < b, of regions with touching pixels."""
  pairs = [np.stack([labels[:, :-1].ravel(), labels[:, 1:].ravel()], 1),
           np.stack([labels[:-1, :].ravel(), labels[1:, :].ravel()], 1)]
  pairs = np.concatenate(pairs)
  pairs = pairs[pairs[:, 0] != pairs[:, 1]]
  return np.unique(np.sort(pairs, axis=1), axis=0)


def selective_search(image: np.ndarray, settings: Settings = Settings()
                     ) -> np.ndarray:
  """Runs selective search on an image; returns every region's box.

  Every region of the hierarchy of an RGB uint8 image, as boxes
  [N, 4] (ymin, xmin, ymax, xmax) in pixels, edges exclusive: the segments,
  then each merge in order."""
  height, width = image.shape[:2]
  labels = skimage.segmentation.felzenszwalb(
      skimage.util.img_as_float(image), scale=settings.scale,
      sigma=settings.sigma, min_size=settings.min_segment_size)
  count = int(labels.max()) + 1
  sizes = np.bincount(labels.ravel(), minlength=count).astype(np.float64)
  boxes = np.array([[s[0].start, s[1].start, s[0].stop, s[1].stop]
                    for s in ndimage.find_objects(labels + 1)], np.float64)
  colour = _histograms(skimage.color.rgb2hsv(image), labels, count,
                       _COLOUR_BINS, 0.0, 1.0)
  texture = np.stack([skimage.feature.local_binary_pattern(
      image[..., c], 8, 1.0) for c in range(3)], axis=-1)
  texture = _histograms(texture, labels, count, _TEXTURE_BINS, 0.0, 256.0)
  area = float(height * width)
  regions = {i: (boxes[i], sizes[i], colour[i], texture[i])
             for i in range(count)}

  def similarity(a, b) -> float:
    (box_a, size_a, colour_a, texture_a) = regions[a]
    (box_b, size_b, colour_b, texture_b) = regions[b]
    union = (max(box_a[2], box_b[2]) - min(box_a[0], box_b[0])) * (
        max(box_a[3], box_b[3]) - min(box_a[1], box_b[1]))
    return float(np.minimum(colour_a, colour_b).sum()
                 + np.minimum(texture_a, texture_b).sum()
                 + 1.0 - (size_a + size_b) / area
                 + 1.0 - (union - size_a - size_b) / area)

  neighbours: Dict[int, set] = {i: set() for i in range(count)}
  heap = []
  for a, b in _adjacent_pairs(labels).tolist():
    neighbours[a].add(b)
    neighbours[b].add(a)
    heap.append((-similarity(a, b), a, b))
  heapq.heapify(heap)
  found = [boxes]
  while heap:
    _, a, b = heapq.heappop(heap)
    if a not in regions or b not in regions:
      continue  # a pair of a region merged since
    new = len(sizes) + len(found) - 1
    (box_a, size_a, colour_a, texture_a) = regions.pop(a)
    (box_b, size_b, colour_b, texture_b) = regions.pop(b)
    size = size_a + size_b
    box = np.array([min(box_a[0], box_b[0]), min(box_a[1], box_b[1]),
                    max(box_a[2], box_b[2]), max(box_a[3], box_b[3])])
    regions[new] = (box, size, (colour_a * size_a + colour_b * size_b) / size,
                    (texture_a * size_a + texture_b * size_b) / size)
    found.append(box[None])
    neighbours[new] = (neighbours.pop(a) | neighbours.pop(b)) - {a, b}
    for other in sorted(neighbours[new]):
      neighbours[other] -= {a, b}
      neighbours[other].add(new)
      heapq.heappush(heap, (-similarity(other, new), other, new))
  return np.concatenate(found)


def filter_boxes(boxes: np.ndarray, height: int, width: int,
                 settings: Settings = Settings()) -> np.ndarray:
  """Filters proposal boxes by size and aspect, dropping duplicates.

  The boxes that pass the size and aspect filter, duplicates dropped,
  the first `settings.max_proposals` (0: all), in their order."""
  h = boxes[:, 2] - boxes[:, 0]
  w = boxes[:, 3] - boxes[:, 1]
  ratio = settings.max_aspect_ratio
  keep = ((h >= settings.min_box_size) & (w >= settings.min_box_size)
          & (w <= ratio * h) & (h <= ratio * w)
          & (np.sqrt(h * w / (height * width)) <= settings.max_relative_size))
  boxes = boxes[keep]
  _, first = np.unique(boxes, axis=0, return_index=True)
  boxes = boxes[np.sort(first)]
  return boxes[:settings.max_proposals] if settings.max_proposals else boxes


def _float_feature(values) -> tf.train.Feature:
  return tf.train.Feature(float_list=tf.train.FloatList(value=list(values)))


def proposal_example(record: bytes, where: str,
                     settings: Settings) -> Tuple[Optional[bytes], int]:
  """Adds its proposals as boxes to one detection example.

  The example of `record` with its proposals as boxes (None when it has
  none) and their number; a DataError naming `where` when it is no
  detection image."""
  try:
    example = tf.train.Example.FromString(record)
    feature = example.features.feature
    encoded = feature['image/encoded'].bytes_list.value[0]
    with images.open_image(io.BytesIO(encoded)) as image:
      pixels = np.asarray(image.convert('RGB'))
  except Exception as e:  # pylint: disable=broad-except
    raise DataError(f'{where}: not a detection example with a readable '
                    f'image/encoded ({type(e).__name__}: {e})') from e
  height, width = pixels.shape[:2]
  boxes = filter_boxes(selective_search(pixels, settings), height, width,
                       settings)
  if not len(boxes):
    return None, 0
  out = tf.train.Example()
  for key in _IMAGE_FEATURES:
    if key in feature:
      out.features.feature[key].CopyFrom(feature[key])
  objects = out.features.feature
  for i, key in enumerate(('ymin', 'xmin', 'ymax', 'xmax')):
    scale = height if key.startswith('y') else width
    objects[f'image/object/bbox/{key}'].CopyFrom(
        _float_feature(boxes[:, i] / scale))
  objects['image/object/class/label'].int64_list.value.extend(
      [CLASS_ID] * len(boxes))
  objects['image/object/class/text'].bytes_list.value.extend(
      [CLASS_NAME] * len(boxes))
  objects['image/object/is_crowd'].int64_list.value.extend([0] * len(boxes))
  objects['image/object/area'].CopyFrom(_float_feature(
      (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
  return out.SerializeToString(deterministic=True), len(boxes)


@dataclasses.dataclass(frozen=True)
class _Job:
  record: bytes
  where: str
  settings: Settings


def _run_job(job: _Job) -> Tuple[Optional[bytes], int]:
  return proposal_example(job.record, job.where, job.settings)


def write_proposals(input_pattern: str, output_prefix: str, num_shards: int,
                    num_processes: int, settings: Settings = Settings(),
                    overwrite: bool = False) -> dict:
  """Writes the proposal examples of every image of `input_pattern`.

  All or nothing; returns the summary."""
  check_settings(settings)  # before any work, as the counts below
  parallel.check_processes(num_processes)
  shards.check_num_shards(num_shards)  # and, once counted, the records
  paths = input_files.files(input_pattern)
  if not paths:
    raise DataError(f'--input_pattern={input_pattern!r} matches no file')
  shards.check_outputs(output_prefix, num_shards,
                       [('--input_pattern', path) for path in paths],
                       overwrite=overwrite)
  try:  # a damaged file is named here, before anything is computed
    total = sum(1 for path in paths
                for _ in tfrecords.read_records(path, True, strict=True))
  except ValueError as e:
    raise DataError(str(e)) from e
  jobs = (_Job(record, f'{path} (record {index})', settings)
          for path in paths
          for index, record in enumerate(tfrecords.read_records(path)))
  counts = {'images': 0, 'without_proposals': 0, 'proposals': 0}

  def records():
    for record, found in parallel.imap(_run_job, jobs, num_processes):
      counts['images'] += 1
      counts['proposals'] += found
      if record is None:
        counts['without_proposals'] += 1
        continue
      yield record

  outputs = shards.write_tfrecord_shards(output_prefix, records(), num_shards,
                                         total, 'proposals',
                                         overwrite=overwrite)
  written = counts['images'] - counts['without_proposals']
  return dict(counts, written=written,
              proposals_per_image=round(counts['proposals'] / max(written, 1),
                                        1),
              settings=dataclasses.asdict(settings), output_files=outputs)


def main(argv: Optional[Sequence[str]] = None) -> int:
  """Command line entry point; returns the exit status."""
  parser = command_parser(
      'backbone-reuse-proposals', 'Write class-agnostic selective-search '
      'proposals of detection TFRecords as their boxes (one class).',
      tfrecord_output=True)
  parser.add_argument('--input_pattern', required=True,
                      help='detection TFRecords (a glob, or several '
                      'comma-separated)')
  defaults = Settings()
  for field in dataclasses.fields(Settings):
    parser.add_argument(f'--{field.name}', type=field.type,
                        default=getattr(defaults, field.name))
  args = parser.parse_args(argv)

  def run() -> dict:
    settings = Settings(**{f.name: getattr(args, f.name)
                           for f in dataclasses.fields(Settings)})
    return write_proposals(args.input_pattern, args.output_prefix,
                           args.num_shards, args.num_processes, settings,
                           args.overwrite)
  return run_main(run)


# Every setting's range: (accepted, what is expected); NaN and infinities
# never are (argparse's float() takes 'nan' and 'inf').
_RANGES = {
    'scale': (lambda v: v > 0, 'a finite number > 0'),
    'sigma': (lambda v: v > 0, 'a finite number > 0'),
    'min_segment_size': (lambda v: v >= 1, 'an integer >= 1'),
    'min_box_size': (lambda v: v >= 0, 'a finite number >= 0'),
    'max_aspect_ratio': (lambda v: v >= 1, 'a finite number >= 1'),
    # sqrt(box area / image area) is at most 1: a larger limit means nothing
    'max_relative_size': (lambda v: 0 < v <= 1, 'a finite number in (0, 1]'),
    'max_proposals': (lambda v: v >= 0, 'an integer >= 0 (0: all)'),
}


def check_settings(settings: Settings) -> None:
  """A DataError naming the first flag out of its range."""
  for name, (accepted, expected) in _RANGES.items():
    value = getattr(settings, name)
    if not (math.isfinite(value) and accepted(value)):
      raise DataError(f'--{name}={value:g}: expected {expected}')


if __name__ == '__main__':
  raise SystemExit(main())
