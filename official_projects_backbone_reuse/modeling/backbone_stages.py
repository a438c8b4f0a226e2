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

"""Each backbone type's own stage table: its stem and the stage of a level.

`task.freeze_at` k freezes the stem (stage 1) and the stages that output
levels 2..k, as Detectron2's `ResNet.freeze(freeze_at)` and MMDetection's
`_freeze_stages`, which the backbone owns. Model Garden builds its
backbones as functional chains of stem layers and blocks, so a table per
backbone type names its block classes (`BLOCKS`): the stem is every layer
before the first block, stage L every layer after the end of stage L - 1 up
to the layer that outputs endpoint L (ResNet's `block_group_l<L>`). Layers
after the last endpoint are stage `last level + 1`, frozen only by
freeze_at 5. A Keras application, one flat graph of leaf layers, owns its
table (`KerasApplicationBackbone.layer_stages`). Another backbone type can
be frozen whole or not at all.

A stage is found with public Keras API only (`Model.layers` in graph
order, `Layer.output`, the block classes); the weighted leaves of a layer
are Keras's tracked layers under it.
"""
from typing import List, Sequence, Tuple, Type

import tf_keras

from official.vision.modeling.backbones import efficientnet
from official.vision.modeling.backbones import resnet
from official.vision.modeling.layers import nn_blocks

from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.modeling import (
    keras_application_backbone)

STEM = 1
# Backbone class -> the classes of its blocks.
BLOCKS = (
    (resnet.ResNet, (nn_blocks.ResidualBlock, nn_blocks.BottleneckBlock)),
    (efficientnet.EfficientNet, (nn_blocks.InvertedBottleneckBlock,)),
)

Layer = tf_keras.layers.Layer


def sublayers(layer: Layer) -> List[Layer]:
  """The layers that `layer` holds directly, as Keras tracks them.

  Keras's walk, not `tf.Module.submodules`: an adapted layer keeps an
  untracked reference to its adapter (`adapters._adapt`) so that freezing
  the layer does not freeze the adapter, and `submodules` would follow it."""
  return list(layer._flatten_layers(include_self=False, recursive=False))  # pylint: disable=protected-access


def weighted_leaves(root: Layer, skip: Sequence[Type[Layer]] = ()
                    ) -> List[Layer]:
  """The weighted leaf layers under `root` (itself included), in order.

  None under (or of) a layer of a `skip` class."""
  leaves, queue = [], [root]
  while queue:
    current = queue.pop(0)
    if isinstance(current, tuple(skip)):
      continue
    children = sublayers(current)
    if children:
      queue.extend(children)
    elif current.weights:
      leaves.append(current)
  return leaves


def _block_classes(backbone) -> Tuple[type, ...]:
  for backbone_class, blocks in BLOCKS:
    if isinstance(backbone, backbone_class):
      return blocks
  supported = ', '.join(c.__name__ for c, _ in BLOCKS)
  raise ConfigError(
      f'task.freeze_at: stages are known for Model Garden\'s {supported} '
      f'and Keras applications, not for {backbone.name} '
      f'({type(backbone).__name__}); use freeze_at 0 or '
      f'{validation.FREEZE_ALL} (task.freeze_backbone).')


def _output_of(layer: Layer):
  try:
    return layer.output
  except AttributeError:  # a layer called more than once has no one output
    return None


def top_level_stages(backbone: tf_keras.Model) -> List[Tuple[Layer, int]]:
  """(layer, stage) of a Model Garden backbone's layers (module doc).

  Raises:
    ConfigError: a backbone type without a table, or one with no block in
      a stage of levels 2..4, so that stem and stages cannot be told apart.
  """
  blocks = _block_classes(backbone)
  ends = {}
  for level, tensor in backbone.output.items():
    for layer in backbone.layers:
      if _output_of(layer) is tensor:
        ends[id(layer)] = int(level)
  staged, pending, in_stem = [], [], True
  for layer in backbone.layers:
    in_stem = in_stem and not isinstance(layer, blocks)
    if in_stem:
      staged.append((layer, STEM))
      continue
    pending.append(layer)
    if id(layer) in ends:
      staged += [(p, ends[id(layer)]) for p in pending]
      pending = []
  staged += [(p, max(ends.values()) + 1) for p in pending]
  with_blocks = {stage for layer, stage in staged if isinstance(layer, blocks)}
  missing = [level for level in range(2, validation.FREEZE_ALL)
             if level not in with_blocks]
  if missing:
    raise ConfigError(
        f'task.freeze_at: the backbone {backbone.name} '
        f'({type(backbone).__name__}) has no block in the stages of levels '
        f'{missing}, so its stem and stages cannot be told apart; use '
        f'freeze_at 0 or {validation.FREEZE_ALL} (task.freeze_backbone).')
  return staged


def leaf_stages(backbone: tf_keras.Model, skip: Sequence[Type[Layer]] = ()
                ) -> List[Tuple[Layer, int]]:
  """Every weighted leaf of the backbone with its stage.

  1 the stem, L the stage that outputs level L; none under a layer of a
  `skip` class (adapters)."""
  if isinstance(backbone, keras_application_backbone.KerasApplicationBackbone):
    return [(leaf, stage) for leaf, stage in backbone.layer_stages()
            if leaf.weights]
  return [(leaf, stage) for layer, stage in top_level_stages(backbone)
          for leaf in weighted_leaves(layer, skip)]
