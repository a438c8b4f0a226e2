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

r"""Draws what a detector is trained on: a PNG grid of training samples.

Builds the task's training input as a training run does (Model Garden's
parser with its augmentation: Large Scale Jittering, flips, and Copy-Paste
when `task.train_data.copy_paste.enabled`), takes `--images` samples and
draws each with the targets the model learns from: boxes and class names
(from the categories of `task.annotation_file` when that file exists, else
ids) and, for Mask R-CNN, the instance masks (the parser's per-box mask
crops pasted back into their boxes). RetinaNet's input holds anchor targets
only: its boxes are decoded from the positive anchors (Model Garden matches
every ground-truth box to at least its best anchor), one per distinct box.
Images are shown as the model gets them, padding included, with the
normalisation undone.

Example (the laptop LVIS Mask R-CNN with Copy-Paste):
  backbone-reuse-show-inputs \
    backbone_reuse_maskrcnn:experiments/small/lvis_maskrcnn.yaml+experiments/augment/copy_paste.yaml \
    --params_override=task.train_data.input_path=/data/train* \
    --output=/tmp/samples.png
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import io
import sys
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
from PIL import Image
import tensorflow as tf

from official.core import task_factory
from official.vision.ops import box_ops
from official.vision.ops import preprocess_ops
from official.vision.utils.object_detection import visualization_utils

from official_projects_backbone_reuse import registry_imports  # pylint: disable=unused-import
from official_projects_backbone_reuse.analysis import report
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.common.errors import UserError
from official_projects_backbone_reuse.runtime import checks
from official_projects_backbone_reuse.serving import label_map as label_maps

Sample = Dict[str, np.ndarray]  # image uint8 [H, W, 3], boxes, classes, masks


def _image(normalized: np.ndarray) -> np.ndarray:
  """The parser's image with its mean / stddev normalisation undone."""
  pixels = (normalized.astype(np.float32) * preprocess_ops.STDDEV_RGB
            + preprocess_ops.MEAN_RGB)
  return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def _pasted_masks(crops: np.ndarray, boxes: np.ndarray, height: int,
                  width: int, outer_boxes_scale: float) -> np.ndarray:
  """Pastes the parser's mask crops into full-image masks.

  [N, H, W] uint8 masks: each crop (the parser's, of the box scaled by
  `outer_boxes_scale`) resized into its box of the image, > 0.5."""
  outer = box_ops.compute_outer_boxes(
      tf.constant(boxes, tf.float32), [height, width],
      outer_boxes_scale).numpy()
  masks = np.zeros((len(boxes), height, width), np.uint8)
  for mask, crop, (y0, x0, y1, x1) in zip(masks, crops, outer):
    top, left = int(np.floor(y0)), int(np.floor(x0))
    bottom, right = int(np.ceil(y1)), int(np.ceil(x1))
    if bottom <= top or right <= left:
      continue
    part = cv2.resize(crop.astype(np.float32), (right - left, bottom - top),
                      interpolation=cv2.INTER_LINEAR) > 0.5
    # The outer box may reach past the image: keep the part inside.
    inside = part[max(0, -top):height - top, max(0, -left):width - left]
    mask[max(0, top):max(0, top) + inside.shape[0],
         max(0, left):max(0, left) + inside.shape[1]] = inside
  return masks


def _rcnn_targets(labels: Dict[str, np.ndarray], row: int,
                  image_shape: Sequence[int],
                  outer_boxes_scale: float) -> Sample:
  """Decodes the boxes, classes and masks of an R-CNN sample.

  Boxes, classes and masks of a Faster / Mask R-CNN sample (padding
  rows have class -1)."""
  valid = labels['gt_classes'][row] > 0
  sample = {'boxes': labels['gt_boxes'][row][valid],
            'classes': labels['gt_classes'][row][valid].astype(int)}
  if 'gt_masks' in labels:
    sample['masks'] = _pasted_masks(labels['gt_masks'][row][valid],
                                    sample['boxes'], *image_shape[:2],
                                    outer_boxes_scale)
  return sample


def _retinanet_targets(labels: Dict[str, np.ndarray], row: int) -> Sample:
  """Decodes the ground truth of a RetinaNet sample.

  The distinct ground-truth boxes and classes decoded from a RetinaNet
  sample's positive anchors."""
  boxes, classes = [], []
  for level, targets in labels['cls_targets'].items():
    positive = targets[row] > 0  # [H, W, anchors]; -1 ignored, 0 background
    anchors = np.reshape(labels['anchor_boxes'][level][row],
                         positive.shape + (4,))
    encoded = np.reshape(labels['box_targets'][level][row],
                         positive.shape + (4,))
    boxes.append(box_ops.decode_boxes(encoded[positive],
                                      anchors[positive]).numpy())
    classes.append(targets[row][positive])
  boxes, classes = np.concatenate(boxes), np.concatenate(classes)
  # Every anchor of one box decodes to it, up to float error.
  keys = np.concatenate([np.round(boxes * 2), classes[:, None]], axis=1)
  _, first = np.unique(keys, axis=0, return_index=True)
  first = np.sort(first)
  return {'boxes': boxes[first], 'classes': classes[first].astype(int)}


def samples(params, count: int, seed: int) -> List[Sample]:
  """`count` training samples of the experiment, as its task feeds them."""
  task_config = params.task
  data = task_config.train_data.replace(global_batch_size=count, seed=seed)
  tf.random.set_seed(seed)
  task = task_factory.get_task(task_config)
  images, labels = tf.nest.map_structure(
      lambda t: t.numpy(), next(iter(task.build_inputs(data))))
  outer_scale = getattr(task_config.model, 'outer_boxes_scale', 1.0)
  result = []
  for row in range(count):
    image = _image(images[row])
    sample = (_rcnn_targets(labels, row, image.shape, outer_scale)
              if 'gt_boxes' in labels else _retinanet_targets(labels, row))
    sample['image'] = image
    result.append(sample)
  return result


def draw(sample: Sample, names: Dict[int, str]) -> np.ndarray:
  """The sample's image with its boxes, class names and masks."""
  classes = sample['classes']
  category_index = {int(c): {'id': int(c), 'name': names.get(int(c), str(c))}
                    for c in classes}
  return visualization_utils.visualize_boxes_and_labels_on_image_array(
      sample['image'].copy(), np.reshape(sample['boxes'], (-1, 4)), classes,
      np.ones(len(classes)), category_index,
      instance_masks=sample.get('masks'), use_normalized_coordinates=False,
      max_boxes_to_draw=None, min_score_thresh=0.0, skip_scores=True,
      line_thickness=1)


def grid(pictures: Sequence[np.ndarray], columns: int) -> np.ndarray:
  """The pictures (one size) tiled row by row, 4 white pixels apart."""
  height, width = pictures[0].shape[:2]
  rows = -(-len(pictures) // columns)
  gap = 4
  canvas = np.full((rows * (height + gap) - gap,
                    columns * (width + gap) - gap, 3), 255, np.uint8)
  for i, picture in enumerate(pictures):
    top, left = (i // columns) * (height + gap), (i % columns) * (width + gap)
    canvas[top:top + height, left:left + width] = picture
  return canvas


def _png(picture: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(picture).save(buffer, format='PNG')
  return buffer.getvalue()


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='backbone-reuse-show-inputs', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('experiment', metavar='NAME[:FILE[+FILE]]',
                      help='a recipe or registered experiment, then YAML '
                      'files that override it in order')
  parser.add_argument('--params_override', default='',
                      help='applied after the files')
  parser.add_argument('--output', required=True, help='the PNG to write')
  parser.add_argument('--overwrite', action='store_true',
                      help='replace --output if it exists')
  parser.add_argument('--images', type=int, default=8,
                      help='samples to draw (one batch of this size)')
  parser.add_argument('--columns', type=int, default=4)
  parser.add_argument('--seed', type=int, default=0,
                      help='the input seed: the same seed, the same grid')
  return parser


@errors.exits_on_error
def main(argv: Optional[Sequence[str]] = None) -> int:
  args = _parser().parse_args(argv)
  for flag in ('images', 'columns'):
    if getattr(args, flag) < 1:
      raise ConfigError(f'--{flag}={getattr(args, flag)}: expected at least '
                        '1.')
  report.check_outputs(args)
  (_, params), = report.load_specs([args.experiment], args.params_override,
                                   None)
  checks.check_input_data(
      params.task, [('task.train_data.input_path', params.task.train_data)])
  input_path = params.task.train_data.input_path
  try:
    drawn = samples(params, args.images, args.seed)
  except tf.errors.OpError as e:
    raise UserError(f'task.train_data.input_path={input_path}: cannot be '
                    f'read as training input: {errors.first_line(e)}') from e
  names = {int(k): v for k, v in (label_maps.from_annotations(
      getattr(params.task, 'annotation_file', None)) or {}).items()}
  files.write_atomically(args.output, _png(grid(
      [draw(sample, names) for sample in drawn], args.columns)))
  print(f'{args.output}: {args.images} training samples of '
        f'{args.experiment}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
