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

"""Model Garden's RetinaNet and Mask R-CNN tasks, reusing a classifier backbone.

What the subclasses add to Model Garden's tasks, and nothing else:

* `build_model` builds the backbone through the reuse policy (own
  normalisation/activation, frozen whole or up to `task.freeze_at`,
  adapters, no stochastic depth and no L2 penalty where frozen) and logs
  total / trained / frozen parameter counts;
* `initialize` restores the backbone from a classification checkpoint by
  name and shape, verifies that every original backbone variable came from
  it, and reports what did not (see `checkpoints/restore.py`); adapter
  variables are new by design and keep their initialisation; with `task.init_checkpoints`,
  any parts from several checkpoints the same way, label-space layers
  skipped, and `build_model` freezes the parts an entry says are frozen;
* `build_metrics` puts the LVIS or VOC evaluator in place of Model Garden's
  COCO evaluator when `task.evaluation.type` is `lvis` or `voc`, and with
  `coco` and masks `FastMaskCOCOEvaluator` (the same metrics; masks pasted
  only where they count);
* Mask R-CNN: `build_inputs` adds Copy-Paste when
  `task.train_data.copy_paste.enabled`; in LVIS stage 2
  (`task.class_balanced_retuning`), `build_model` leaves only the
  classification layers trainable and `build_losses` weighs the classes.
"""
import os
from typing import List, Tuple

from absl import logging
import tf_keras

from official.core import task_factory
from official.vision.tasks import maskrcnn
from official.vision.tasks import retinanet

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.checkpoints import upstream
from official_projects_backbone_reuse.configs import detection as cfg
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.dataloaders import copy_paste_input
from official_projects_backbone_reuse.evaluation import LVIS_DETECTIONS_FILE
from official_projects_backbone_reuse.evaluation import coco_mask_evaluator
from official_projects_backbone_reuse.evaluation import lvis_evaluator
from official_projects_backbone_reuse.evaluation import voc_evaluator
from official_projects_backbone_reuse.modeling import adapters
from official_projects_backbone_reuse.modeling import class_balance
from official_projects_backbone_reuse.modeling import detector
from official_projects_backbone_reuse.modeling import detector_parts
from official_projects_backbone_reuse.modeling import parameters
from official_projects_backbone_reuse.modeling import reuse_policy


def restore_entries(task_config) -> List[Tuple[str, object]]:
  """What initialisation restores, as (config key, entry) pairs.

  The entries of `task.init_checkpoints`, or Model Garden's
  `task.init_checkpoint` as one entry of the parts its
  `init_checkpoint_modules` name ('all': every part, label-space layers
  too), so that both take one restore path and give one report."""
  if task_config.init_checkpoints:
    return [(f'task.init_checkpoints[{i}]', entry)
            for i, entry in enumerate(task_config.init_checkpoints)]
  if not task_config.init_checkpoint:
    return []
  modules = task_config.init_checkpoint_modules
  modules = [modules] if isinstance(modules, str) else list(modules)
  if modules == ['all']:  # a head's stages are in the head
    modules = [name for name in detector_parts.part_names(task_config.model)
               if detector_parts.STAGE_SEPARATOR not in name]
  return [('task.init_checkpoint', cfg.InitCheckpoint(
      checkpoint=task_config.init_checkpoint, modules=modules,
      skip_label_space=False))]


def _checkpoint_key(key: str) -> str:
  return key if key == 'task.init_checkpoint' else f'{key}.checkpoint'


def check_upstream_config(task_config) -> None:
  """Checks that the backbone about to be restored is built as pre-trained.

  The backbone of `restore_entries` (see `upstream.check_upstream_config`).
  """
  checkpoint = next((entry.checkpoint for _, entry in
                     restore_entries(task_config)
                     if detector_parts.BACKBONE in entry.modules), '')
  if checkpoint:
    upstream.check_upstream_config(
        checkpoint, task_config.model,
        reuse_policy.backbone_norm_activation(task_config.model))


def restore_parts(model: tf_keras.Model, task_config
                  ) -> List[restore.RestoreReport]:
  """Restores the parts that `restore_entries` names.

  Each part is checked variable by variable (adapters new by design,
  label-space and `skip` layers skipped on purpose); one report per part,
  logged."""
  sources, entries = [], restore_entries(task_config)
  for key, entry in entries:
    parts = []
    for name, obj, skipped in detector_parts.entry_parts(
        model, task_config.model, entry, key):
      parts.append(restore.Part(
          name, obj, restore.part_paths(name),
          new_by_design=(adapters.adapter_variables(obj)
                         if name == detector_parts.BACKBONE else ()),
          skipped=[v for leaf in skipped for v in leaf.weights],
          note=reuse_policy.part_state(task_config, entry, name)))
    sources.append((entry.checkpoint, _checkpoint_key(key), parts))
  reports = restore.restore_parts(sources)
  novel = task_config.evaluation.novel_category_ids
  for (_, entry), (_, _, parts) in zip(entries, sources):
    for part in parts:
      if entry.reinit_novel_classes and part.label.startswith(
          'detection_head'):  # one stage, or all (a list)
        detector_parts.reinit_class_rows(part.module, novel)
  return reports


class _BackboneReuseMixin:
  """What both detection tasks add to Model Garden's."""

  def build_metrics(self, training: bool = True):
    """Builds the metrics, with the evaluator the config asks for.

    Model Garden's metrics; with `task.evaluation.type: lvis` or `voc`,
    the LVIS or VOC evaluator in place of its COCO evaluator (same
    interface); with `coco` and masks, its COCO evaluator made
    `FastMaskCOCOEvaluator`."""
    config = self.task_config
    if training or not config.use_coco_metrics:
      return super().build_metrics(training)
    if config.evaluation.type == 'coco':
      metrics = super().build_metrics(training)
      if getattr(config.model, 'include_mask', False):
        fast = coco_mask_evaluator.FastMaskCOCOEvaluator
        self.coco_metric = fast.from_evaluator(self.coco_metric)
      return metrics
    # Model Garden's metrics without building (and loading the annotation
    # file into) a COCO evaluator that would be thrown away.
    self._task_config = config.replace(use_coco_metrics=False)
    try:
      metrics = super().build_metrics(training)
    finally:
      self._task_config = config
    if config.evaluation.type == 'voc':
      self.coco_metric = voc_evaluator.VOCEvaluator(
          config.annotation_file, config.evaluation.novel_category_ids,
          recall_points=config.evaluation.voc07_recall_points)
      return metrics
    self.coco_metric = lvis_evaluator.LVISEvaluator(
        annotation_file=config.annotation_file,
        include_mask=getattr(config.model, 'include_mask', False),
        max_dets=config.evaluation.max_detections_per_image,
        predictions_path=(os.path.join(self.logging_dir,
                                       LVIS_DETECTIONS_FILE)
                          if config.evaluation.save_predictions else None))
    return metrics

  def build_model(self) -> tf_keras.Model:
    config = self.task_config
    model = detector.build_detector(
        config.model,
        tf_keras.layers.InputSpec(shape=[None] + config.model.input_size),
        l2_weight_decay=config.losses.l2_weight_decay,
        freeze_at=validation.task_freeze_at(config))
    reuse_policy.freeze_parts(model, config)
    counts = parameters.format_counts(parameters.count_parameters(model))
    logging.info('Backbone frozen up to freeze_at %d, adapters: %s. '
                 'Parameters:\n%s',
                 validation.task_freeze_at(config),
                 validation.adapter_type(config.model), '\n'.join(counts))
    return model

  def initialize(self, model: tf_keras.Model):
    """Restores what `restore_entries` names, upstream config checked."""
    if restore_entries(self.task_config):
      check_upstream_config(self.task_config)
      restore_parts(model, self.task_config)


@task_factory.register_task_cls(cfg.ReuseRetinaNetTask)
class ReuseRetinaNetTask(_BackboneReuseMixin, retinanet.RetinaNetTask):
  """RetinaNet on a reused classification backbone."""


@task_factory.register_task_cls(cfg.ReuseMaskRCNNTask)
class ReuseMaskRCNNTask(_BackboneReuseMixin, maskrcnn.MaskRCNNTask):
  """Faster / Mask / Cascade R-CNN on a reused classification backbone.

  With `task.class_balanced_retuning.enabled` (stage 2 on LVIS) only the
  detection heads' classification layers train, and the Fast R-CNN class
  loss gets class-balanced weights computed from the training annotations.
  """
  _class_weights = None

  def build_inputs(self, params, input_context=None, dataset_fn=None):
    copy = getattr(params, 'copy_paste', None)
    if params.is_training and copy is not None and copy.enabled:
      return copy_paste_input.build_inputs(self.task_config, params,
                                           input_context, dataset_fn)
    return super().build_inputs(params, input_context, dataset_fn)

  def class_weights(self) -> List[float]:
    """Returns the class-balanced loss weights of stage 2.

    The class-balanced `losses.class_weights` of stage 2, computed from
    the training annotations once and logged."""
    if self._class_weights is None:
      retune = self.task_config.class_balanced_retuning
      # A tuple: a list attribute of a tf.Module would be wrapped.
      self._class_weights = tuple(class_balance.class_balanced_weights(
          class_balance.annotation_counts(retune.annotation_file,
                                          self.task_config.model.num_classes),
          retune.beta))
      logging.info('Class-balanced re-tuning, beta %s: class weights from '
                   '%.3g to %.3g.', retune.beta, min(self._class_weights[1:]),
                   max(self._class_weights[1:]))
    return list(self._class_weights)

  def build_losses(self, outputs, labels, aux_losses=None):
    """Builds Model Garden's losses, class-balanced in stage 2.

    Model Garden's losses; in stage 2 with the class-balanced weights in
    `losses.class_weights` (read at every call, so also after a resume)."""
    if validation.retuning(self.task_config):
      self._task_config = self.task_config.replace(
          losses={'class_weights': self.class_weights()})
    return super().build_losses(outputs, labels, aux_losses)

  def build_model(self) -> tf_keras.Model:
    model = super().build_model()
    if validation.retuning(self.task_config):
      reuse_policy.retune_classification_only(model)
    return model
