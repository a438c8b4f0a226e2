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

"""Layout and annotations of the procedural detection set, without pixels.

Everything here is decided from the seed alone and cheaply (no rendering):
image sizes, which objects go where, the long-tailed class draw, the COCO
polygons, boxes and areas, and the COCO + LVIS v1 annotation JSON. So the
class statistics of a split can be inspected without drawing a single image
(`detection_statistics`), and rendering can never change an annotation.

Long tail: each class gets a probability that decays geometrically with its
(seeded, random) rank, from the most common to the rarest class in the ratio
`long_tail_ratio` (Zipf-like; default 150). The first objects of a split go,
one each, to every class so that no class is absent. LVIS frequency groups
follow the LVIS v1 rule on the number of TRAIN images containing the class:
rare <= 10, common 11..100, frequent > 100.

Used by `make_procedural_dataset` (run `backbone-reuse-make-dataset --help`);
not a command of its own.
"""

import dataclasses
from typing import Dict, List, Sequence, Tuple

import numpy as np
from pycocotools import mask as mask_utils

from official_projects_backbone_reuse.data_tools import procedural

SPLIT_CODES = {'cls_train': 0, 'cls_val': 1, 'train': 2, 'val': 3,
               'large_cls_train': 5, 'large_cls_val': 6}
# Image and annotation ids of the val split start above this offset, so that
# ids never collide across splits (as in COCO).
ID_OFFSETS = {'train': 0, 'val': 1_000_000}
IMAGE_SIDE_RANGE = (256, 320)
OBJECTS_PER_IMAGE = (2, 8)
OBJECT_SIZE_RANGE = (16.0, 120.0)
NEGATIVE_CATEGORIES_PER_IMAGE = (3, 8)
URL_ROOT = 'https://procedural.backbone-reuse.invalid'


@dataclasses.dataclass(frozen=True)
class PlacedObject:
  """An object of class `CLASSES[class_index]`, with its exact annotation."""
  class_index: int
  placement: procedural.Placement
  polygon: Tuple[float, ...]
  bbox: Tuple[float, float, float, float]
  area: float


@dataclasses.dataclass(frozen=True)
class ImagePlan:
  """One detection image: id, size, objects, verified-absent categories."""
  index: int
  image_id: int
  height: int
  width: int
  objects: Tuple[PlacedObject, ...]
  neg_category_ids: Tuple[int, ...]

  @property
  def file_name(self) -> str:
    return f'{self.image_id:012d}.jpg'


def class_weights(seed: int, long_tail_ratio: float = 150.0) -> np.ndarray:
  """Per-class draw probabilities, geometric in a seeded random class rank."""
  num = len(procedural.CLASSES)
  ranks = np.random.default_rng([seed, 4]).permutation(num)
  weights = np.power(float(long_tail_ratio), -ranks / (num - 1))
  return weights / weights.sum()


def frequency_group(image_count: int) -> str:
  """LVIS v1 rule: 'r' (<= 10 images), 'c' (11..100), 'f' (> 100)."""
  if image_count <= 10:
    return 'r'
  return 'c' if image_count <= 100 else 'f'


def _place_objects(rng: np.random.Generator, height: int, width: int,
                   shapes: Sequence[str], min_object_size: float
                   ) -> List[Tuple[int, procedural.Placement]]:
  """Non-overlapping placements, largest first; (index in `shapes`, where).

  An object that does not fit is shrunk (see `procedural.pack_boxes`) or,
  rarely, dropped.
  """
  low, high = np.log((min_object_size, OBJECT_SIZE_RANGE[1]))
  sizes = np.sort(np.exp(rng.uniform(low, high, size=len(shapes))))[::-1]
  placements = [procedural.sample_placement(rng, size) for size in sizes]
  offsets = [procedural.box_offsets(p, s) for p, s in zip(placements, shapes)]
  packed = procedural.pack_boxes(
      rng, height, width, [(o[2] - o[0], o[3] - o[1]) for o in offsets])
  return [(i, procedural.at_corner(
      dataclasses.replace(placements[i], size=placements[i].size * scale),
      shapes[i], x0, y0)) for i, x0, y0, scale in packed]


def _annotate(class_index: int, placement: procedural.Placement, height: int,
              width: int) -> PlacedObject:
  shape = procedural.CLASSES[class_index].shape
  polygon = placement.polygon(shape)
  rle = procedural.polygon_rle(polygon, height, width)
  low, high = polygon.min(axis=0), polygon.max(axis=0)
  bbox = tuple(round(float(v), 2) for v in (*low, *(high - low)))
  return PlacedObject(class_index, placement,
                      tuple(float(v) for v in polygon.reshape(-1)), bbox,
                      float(mask_utils.area(rle)))


def plan_detection_split(seed: int, split: str, num_images: int,
                         long_tail_ratio: float = 150.0,
                         min_object_size: float = OBJECT_SIZE_RANGE[0]
                         ) -> List[ImagePlan]:
  """The layout of every image of a detection split ('train' or 'val').

  Each image draws its size, an object count, the classes (classes not yet
  placed in the split first, then long-tailed draws), sizes (log-uniform
  from `min_object_size` to OBJECT_SIZE_RANGE's largest) and positions;
  objects that do not fit without overlap are dropped.
  """
  code = SPLIT_CODES[split]
  weights = class_weights(seed, long_tail_ratio)
  num_classes = len(procedural.CLASSES)
  uncovered = [int(c) for c in
               np.random.default_rng([seed, code]).permutation(num_classes)]
  plans = []
  for index in range(num_images):
    rng = np.random.default_rng([seed, code, index, 0])
    height, width = (int(v) for v in rng.integers(
        IMAGE_SIDE_RANGE[0], IMAGE_SIDE_RANGE[1] + 1, size=2))
    count = int(rng.integers(OBJECTS_PER_IMAGE[0], OBJECTS_PER_IMAGE[1] + 1))
    forced = uncovered[:count]
    drawn = rng.choice(num_classes, size=count - len(forced), p=weights)
    classes = [int(c) for c in rng.permutation([*forced, *drawn])]
    placed = _place_objects(rng, height, width,
                            [procedural.CLASSES[c].shape for c in classes],
                            min_object_size)
    objects = tuple(_annotate(classes[i], placement, height, width)
                    for i, placement in placed)
    present = {o.class_index for o in objects}
    uncovered = [c for c in uncovered if c not in present]
    absent = [c + 1 for c in range(num_classes) if c not in present]
    negatives = rng.choice(absent, min(len(absent), int(rng.integers(
        NEGATIVE_CATEGORIES_PER_IMAGE[0],
        NEGATIVE_CATEGORIES_PER_IMAGE[1] + 1))), replace=False)
    plans.append(ImagePlan(index, ID_OFFSETS[split] + index + 1, height, width,
                           objects, tuple(sorted(int(i) for i in negatives))))
  return plans


def detection_statistics(plans: Sequence[ImagePlan]) -> Dict[str, List[int]]:
  """Per-class (index = category id - 1) image and instance counts."""
  num_classes = len(procedural.CLASSES)
  image_count, instance_count = [0] * num_classes, [0] * num_classes
  for plan in plans:
    for class_index in {o.class_index for o in plan.objects}:
      image_count[class_index] += 1
    for o in plan.objects:
      instance_count[o.class_index] += 1
  return {'image_count': image_count, 'instance_count': instance_count}


def categories_json(train_statistics: Dict[str, List[int]]) -> List[dict]:
  """COCO + LVIS v1 category records; counts and frequency from TRAIN."""
  records = []
  for index, object_class in enumerate(procedural.CLASSES):
    image_count = train_statistics['image_count'][index]
    records.append({
        'id': index + 1,
        'name': object_class.name,
        'supercategory': object_class.shape,
        'synset': f'{object_class.name}.n.01',
        'synonyms': [object_class.name],
        'def': object_class.definition,
        'frequency': frequency_group(image_count),
        'image_count': image_count,
        'instance_count': train_statistics['instance_count'][index],
    })
  return records


def annotation_json(split: str, plans: Sequence[ImagePlan],
                    categories: List[dict]) -> dict:
  """The COCO / LVIS v1 annotation file of a detection split."""
  images, annotations = [], []
  for plan in plans:
    images.append({
        'id': plan.image_id,
        'file_name': plan.file_name,
        'height': plan.height,
        'width': plan.width,
        'coco_url': f'{URL_ROOT}/{split}/{plan.file_name}',
        'neg_category_ids': list(plan.neg_category_ids),
        'not_exhaustive_category_ids': [],
    })
    for o in plan.objects:
      annotations.append({
          'id': ID_OFFSETS[split] + len(annotations) + 1,
          'image_id': plan.image_id,
          'category_id': o.class_index + 1,
          'bbox': list(o.bbox),
          'area': o.area,
          'segmentation': [list(o.polygon)],
          'iscrowd': 0,
      })
  return {
      'info': {'description': f'procedural long-tailed detection, {split}',
               'version': '1.0'},
      'licenses': [],
      'images': images,
      'annotations': annotations,
      'categories': categories,
  }
