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

"""Times the LVIS evaluator's mask conversion before and after `mask_paste`.

Before: Model Garden's `coco_utils.convert_predictions_to_coco_annotations`
pastes and encodes every slot, then the padding is dropped (what
`LVISEvaluator.detections` did). After: `LVISEvaluator.detections` today,
`mask_paste.convert_predictions` pasting the real detections only. Both run
on the same Model Garden style predictions (LVIS-like: `--detections` real
of `--slots` slots per image, 28 x 28 mask probabilities, images 400-640
pixels a side, from `lvis_eval_speed.synthetic_lvis`), interleaved (before,
after, before, ...). Prints the median wall and CPU time per image of each,
the ratio, whether the detections (RLEs included) are identical and the
largest metric difference, and what the conversion would take on full LVIS
val (19,809 images x 300 detections) at the measured cost.

Run:
  python -m tests.benchmarks.mask_eval_speed \
      [--images 10 --slots 360 --detections 300 --repeats 3 --seed 0]
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np

from official.vision.evaluation import coco_utils
from official_projects_backbone_reuse.evaluation import lvis_evaluator
from official_projects_backbone_reuse.evaluation import results_evaluator
from tests.benchmarks import lvis_eval_speed

LVIS_VAL_IMAGES = 19809
MASK_SIZE = 28  # Mask R-CNN's mask head output.


def smooth_masks(rng: np.random.Generator, shape) -> np.ndarray:
  """Mask probabilities [..., 28, 28] shaped like a mask head's: an object
  blob with a wavy border, not pixel noise."""
  n = int(np.prod(shape))
  grid = np.linspace(-1, 1, MASK_SIZE)
  y, x = grid[None, :, None], grid[None, None, :]
  frequency = rng.uniform(0.5, 2.0, (n, 2, 1, 1))
  phase = rng.uniform(0, 2 * np.pi, (n, 1, 1))
  wave = np.cos(np.pi * (frequency[:, 0] * x + frequency[:, 1] * y) + phase)
  size = rng.uniform(0.4, 0.9, (n, 1, 1))
  logits = 6 * (size - np.hypot(x, y)) + 1.5 * wave
  return (1 / (1 + np.exp(-logits))).astype(np.float32).reshape(
      tuple(shape) + (MASK_SIZE, MASK_SIZE))


def model_garden_batches(gt: Dict[str, Any], detections: List[Dict[str, Any]],
                         slots: int, num_real: int, seed: int,
                         batch_size: int = 2
                         ) -> Iterator[Dict[str, np.ndarray]]:
  """Predictions of `detections` as a Model Garden task hands them over:
  per image `num_real` real of `slots` slots ([y1, x1, y2, x2] boxes in the
  resized image), then padding (class 0, score 0, zero box, a mask all the
  same); made batch by batch, as an evaluation's arrive."""
  rng = np.random.default_rng(seed)
  per_image = {}
  for d in detections:
    per_image.setdefault(d['image_id'], []).append(d)
  images = gt['images']
  for start in range(0, len(images), batch_size):
    batch = images[start:start + batch_size]
    b = len(batch)
    boxes = np.zeros((b, slots, 4), np.float32)
    classes = np.zeros((b, slots), np.int32)
    scores = np.zeros((b, slots), np.float32)
    num = np.zeros(b, np.int32)
    image_info = np.zeros((b, 4, 2), np.float32)
    for j, image in enumerate(batch):
      scale = 1024 / max(image['height'], image['width'])  # LVIS eval size.
      image_info[j] = [[image['height'], image['width']],
                       [image['height'] * scale, image['width'] * scale],
                       [scale, scale], [0, 0]]
      dets = sorted(per_image.get(image['id'], []),
                    key=lambda d: -d['score'])[:num_real]
      num[j] = len(dets)
      for k, d in enumerate(dets):
        x, y, w, h = d['bbox']
        boxes[j, k] = np.array([y, x, y + h, x + w]) * scale
        classes[j, k] = d['category_id']
        scores[j, k] = d['score']
    yield {
        'source_id': np.array([image['id'] for image in batch], np.int64),
        'num_detections': num, 'detection_boxes': boxes,
        'detection_classes': classes, 'detection_scores': scores,
        'detection_masks': smooth_masks(rng, (b, slots)),
        'image_info': image_info}


def model_garden_detections(
    predictions: Dict[str, List[np.ndarray]]) -> List[Dict[str, Any]]:
  """`LVISEvaluator.detections` before `mask_paste`: Model Garden's
  conversion of every slot, then the padding dropped."""
  predictions = {k: list(v) for k, v in predictions.items()}
  num_detections = [n.reshape(-1) for n in predictions['num_detections']]
  anns = coco_utils.convert_predictions_to_coco_annotations(predictions)
  max_k = predictions['detection_classes'][0].shape[1]
  keep = np.concatenate(
      [np.arange(max_k)[None, :] < n[:, None] for n in num_detections])
  results = []
  for ann, valid in zip(anns, keep.reshape(-1)):
    if not valid:
      continue
    rle = ann['segmentation']
    results.append({
        'image_id': int(ann['image_id']),
        'category_id': int(ann['category_id']),
        'bbox': [float(v) for v in ann['bbox']],
        'score': float(ann['score']),
        'segmentation': {'size': [int(s) for s in rle['size']],
                         'counts': rle['counts'].decode('ascii')}})
  return results


def _timed(fn: Callable[[], Any]):
  wall, cpu = time.perf_counter(), time.process_time()
  out = fn()
  return out, time.perf_counter() - wall, time.process_time() - cpu


def masked_lvis(num_images: int, num_categories: int, num_real: int,
                seed: int):
  """`synthetic_lvis` with box-shaped segmentations, and its evaluator.

  The ground truth, the detections and an LVISEvaluator (masks) of it."""
  gt, detections = lvis_eval_speed.synthetic_lvis(
      num_images, num_categories, num_real, seed)
  for ann in gt['annotations']:  # Box-shaped objects, for 'segm'.
    x, y, w, h = ann['bbox']
    ann['segmentation'] = [[x, y, x + w, y, x + w, y + h, x, y + h]]
  with tempfile.TemporaryDirectory() as folder:
    annotation_file = os.path.join(folder, 'lvis_val.json')
    with open(annotation_file, 'w') as f:
      json.dump(gt, f)
    evaluator = lvis_evaluator.LVISEvaluator(annotation_file,
                                             include_mask=True)
  return gt, detections, evaluator


def run(num_images: int, slots: int, num_real: int, repeats: int,
        seed: int, num_categories: int = 1203) -> Dict[str, float]:
  """Times both conversions on one synthetic set; prints and returns the
  figures (seconds per image, medians)."""
  gt, detections, evaluator = masked_lvis(num_images, num_categories,
                                          num_real, seed)
  # What Model Garden's update_state keeps (boxes rescaled), batch by
  # batch; the evaluator converts each batch as it arrives.
  stored = {}
  for predictions in model_garden_batches(gt, detections, slots, num_real,
                                          seed):
    evaluator.update_state(None, predictions)
    kept = {k: np.array(v) for k, v in predictions.items()}
    evaluator._process_bbox_predictions(kept)  # pylint: disable=protected-access
    for k, v in kept.items():
      stored.setdefault(k, []).append(v)
  sizes = np.array([[i['height'], i['width']] for i in gt['images']])
  print(f'{num_images} images ({sizes[:, 0].mean():.0f} x '
        f'{sizes[:, 1].mean():.0f} pixels on average), {slots} slots and '
        f'{num_real} detections per image, {MASK_SIZE}x{MASK_SIZE} masks; '
        f'{repeats} repeats, interleaved.', flush=True)
  times = {'before': [], 'after': []}
  for _ in range(repeats):
    before, wall, cpu = _timed(lambda: model_garden_detections(stored))
    times['before'].append((wall / num_images, cpu / num_images))
    after, wall, cpu = _timed(lambda: results_evaluator.table_of(stored).results())
    times['after'].append((wall / num_images, cpu / num_images))
  median = {name: (statistics.median(w for w, _ in t),
                   statistics.median(c for _, c in t))
            for name, t in times.items()}
  for name, what in (('before', "Model Garden's conversion of all slots, "
                      'then padding dropped'),
                     ('after', 'mask_paste, real detections only')):
    print(f'per image, {name} ({what}): wall {1e3 * median[name][0]:.1f} ms,'
          f' CPU {1e3 * median[name][1]:.1f} ms', flush=True)
  ratio = median['before'][0] / median['after'][0]
  print(f'speed ratio (before / after, wall): {ratio:.1f}x')
  assert evaluator.detections() == after  # streamed: the same detections
  identical = before == after
  rles_identical = [d['segmentation'] for d in before] == [
      d['segmentation'] for d in after]
  print(f'detections identical: {identical}; RLEs identical: '
        f'{rles_identical} ({len(after)} detections)')
  diffs = []
  for iou_type in ('bbox', 'segm'):
    want = lvis_evaluator.evaluate(gt, before, iou_type)['metrics']
    got = lvis_evaluator.evaluate(gt, after, iou_type)['metrics']
    diffs += [abs(got[k] - want[k]) for k in want]
  max_diff = max(diffs)
  print(f'max abs metric difference (bbox and segm): {max_diff:.3g}')
  # Per image cost scaled to 300 detections (proportional to them).
  per_lvis_image = LVIS_VAL_IMAGES * 300 / num_real
  lvis_val_s = median['after'][0] * per_lvis_image
  print(f'full LVIS val ({LVIS_VAL_IMAGES} images x 300 detections), mask '
        f'conversion at the measured cost: {lvis_val_s:.0f} s '
        f'({lvis_val_s / 60:.1f} min; before: '
        f'{median["before"][0] * per_lvis_image / 3600:.1f} h); under 10 '
        f'minutes on this machine: {"yes" if lvis_val_s < 600 else "no"}')
  return {'before_s': median['before'][0], 'after_s': median['after'][0],
          'before_cpu_s': median['before'][1],
          'after_cpu_s': median['after'][1], 'ratio': ratio,
          'identical': identical, 'max_abs_diff': max_diff,
          'lvis_val_s': lvis_val_s}


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--images', type=int, default=10)
  parser.add_argument('--slots', type=int, default=360)
  parser.add_argument('--detections', type=int, default=300)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--categories', type=int, default=1203)
  parser.add_argument('--seed', type=int, default=0)
  args = parser.parse_args(argv)
  run(args.images, args.slots, args.detections, args.repeats, args.seed,
      args.categories)
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
