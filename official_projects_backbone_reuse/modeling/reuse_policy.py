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

"""The one place that decides what of a detector's backbone trains.

Two config keys decide it:

* `task.freeze_at` (Detectron2's FREEZE_AT, MMDetection's frozen_stages):
  0 freezes nothing, 1 the stem, k in 2..4 the stem and the stages that
  output levels 2..k, 5 the whole backbone. Unset (None) it follows Model
  Garden's `task.freeze_backbone`: 5 when true, 0 when false; set next to
  `freeze_backbone: true` it must be 5 (anything else is a contradiction and
  a ConfigError).
* `task.model.backbone_adapter.type` adds residual adapters (`adapters.py`),
  which always train.

`task.class_balanced_retuning.enabled` (the LVIS recipe's stage 2) freezes
the whole detector but the classification layers of its detection heads
(`retune_classification_only`). An entry of `task.init_checkpoints` with
`frozen: true` freezes the decoder and heads it restores, all but their
label-space and `skip` layers (`freeze_parts`); the backbone's entry may
only repeat what `freeze_at` says.

A frozen part computes, during detection training, exactly what it computed
at the end of pre-training, and never changes:

* each of its original leaf layers (convolution, batch norm, dense) is made
  non-trainable, one by one, so adapters and trained stages beside it stay
  trainable; a non-trainable batch norm runs in inference mode in Keras 2
  (`tf_keras`), so its moving statistics never update;
* stochastic depth is switched off in the whole backbone as soon as any of
  it is frozen (it would randomly drop residual branches of frozen blocks,
  and Model Garden has a single rate per backbone);
* it gets no L2 penalty: the penalty of constant weights is a constant that
  inflates the logged loss. A backbone with anything frozen is built without
  a regulariser, and the policy adds the penalty to the `kernel` of each
  trained leaf (the weights Model Garden's backbone builders regularise); a
  trained backbone (freeze_at 0) is built with it, as in Model Garden.
  Adapters carry their own.

Which layers make the stem and each stage is the backbone type's own table
(`backbone_stages`).
"""
from typing import List, Optional, Sequence

from absl import logging
import tf_keras

from official.modeling import hyperparams
from official.vision.configs import common
from official.vision.modeling import backbones

from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.modeling import adapters
from official_projects_backbone_reuse.modeling import backbone_stages
from official_projects_backbone_reuse.modeling import detector_parts

FREEZE_ALL = validation.FREEZE_ALL
SCORES_LAYER = detector_parts.SCORES_LAYER


def part_state(task_config, entry, part: str) -> str:
  """Says what happens to a part restored by `entry`.

  'frozen', 'trained' or, for a partly frozen backbone, 'frozen up to
  freeze_at k'."""
  if validation.retuning(task_config):  # stage 2: only the classifiers train
    return ('frozen but its classification layers, re-tuned'
            if part.startswith('detection_head') else 'frozen')
  if part == detector_parts.BACKBONE:
    freeze_at = validation.task_freeze_at(task_config)
    if freeze_at in (0, FREEZE_ALL):
      return 'frozen' if freeze_at else 'trained'
    return f'frozen up to freeze_at {freeze_at}'
  state = 'trained'
  if entry.frozen:
    trained = detector_parts.label_space_patterns(task_config.model, part)
    state = 'frozen, its label-space layers trained' if trained else 'frozen'
  if entry.reinit_novel_classes and part.startswith('detection_head'):
    state += ('; rows of the novel classes re-initialised (FsDet\'s '
              'randinit surgery)')
  return state


def freeze_parts(model: tf_keras.Model, task_config
                 ) -> List[tf_keras.layers.Layer]:
  """Freezes the restored parts marked `frozen: true`.

  Freezes the decoder and heads that `task.init_checkpoints` entries
  with `frozen: true` restore, but their label-space and skipped layers,
  which train (restored or not); returns the frozen leaves."""
  frozen = []
  for i, entry in enumerate(getattr(task_config, 'init_checkpoints', None)
                            or []):
    for name, obj, skipped in detector_parts.entry_parts(
        model, task_config.model, entry, f'task.init_checkpoints[{i}]'):
      training = skipped + detector_parts.skipped_leaves(
          obj, detector_parts.label_space_patterns(task_config.model, name))
      training_ids = {id(leaf) for leaf in training}
      if entry.frozen and name != detector_parts.BACKBONE:
        frozen += [leaf for leaf in detector_parts.leaves(obj)
                   if id(leaf) not in training_ids]
      for leaf in training:
        leaf.trainable = True
  freeze_leaves(frozen)
  if frozen:
    logging.info('task.init_checkpoints: %d decoder / head layers frozen.',
                 len(frozen))
  return frozen


def freeze_leaves(leaves: Sequence[tf_keras.layers.Layer]) -> None:
  """Makes leaf layers non-trainable.

  A batch norm then runs on its moving statistics; their L2 penalty, a
  constant once they are, is dropped."""
  for leaf in leaves:
    leaf.trainable = False
    leaf._callable_losses = []  # pylint: disable=protected-access


def retune_classification_only(model: tf_keras.Model
                               ) -> List[tf_keras.layers.Layer]:
  """Freezes all but the classification layers of a Faster/Mask R-CNN.

  Freezes every weighted leaf layer of a Faster/Mask R-CNN but the
  classification layers of its detection heads (one per cascade stage);
  returns those."""
  leaves = detector_parts.leaves(model)
  scores = [layer for layer in leaves if layer.name == SCORES_LAYER]
  if not scores:
    raise ConfigError(
        'task.class_balanced_retuning: the model has no classification '
        f'layer named {SCORES_LAYER!r} (Model Garden\'s detection head).')
  freeze_leaves([layer for layer in leaves if layer.name != SCORES_LAYER])
  logging.info('Class-balanced re-tuning: %d classification layer(s) train, '
               '%d layers frozen.', len(scores), len(leaves) - len(scores))
  return scores


def backbone_norm_activation(model_config) -> common.NormActivation:
  """The normalisation/activation the backbone is built with."""
  return (getattr(model_config, 'backbone_norm_activation', None)
          or model_config.norm_activation)


def backbone_config_for(model_config, freeze_at: int) -> hyperparams.Config:
  """Returns the backbone config to build.

  Stochastic depth is off when any of the backbone is frozen."""
  backbone_config = model_config.backbone.replace()
  typed = backbone_config.get()
  if freeze_at and getattr(typed, 'stochastic_depth_drop_rate', 0.0):
    logging.info('Backbone frozen up to %d: stochastic_depth_drop_rate %s '
                 '-> 0.0.', freeze_at, typed.stochastic_depth_drop_rate)
    typed.stochastic_depth_drop_rate = 0.0
  return backbone_config


def _original_leaves(layer) -> List[tf_keras.layers.Layer]:
  """The weighted leaf layers under `layer`, adapters excluded."""
  return backbone_stages.weighted_leaves(layer, skip=(adapters.Adapter,))


def _frozen_leaves(backbone, freeze_at: int) -> List[tf_keras.layers.Layer]:
  if freeze_at == 0:
    return []
  if freeze_at == FREEZE_ALL:
    return _original_leaves(backbone)
  return [leaf for leaf, stage in backbone_stages.leaf_stages(
      backbone, skip=(adapters.Adapter,)) if stage <= freeze_at]


def _add_l2(leaf, regularizer) -> None:
  leaf.add_loss(lambda: regularizer(leaf.kernel))


def build_backbone(model_config, input_specs: tf_keras.layers.InputSpec,
                   l2_regularizer: Optional[tf_keras.regularizers.Regularizer],
                   freeze_at: int) -> tf_keras.Model:
  """Builds the backbone as the reuse policy wants it (see module doc)."""
  extra = {}
  if model_config.backbone.type == 'efficientnet':  # a builder argument only
    extra['se_inner_activation'] = (
        model_config.backbone.efficientnet.se_inner_activation)
  backbone = backbones.factory.build_backbone(
      input_specs=input_specs,
      backbone_config=backbone_config_for(model_config, freeze_at),
      norm_activation_config=backbone_norm_activation(model_config),
      l2_regularizer=None if freeze_at else l2_regularizer, **extra)
  added = adapters.attach(backbone, validation.adapter_type(model_config),
                          l2_regularizer)
  frozen = _frozen_leaves(backbone, freeze_at)
  for leaf in frozen:
    leaf.trainable = False
  frozen_ids = {id(leaf) for leaf in frozen}
  trained = [leaf for leaf in _original_leaves(backbone)
             if id(leaf) not in frozen_ids]
  if freeze_at and l2_regularizer is not None:
    for leaf in trained:
      if hasattr(leaf, 'kernel'):
        _add_l2(leaf, l2_regularizer)
  logging.info('Reuse policy: freeze_at %d, %d backbone layers frozen, %d '
               'trained, %d %s adapters.', freeze_at, len(frozen),
               len(trained), len(added), validation.adapter_type(model_config))
  return backbone
