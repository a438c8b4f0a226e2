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

"""The parts of a detector that `task.init_checkpoints` restores and freezes.

A part is a key of Model Garden's `model.checkpoint_items`: RetinaNet has
`backbone`, `decoder`, `head`; Faster / Mask / Cascade R-CNN `backbone`,
`decoder`, `rpn_head`, `detection_head` (every stage) or
`detection_head/<i>` (stage i, 0 the first), and `mask_head` with masks.

Label-space layers: the layers whose shape or meaning is tied to the
classes of the dataset a checkpoint was trained on. A detector trained on
COCO (81 outputs) gives its decoder and heads to a VOC detector (21) only
without them. Skipped by default (`skip_label_space`), they keep their
initialisation and always train, also in a frozen part:

* `detection_head`: the classifier `detection-scores`, and the box regressor
  `detection-boxes` when it is class-specific (4 outputs per class, i.e.
  `task.model.detection_head.class_agnostic_bbox_pred: false`);
* `mask_head`: its output `mask-logits` when class-specific
  (`task.model.mask_head.class_agnostic: false`);
* `head` (RetinaNet): the classifier `scores` (`scores-<level>` when the
  levels do not share it).

The RPN and the decoder are class-agnostic. Names are Model Garden's layer
names; `skip` adds layer-name patterns (fnmatch) of one's own.
"""
import fnmatch
from typing import Dict, List, Sequence

import tensorflow as tf
import tf_keras

from official.vision.configs import maskrcnn as maskrcnn_cfg

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.modeling import backbone_stages

BACKBONE = 'backbone'
SCORES_LAYER = 'detection-scores'  # Model Garden's detection-head classifier.
STAGE_SEPARATOR = restore.STAGE_SEPARATOR  # detection_head/1


def part_names(model_config) -> List[str]:
  """Lists the parts a detector of `model_config` has.

  By the names of `task.init_checkpoints[].modules`."""
  if not isinstance(model_config, maskrcnn_cfg.MaskRCNN):
    return [BACKBONE, 'decoder', 'head']
  stages = 1 + len(model_config.roi_sampler.cascade_iou_thresholds or [])
  names = [BACKBONE, 'decoder', 'rpn_head', 'detection_head']
  names += [f'detection_head{STAGE_SEPARATOR}{i}' for i in range(stages)]
  if model_config.include_mask:
    names.append('mask_head')
  return names


def label_space_patterns(model_config, part: str) -> List[str]:
  """Layer names (fnmatch patterns) of `part` tied to the label space."""
  module = part.split(STAGE_SEPARATOR)[0]
  if module == 'head':
    return ['scores', 'scores-*']
  if module == 'detection_head':
    agnostic = model_config.detection_head.class_agnostic_bbox_pred
    return [SCORES_LAYER] + ([] if agnostic else ['detection-boxes'])
  if module == 'mask_head' and not model_config.mask_head.class_agnostic:
    return ['mask-logits']
  return []


def skip_patterns(model_config, entry, part: str) -> List[str]:
  """The layer-name patterns of `part` that `entry` leaves as initialised."""
  own = list(entry.skip or [])
  return own + (label_space_patterns(model_config, part)
                if entry.skip_label_space else [])


def part_objects(model: tf_keras.Model) -> Dict[str, object]:
  """The model's objects by part name (`detection_head/<i>` per stage)."""
  objects = dict(model.checkpoint_items)
  heads = objects.get('detection_head')
  if isinstance(heads, (list, tuple)):
    for i, head in enumerate(heads):
      objects[f'detection_head{STAGE_SEPARATOR}{i}'] = head
  return objects


def leaves(part_object) -> List[tf_keras.layers.Layer]:
  """The weighted leaf layers of a part (a layer or a list of layers)."""
  roots = part_object if isinstance(part_object, (list, tuple)) else [
      part_object]
  return [leaf for root in roots
          for leaf in backbone_stages.weighted_leaves(root)]


def skipped_leaves(part_object, patterns: Sequence[str]
                   ) -> List[tf_keras.layers.Layer]:
  """The leaf layers of a part whose names match one of `patterns`."""
  return [leaf for leaf in leaves(part_object)
          if any(fnmatch.fnmatchcase(leaf.name, p) for p in patterns)]


def entry_parts(model: tf_keras.Model, model_config, entry, key: str):
  """Returns the parts of one `task.init_checkpoints` entry.

  [(part name, its object, its skipped leaf layers), ...] of one entry
  of `task.init_checkpoints`; a ConfigError when an own `skip` pattern
  matches no layer of its parts (a typo would restore what it meant)."""
  objects = part_objects(model)
  parts = [(name, objects[name],
            skipped_leaves(objects[name],
                           skip_patterns(model_config, entry, name)))
           for name in entry.modules]
  for pattern in entry.skip or []:
    if not any(fnmatch.fnmatchcase(leaf.name, pattern)
               for _, _, skipped in parts for leaf in skipped):
      raise ConfigError(f'{key}.skip: {pattern!r} matches no layer of '
                        f'{list(entry.modules)}.')
  return parts


def reinit_class_rows(head, class_ids: Sequence[int]) -> None:
  """Re-initialises the class rows of `class_ids` in a detection head.

  Re-initialises the outputs of `class_ids` in the classifier (normal(0,
  0.01)) and class-specific box regressor (normal(0, 0.001), 4 outputs per
  class) of a detection head or list of heads, biases zero, as FsDet's
  checkpoint surgery (randinit); the other classes' rows stay as they are."""
  for leaf in leaves(head):
    if leaf.name == SCORES_LAYER:
      columns, stddev = list(class_ids), 0.01
    elif leaf.name == 'detection-boxes' and leaf.kernel.shape[-1] > 4:
      columns, stddev = [4 * i + k for i in class_ids for k in range(4)], 0.001
    else:
      continue
    index = tf.constant(columns)[:, None]
    kernel = tf.transpose(leaf.kernel)  # one row per output
    leaf.kernel.assign(tf.transpose(tf.tensor_scatter_nd_update(
        kernel, index, tf.random.normal([len(columns), kernel.shape[1]],
                                        stddev=stddev))))
    leaf.bias.assign(tf.tensor_scatter_nd_update(
        leaf.bias, index, tf.zeros([len(columns)])))
