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

"""The two views of an image that box-domain pre-training compares.

As in AlignDet (Li et al., ICCV 2023; `tasks/box_pretraining.py`): each
view is flipped at random (by the detector's own parser) and changed by
one of AlignDet's nine photometric operations, with no crop, so every
proposal is in both.
"""
import functools
from typing import Dict

import tensorflow as tf

from official.vision.ops import augment


def _factor(m: int) -> float:
  return m * 1.8 / 10 + 0.1  # PIL ImageEnhance factor of magnitude m


def _enhance(op):
  """Makes a PIL ImageEnhance op of Model Garden take a tensor factor.

  PIL's ImageEnhance `op` of Model Garden with a tensor factor: its
  degenerate image (`op` at factor 0) blended with the image as
  `augment.blend` does, whose Python branches on the factor need a number."""
  def enhance(image, m):
    degenerate = tf.cast(op(image, 0.0), tf.float32)
    blended = degenerate + m['factor'] * (tf.cast(image, tf.float32)
                                          - degenerate)
    return tf.cast(tf.clip_by_value(blended, 0.0, 255.0), tf.uint8)
  return enhance


# AlignDet's `OneOf` (datasets/pipelines/rand_aug.py): an op uniformly, its
# magnitude m uniformly in 1..9; Model Garden's TF versions of PIL's ops.
# Each op takes its magnitude's arguments as tensors: the input pipeline
# traces 9 branches, not one per op and magnitude (81, half its build time).
_PHOTOMETRIC = (
    lambda image, m: image,  # identity
    lambda image, m: augment.autocontrast(image),
    lambda image, m: augment.equalize(image),
    lambda image, m: augment.solarize(image, m['threshold']),
    _enhance(augment.color),
    lambda image, m: augment.contrast(image, m['factor']),  # TF's own op
    _enhance(augment.brightness),
    _enhance(augment.sharpness),
    lambda image, m: augment.posterize(image, m['bits']),
)
# The arguments per magnitude 1..9, computed as AlignDet's ops compute them.
_MAGNITUDES = {
    'threshold': ([min(int(m * 256 / 10), 255) for m in range(1, 10)],
                  tf.uint8),
    'factor': ([_factor(m) for m in range(1, 10)], tf.float32),
    'bits': ([4 - int(m * 4 / 10) for m in range(1, 10)], tf.uint8),
}


def magnitude_arguments(magnitude: tf.Tensor) -> Dict[str, tf.Tensor]:
  """The ops' arguments at `magnitude` (1..9)."""
  return {name: tf.gather(tf.constant(table, dtype), magnitude - 1)
          for name, (table, dtype) in _MAGNITUDES.items()}


def photometric(image: tf.Tensor) -> tf.Tensor:
  """A uint8 image changed by one of the nine operations, at random."""
  values = magnitude_arguments(tf.random.uniform([], 1, 10, tf.int32))
  return tf.switch_case(tf.random.uniform([], 0, len(_PHOTOMETRIC), tf.int32),
                        [functools.partial(op, image, values)
                         for op in _PHOTOMETRIC])


def two_views(parse, max_proposals: int):
  """Turns a parser of one view into a parser of two views.

  A parser of one view -> a parser of two views of the same example,
  each proposal's class made its id (1..P, the first `max_proposals`)."""
  def parse_views(decoded):
    count = tf.minimum(tf.shape(decoded['groundtruth_classes'])[0],
                       max_proposals)
    decoded = {key: value[:count] if key.startswith('groundtruth_') else value
               for key, value in decoded.items()}
    decoded['groundtruth_classes'] = tf.range(1, count + 1, dtype=tf.int64)
    return tuple(parse(dict(decoded, image=photometric(decoded['image'])))
                 for _ in range(2))
  return parse_views
