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

"""Copy-Paste augmentation (Ghiasi et al., CVPR 2021): the compositing step.

Both images have already been scale-jittered, cropped and flipped to the
same output size (Large Scale Jittering); here a random subset of the
source's objects is pasted onto the destination by their masks, and the
destination's ground truth is updated. In output pixels, with boxes
[ymin, xmin, ymax, xmax] (max exclusive) and binary masks [N, H, W]:

* m is drawn uniformly from 0..N_source (the source's objects left in its
  crop, by box, as MMDetection's LSJ leaves them) and m of them, chosen
  at random, are pasted with hard compositing (alpha = the union of their
  masks); `blend_sigma` > 0 blurs alpha with a Gaussian (off by default,
  as in the reference code);
* destination objects lose the pixels under alpha; an object whose
  remaining mask area is at most `occluded_area_threshold` (300) AND whose
  tight box moved by more than `box_moved_threshold` (10) pixels in any
  coordinate is dropped, as is one with nothing left; every remaining
  object's box becomes the tight box of its remaining mask;
* pasted objects carry their class and mask, their box the tight box of
  their mask.

Reference semantics: tensorflow/tpu `models/official/detection/dataloader/
maskrcnn_parser_with_copy_paste.py` and MMDetection's `CopyPaste`. The
visibility rule here is MMDetection's (kept when the box moved at most 10
px OR the remaining area is over 300 px), evaluated per object; the
tensorflow/tpu code calls `tf.reduce_any` without an axis, so as soon as
any object moved every small object of the image is dropped: not copied.
Crowd annotations are removed before this step (neither pasted nor kept as
targets, as the reference's `skip_crowd_during_training`).

Masks are uint8 0/1 from the decoder on (`copy_paste_input`), and only the
chosen source objects' masks are resampled: full-size masks are most of
the work.
"""
from typing import Dict, Optional, Sequence

import tensorflow as tf

from official.vision.ops import box_ops
from official.vision.ops import preprocess_ops

Objects = Dict[str, tf.Tensor]  # image [H, W, 3], boxes, classes, masks


def tight_boxes(masks: tf.Tensor) -> tf.Tensor:
  """Returns the tight boxes of masks.

  [N, 4] boxes [ymin, xmin, ymax, xmax] (max exclusive) of masks
  [N, H, W] (0/1, any dtype); all zeros for an empty mask."""
  rows = tf.reduce_max(masks, axis=2)  # [N, H]
  cols = tf.reduce_max(masks, axis=1)  # [N, W]
  height, width = tf.shape(masks)[1], tf.shape(masks)[2]

  def span(present, size):
    first = tf.argmax(present, axis=1, output_type=tf.int32)
    last = size - tf.argmax(tf.reverse(present, [1]), axis=1,
                            output_type=tf.int32)
    return first, last

  ymin, ymax = span(rows, height)
  xmin, xmax = span(cols, width)
  boxes = tf.cast(tf.stack([ymin, xmin, ymax, xmax], axis=1), tf.float32)
  empty = tf.equal(tf.reduce_max(rows, axis=1), 0)
  return tf.where(empty[:, None], tf.zeros_like(boxes), boxes)


def _binary(masks: tf.Tensor) -> tf.Tensor:
  """Masks as uint8 0/1 (nonzero: inside); uint8 masks are taken as 0/1."""
  return masks if masks.dtype == tf.uint8 else tf.cast(masks > 0, tf.uint8)


def choose_objects(num_objects: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
  """[N] bool: m ~ uniform(0..N) objects chosen at random (stateless)."""
  seeds = tf.random.experimental.stateless_split(seed, 2)
  count = tf.random.stateless_uniform([], seeds[0], 0, num_objects + 1,
                                      dtype=tf.int32)
  order = tf.argsort(tf.random.stateless_uniform([num_objects], seeds[1]))
  return tf.scatter_nd(order[:, None], tf.range(num_objects) < count,
                       [num_objects])


def _blur(alpha: tf.Tensor, sigma: float) -> tf.Tensor:
  """alpha [H, W] blurred by a Gaussian of `sigma` pixels (separable)."""
  radius = max(1, int(round(3 * sigma)))
  x = tf.range(-radius, radius + 1, dtype=tf.float32)
  kernel = tf.exp(-0.5 * tf.square(x / sigma))
  kernel /= tf.reduce_sum(kernel)
  # Mirrored at the border: an object at the image edge stays opaque there.
  image = tf.pad(alpha, [[radius, radius]] * 2, mode='SYMMETRIC')
  image = image[None, :, :, None]
  image = tf.nn.conv2d(image, tf.reshape(kernel, [-1, 1, 1, 1]), 1, 'VALID')
  image = tf.nn.conv2d(image, tf.reshape(kernel, [1, -1, 1, 1]), 1, 'VALID')
  return image[0, :, :, 0]


def paste(destination: Objects, source: Objects, chosen: tf.Tensor,
          occluded_area_threshold: float = 300.0,
          box_moved_threshold: float = 10.0,
          blend_sigma: float = 0.0) -> Objects:
  """Pastes the chosen source objects on the destination.

  The destination's own objects are updated as the module docstring says;
  `chosen` is [N_source] bool.

  Args:
    destination: image [H, W, 3], boxes [N, 4] (output pixels), classes
      [N], masks [N, H, W] (binary, any dtype).
    source: the same keys, same H and W.
    chosen: which source objects are pasted (`choose_objects`).
    occluded_area_threshold: remaining mask area (pixels) at or under which
      a destination object whose box moved is dropped.
    box_moved_threshold: pixels a box coordinate must move for the object
      to count as occluded.
    blend_sigma: Gaussian blur of the compositing mask's edges (0: hard).

  Returns:
    image (the destination's dtype), boxes (float32), classes, masks
    (uint8 0/1): the kept destination objects, then the pasted ones.
  """
  pasted_masks = tf.boolean_mask(_binary(source['masks']), chosen)
  occluded = tf.reduce_max(pasted_masks, axis=0)  # [H, W]; 0 when empty
  alpha = tf.cast(occluded, tf.float32)  # hard: under any pasted object
  if blend_sigma > 0:
    alpha = _blur(alpha, blend_sigma)
  dtype = destination['image'].dtype
  image = tf.cast(destination['image'], tf.float32)
  image += (tf.cast(source['image'], tf.float32) - image) * alpha[..., None]
  if dtype.is_integer:
    image = tf.clip_by_value(tf.round(image), dtype.min, dtype.max)
  image = tf.cast(image, dtype)

  masks = _binary(destination['masks']) * (1 - occluded)
  boxes = tight_boxes(masks)
  moved = tf.reduce_max(
      tf.abs(boxes - tf.cast(destination['boxes'], tf.float32)), axis=1)
  area = tf.cast(tf.math.count_nonzero(masks, axis=[1, 2]), tf.float32)
  keep = tf.logical_and(
      area > 0, tf.logical_or(area > occluded_area_threshold,
                              moved <= box_moved_threshold))
  return {
      'image': image,
      'boxes': tf.concat([tf.boolean_mask(boxes, keep),
                          tight_boxes(pasted_masks)], 0),
      'classes': tf.concat([
          tf.boolean_mask(destination['classes'], keep),
          tf.cast(tf.boolean_mask(source['classes'], chosen),
                  destination['classes'].dtype)], 0),
      'masks': tf.concat([tf.boolean_mask(masks, keep), pasted_masks], 0),
  }


def _lsj_window(image_size: tf.Tensor, output_size: Sequence[int],
                scale_min: float, scale_max: float, seed: tf.Tensor):
  """Draws Model Garden's LSJ geometry statelessly.

  The geometry is `preprocess_ops.resize_and_crop_image`'s: the scaled image
  size, its per-axis scale and the crop offset, all float32 [2]."""
  seeds = tf.random.experimental.stateless_split(seed, 2)
  desired = tf.constant(output_size, tf.float32)
  scaled = tf.round(desired * tf.random.stateless_uniform(
      [], seeds[0], scale_min, scale_max))
  scaled = tf.round(image_size * tf.reduce_min(scaled / image_size))
  offset = tf.floor(tf.maximum(scaled - desired, 0)
                    * tf.random.stateless_uniform([2], seeds[1]))
  return scaled, scaled / image_size, offset


def _nearest(size_in, size_out, scaled, offset, flip=None):
  """Maps output rows or columns to input ones, as nearest `resize` does.

  Where each output row (or column) reads in the input under
  TensorFlow's half-pixel nearest-neighbour `resize` of the input to
  `scaled` then cropped at `offset` (clipped as `resize` clips; mirrored
  when `flip`), and how many output pixels lie inside the scaled image (the
  rest is padding)."""
  out = tf.range(size_out, dtype=tf.float32) + offset
  last = size_in - 1
  nearest = tf.minimum(tf.floor((out + 0.5) * size_in / scaled), last)
  if flip is not None:
    nearest = tf.where(flip, last - nearest, nearest)
  inside = tf.cast(tf.clip_by_value(scaled - offset, 0, size_out), tf.int32)
  return tf.cast(nearest, tf.int32)[:inside], inside


def jitter(decoded: Dict[str, tf.Tensor], output_size: Sequence[int],
           scale_min: float, scale_max: float, hflip: bool,
           seed: tf.Tensor, choose_seed: Optional[tf.Tensor] = None
           ) -> Objects:
  """Flips and scale-jitters a decoded example at random.

  A decoded example (Model Garden's `TfExampleDecoder`, with masks)
  without its crowd annotations, randomly flipped and scale-jittered to
  `output_size`: image float32 (0-255), boxes in output pixels, classes,
  masks [N, H, W] uint8 0/1; objects cropped away dropped.

  With `choose_seed` (the source of a pair), only a random subset of the
  objects left in the crop is kept (`choose_objects`, m of the N whose box
  is not empty), and only their masks are resampled.

  The same result as Model Garden's LSJ ops (`random_horizontal_flip`,
  `resize_and_crop_image` with `padded_size` = `output_size`,
  `resize_and_crop_boxes` / `_masks`: bilinear image, nearest-neighbour
  masks; padding as Model Garden's once normalised), but computed for the
  output pixels only (its ops resize the whole image, up to `scale_max`^2
  its area, then crop) and drawn from a stateless `seed` [2], so parallel
  calls stay deterministic.
  """
  boxes, image = decoded['groundtruth_boxes'], decoded['image']
  seeds = tf.random.experimental.stateless_split(seed, 2)
  flip = tf.random.stateless_uniform([], seeds[0]) < (0.5 if hflip else 0.0)
  image_size = tf.cast(tf.shape(image)[:2], tf.float32)
  scaled, scale, offset = _lsj_window(image_size, output_size, scale_min,
                                      scale_max, seeds[1])
  rows, height = _nearest(image_size[0], output_size[0], scaled[0],
                          offset[0])
  cols, width = _nearest(image_size[1], output_size[1], scaled[1],
                         offset[1], flip)
  padding = [[0, output_size[0] - height], [0, output_size[1] - width]]

  # Bilinear with half-pixel centres, clamped at the edges, as `resize`;
  # "triangle" without antialiasing is exactly that.
  image = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
  image = tf.raw_ops.ScaleAndTranslate(
      images=image[None], size=tf.stack([height, width]), scale=scale,
      translation=-offset, kernel_type='triangle', antialias=False)[0]
  # Padded with the mean pixel: Model Garden pads after normalising, with
  # zeros, which is the mean once the parser normalises the composite.
  mean = tf.constant(preprocess_ops.MEAN_RGB)
  image = tf.pad(image - mean, padding + [[0, 0]]) + mean
  boxes = tf.where(flip, preprocess_ops.horizontal_flip_boxes(boxes), boxes)
  boxes = preprocess_ops.resize_and_crop_boxes(
      box_ops.denormalize_boxes(boxes, image_size), scale, output_size,
      offset)
  kept = tf.where(tf.logical_and(
      tf.reduce_all(boxes[:, 2:] > boxes[:, :2], axis=1),
      tf.logical_not(tf.cast(decoded['groundtruth_is_crowd'], tf.bool))))[:, 0]
  if choose_seed is not None:
    kept = tf.boolean_mask(kept, choose_objects(tf.size(kept), choose_seed))
  # Rows first (contiguous copies), then the columns, as uint8.
  masks = tf.gather(decoded['groundtruth_instance_masks'], kept)
  masks = _binary(tf.gather(masks, rows, axis=1))
  masks = tf.pad(tf.gather(masks, cols, axis=2), [[0, 0]] + padding)
  present = tf.reduce_max(masks, axis=[1, 2]) > 0  # a box's mask may be out
  return {'image': image,
          'boxes': tf.boolean_mask(tf.gather(boxes, kept), present),
          'classes': tf.boolean_mask(
              tf.gather(decoded['groundtruth_classes'], kept), present),
          'masks': tf.boolean_mask(masks, present)}


def as_decoded(objects: Objects, source_id: tf.Tensor) -> Dict[str, tf.Tensor]:
  """Returns a composite as Model Garden's decoder gives an example.

  A uint8 image, normalised boxes and no crowds, for its parser to take on
  from there."""
  size = tf.shape(objects['image'])[:2]
  image = tf.cast(tf.clip_by_value(tf.round(objects['image']), 0, 255),
                  tf.uint8)
  count = tf.shape(objects['classes'])[0]
  return {
      'source_id': source_id,
      'image': image,
      'height': size[0],
      'width': size[1],
      'groundtruth_classes': tf.cast(objects['classes'], tf.int64),
      'groundtruth_is_crowd': tf.zeros([count], tf.bool),
      'groundtruth_area': tf.cast(
          tf.math.count_nonzero(objects['masks'], axis=[1, 2]), tf.float32),
      'groundtruth_boxes': box_ops.normalize_boxes(objects['boxes'], size),
      'groundtruth_instance_masks': tf.cast(objects['masks'], tf.float32),
  }
