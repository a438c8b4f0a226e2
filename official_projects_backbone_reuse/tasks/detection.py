"""Model Garden's RetinaNet and Mask R-CNN tasks, reusing a classifier backbone.

The subclasses change two things and nothing else:

* `build_model` builds the backbone through the reuse policy (own
  normalisation/activation, frozen whole or up to `task.freeze_at`,
  adapters, no stochastic depth and no L2 penalty where frozen) and logs
  total / trained / frozen parameter counts;
* `initialize` restores the backbone from a classification checkpoint by
  name and shape, verifies that every original backbone variable came from
  it, and reports what did not (see `checkpoints.py`); adapter variables are
  new by design and keep their initialisation.
"""
from absl import logging
import tf_keras

from official.core import task_factory
from official.vision.tasks import maskrcnn
from official.vision.tasks import retinanet

from official_projects_backbone_reuse import checkpoints
from official_projects_backbone_reuse.analysis import parameters
from official_projects_backbone_reuse.configs import detection as cfg
from official_projects_backbone_reuse.modeling import adapters
from official_projects_backbone_reuse.modeling import class_balance
from official_projects_backbone_reuse.modeling import detector
from official_projects_backbone_reuse.modeling import reuse_policy


class _BackboneReuseMixin:
  """What both detection tasks add to Model Garden's."""

  def build_model(self) -> tf_keras.Model:
    config = self.task_config
    model = detector.build_detector(
        config.model,
        tf_keras.layers.InputSpec(shape=[None] + config.model.input_size),
        l2_weight_decay=config.losses.l2_weight_decay,
        freeze_backbone=config.freeze_backbone, freeze_at=config.freeze_at)
    counts = parameters.format_counts(parameters.count_parameters(model))
    logging.info('Backbone frozen up to freeze_at %d, adapters: %s. '
                 'Parameters:\n%s',
                 reuse_policy.freeze_at_of(config.freeze_backbone,
                                           config.freeze_at),
                 reuse_policy.adapter_type(config.model), '\n'.join(counts))
    return model

  def _restores_backbone_only(self) -> bool:
    modules = self.task_config.init_checkpoint_modules
    modules = [modules] if isinstance(modules, str) else list(modules)
    return modules == ['backbone']

  def initialize(self, model: tf_keras.Model):
    config = self.task_config
    if not config.init_checkpoint or not self._restores_backbone_only():
      return super().initialize(model)
    checkpoints.check_upstream_config(
        config.init_checkpoint, config.model,
        reuse_policy.backbone_norm_activation(config.model))
    checkpoints.restore_backbone(
        model.backbone, config.init_checkpoint,
        new_by_design=adapters.adapter_variables(model.backbone))


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

  def __init__(self, params, logging_dir=None, name=None):
    if reuse_policy.retuning(params):
      retune = params.class_balanced_retuning
      weights = class_balance.class_balanced_weights(
          class_balance.annotation_counts(retune.annotation_file,
                                          params.model.num_classes),
          retune.beta)
      logging.info('Class-balanced re-tuning, beta %s: class weights from '
                   '%.3g to %.3g.', retune.beta, min(weights[1:]),
                   max(weights[1:]))
      params = params.replace(losses={'class_weights': weights})
    super().__init__(params, logging_dir=logging_dir, name=name)

  def build_model(self) -> tf_keras.Model:
    model = super().build_model()
    if reuse_policy.retuning(self.task_config):
      reuse_policy.retune_classification_only(model)
    return model
