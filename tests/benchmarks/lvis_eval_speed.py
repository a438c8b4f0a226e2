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

"""Times `lvis_evaluator.evaluate` against the official LVIS API, side by side.

Builds a synthetic LVIS-v1-style set (long-tailed categories with r/c/f
frequencies, neg_category_ids and not_exhaustive_category_ids per image,
objects of every size) and box detections (jittered objects, detections of
negative categories and of unverified ones; `--dets_per_image` per image),
evaluates them with both, and prints both times, the speed ratio and the
largest absolute difference over the nine metrics.

Run:
  python -m tests.benchmarks.lvis_eval_speed \
      [--images 5000 --categories 1203 --dets_per_image 300 --seed 0]
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from official_projects_backbone_reuse.evaluation import lvis_evaluator
from tests import lvis_reference


def synthetic_lvis(
    num_images: int, num_categories: int, dets_per_image: int, seed: int
) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
  """An LVIS-style ground truth dict and box detections for it."""
  rng = np.random.default_rng(seed)
  # LVIS v1 has 337 rare, 461 common and 405 frequent categories.
  frequency = np.array(['r', 'c', 'f'])[np.minimum(
      np.arange(num_categories) * 3 // num_categories, 2)]
  categories = [{'id': i + 1, 'name': f'category_{i + 1}', 'frequency': f}
                for i, f in enumerate(frequency)]
  weight = np.select([frequency == 'r', frequency == 'c'], [0.05, 1.0], 10.0)
  weight /= weight.sum()
  images, annotations, detections = [], [], []
  for image_id in range(1, num_images + 1):
    height, width = (int(v) for v in rng.integers(400, 641, 2))
    num_positive = min(int(rng.poisson(2.5)), num_categories)
    positive = rng.choice(num_categories, num_positive, replace=False,
                          p=weight) + 1
    others = np.setdiff1d(np.arange(1, num_categories + 1), positive)
    negative = rng.choice(others, min(int(rng.integers(0, 9)), len(others)),
                          replace=False)
    images.append({
        'id': image_id, 'height': height, 'width': width,
        'neg_category_ids': sorted(int(c) for c in negative),
        'not_exhaustive_category_ids': sorted(
            int(c) for c in positive if rng.random() < 0.1)})
    # Objects: 1 + geometric per positive category, side 8..300 pixels.
    classes = np.repeat(positive, rng.geometric(0.4, num_positive))
    sides = np.exp(rng.uniform(np.log(8), np.log(300), (len(classes), 2)))
    sides = np.minimum(sides, [width - 1, height - 1])
    corners = rng.uniform(0, 1, (len(classes), 2)) * ([width, height] - sides)
    boxes = np.concatenate([corners, sides], axis=1)
    for c, box in zip(classes, boxes):
      annotations.append({
          'id': len(annotations) + 1, 'image_id': image_id,
          'category_id': int(c), 'bbox': box.tolist(),
          'area': float(box[2] * box[3])})
    # Detections: two jittered copies per object (mostly the right class),
    # a third on the image's positive/negative categories, the rest anywhere.
    num_jittered = min(2 * len(classes), dets_per_image)
    source = rng.integers(0, max(len(classes), 1), num_jittered)
    jittered = boxes[source] if len(classes) else np.zeros((0, 4))
    jittered = jittered * (1 + rng.normal(0, 0.1, (num_jittered, 4)))
    num_random = dets_per_image - num_jittered
    random_boxes = np.concatenate([
        rng.uniform(0, 1, (num_random, 2)) * [width, height],
        np.exp(rng.uniform(np.log(8), np.log(300), (num_random, 2)))], axis=1)
    verified = np.concatenate([positive, negative]).astype(int)
    det_classes = np.concatenate([
        np.where(rng.random(num_jittered) < 0.8,
                 classes[source] if len(classes) else 0,
                 rng.integers(1, num_categories + 1, num_jittered)),
        np.where((rng.random(num_random) < 0.33) & (len(verified) > 0),
                 rng.choice(verified if len(verified) else [1], num_random),
                 rng.integers(1, num_categories + 1, num_random))])
    scores = np.concatenate([rng.beta(3, 1.5, num_jittered),
                             rng.beta(1, 3, num_random)])
    for c, box, score in zip(det_classes, np.concatenate(
        [jittered, random_boxes]), scores):
      detections.append({'image_id': image_id, 'category_id': int(c),
                         'bbox': box.tolist(), 'score': float(score)})
  gt = {'images': images, 'categories': categories,
        'annotations': annotations}
  return gt, detections


def run(num_images: int, num_categories: int, dets_per_image: int,
        seed: int) -> Dict[str, float]:
  """Evaluates one synthetic set with both; prints and returns the figures."""
  gt, detections = synthetic_lvis(num_images, num_categories, dets_per_image,
                                  seed)
  print(f'{num_images} images, {num_categories} categories, '
        f'{len(gt["annotations"])} objects, {len(detections)} detections '
        '(bbox).', flush=True)
  start = time.perf_counter()
  fast = lvis_evaluator.evaluate(gt, detections, 'bbox')['metrics']
  fast_s = time.perf_counter() - start
  print(f'lvis_evaluator.evaluate: {fast_s:.1f} s', flush=True)
  start = time.perf_counter()
  reference = lvis_reference.reference_evaluate(gt, detections, 'bbox')
  reference_s = time.perf_counter() - start
  print(f'lvis.LVISEval (reference): {reference_s:.1f} s', flush=True)
  max_diff = max(abs(fast[k] - reference[k]) for k in reference)
  print(f'speed ratio (reference / evaluate): {reference_s / fast_s:.1f}x')
  print(f'max abs metric difference: {max_diff:.3g}')
  print('metrics: ' + ', '.join(f'{k}={v:.4f}' for k, v in fast.items()))
  return {'evaluate_s': fast_s, 'reference_s': reference_s,
          'ratio': reference_s / fast_s, 'max_abs_diff': max_diff}


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--images', type=int, default=5000)
  parser.add_argument('--categories', type=int, default=1203)
  parser.add_argument('--dets_per_image', type=int, default=300)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  run(args.images, args.categories, args.dets_per_image, args.seed)
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
