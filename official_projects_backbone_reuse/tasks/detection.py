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
  """Faster / Mask / Cascade R-CNN on a reused classification backbone."""
