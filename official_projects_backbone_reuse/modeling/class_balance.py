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

"""Class-balanced loss weights for the second (re-tuning) stage on LVIS.

The LVIS recipe of Ghiasi et al. (Copy-Paste, 2021), which the paper
follows, re-tunes the detector's final classification layer on a long-tailed
set with a class-balanced loss. The weighting here is the effective number of
samples of Cui et al. (2019): a class with n_c training annotations gets

    w_c = (1 - beta) / (1 - beta ** n_c),

and the foreground weights are scaled to sum to the number of foreground
classes (mean 1). beta = 0 weights every class equally; beta -> 1 weights
by 1 / n_c. The default 0.999 is Cui et al.'s choice for long-tailed sets of
this size (LVIS: n_c from 1 to ~50,000). The background class (0) keeps
weight 1. A class id without any annotation (ids the categories skip) gets
the weight of a class with one annotation; it is never a target.

The weights go into Model Garden's `losses.class_weights`, which its Fast
R-CNN class loss multiplies into each RoI's cross-entropy, in every cascade
stage.
"""
import json
from typing import List

import numpy as np
import tensorflow as tf

from official_projects_backbone_reuse.common.errors import ConfigError

_KEY = 'task.class_balanced_retuning'


def annotation_counts(annotation_file: str, num_classes: int) -> np.ndarray:
  """Annotations per class id (0..num_classes-1) in a COCO/LVIS JSON."""
  if not annotation_file:
    raise ConfigError(f'{_KEY}.annotation_file is required: the training '
                      'annotations (COCO or LVIS JSON) that give each '
                      "class's annotation count.")
  try:
    with tf.io.gfile.GFile(annotation_file) as f:
      annotations = json.load(f)['annotations']
  except (OSError, tf.errors.OpError) as e:
    raise ConfigError(f'{_KEY}.annotation_file={annotation_file}: cannot '
                      f'be read ({e}).') from e
  except (ValueError, KeyError, TypeError) as e:
    raise ConfigError(f'{_KEY}.annotation_file={annotation_file}: not a '
                      f'COCO/LVIS JSON with "annotations" ({e!r}).') from e
  ids = np.array([a['category_id'] for a in annotations], dtype=np.int64)
  if ids.size and (ids.min() < 1 or ids.max() >= num_classes):
    bad = ids[(ids < 1) | (ids >= num_classes)][0]
    raise ConfigError(
        f'{_KEY}.annotation_file={annotation_file}: category_id {bad} is '
        f'outside 1..{num_classes - 1} (task.model.num_classes '
        f'{num_classes}).')
  return np.bincount(ids, minlength=num_classes)


def class_balanced_weights(counts: np.ndarray, beta: float) -> List[float]:
  """Computes class-balanced `losses.class_weights`.

  From per-class annotation counts (module doc); `counts[0]`, the
  background, is ignored."""
  if not 0 <= beta < 1:
    raise ConfigError(f'{_KEY}.beta={beta}: expected 0 <= beta < 1.')
  foreground = np.maximum(np.asarray(counts[1:], dtype=np.float64), 1)
  weights = (1 - beta) / (1 - np.power(beta, foreground))
  weights *= len(weights) / weights.sum()
  return [1.0] + weights.tolist()
