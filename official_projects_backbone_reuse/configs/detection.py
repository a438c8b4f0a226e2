"""Detection configs that carry the backbone-reuse options.

Each config subclasses its Model Garden counterpart and adds only what the
paper needs, so every Model Garden key keeps its meaning and YAMLs written for
`official.vision` stay valid here:

* `task.freeze_backbone` (Model Garden's own key) is the reuse switch: the
  restored backbone is frozen (no weight and no batch-norm statistic changes)
  and only the detection-specific parts train.
* `task.model.backbone_norm_activation` sets the backbone's normalisation and
  activation apart from the decoder and heads. Model Garden uses one
  `norm_activation` for all of them, which silently runs a backbone that was
  pre-trained with, e.g., swish / epsilon 1e-5 under relu / epsilon 1e-4. When
  unset (None) the backbone uses `task.model.norm_activation`, as in Model
  Garden.

The registered experiments are the Model Garden COCO experiments with these
task types; `experiments/*.yaml` override them.
"""
import dataclasses
from typing import Optional

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.vision.configs import common
from official.vision.configs import maskrcnn as maskrcnn_cfg
from official.vision.configs import retinanet as retinanet_cfg


@dataclasses.dataclass
class ReuseRetinaNet(retinanet_cfg.RetinaNet):
  """RetinaNet whose backbone may use its own normalisation/activation."""
  backbone_norm_activation: Optional[common.NormActivation] = None


@dataclasses.dataclass
class ReuseMaskRCNN(maskrcnn_cfg.MaskRCNN):
  """Faster/Mask/Cascade R-CNN whose backbone may use its own norm/activation."""
  backbone_norm_activation: Optional[common.NormActivation] = None


@dataclasses.dataclass
class ReuseRetinaNetTask(retinanet_cfg.RetinaNetTask):
  model: ReuseRetinaNet = dataclasses.field(default_factory=ReuseRetinaNet)


@dataclasses.dataclass
class ReuseMaskRCNNTask(maskrcnn_cfg.MaskRCNNTask):
  model: ReuseMaskRCNN = dataclasses.field(default_factory=ReuseMaskRCNN)


def _with_task(base: cfg.ExperimentConfig, task_cls, model_cls
               ) -> cfg.ExperimentConfig:
  """Re-types a Model Garden experiment's task and model as ours."""
  task = base.task.as_dict()
  model = task.pop('model')
  base.task = task_cls(model=model_cls(**model), **task)
  base.task.freeze_backbone = True
  base.task.init_checkpoint = None
  base.task.init_checkpoint_modules = 'backbone'
  return base


@exp_factory.register_config_factory('backbone_reuse_retinanet')
def backbone_reuse_retinanet() -> cfg.ExperimentConfig:
  """RetinaNet + FPN on a frozen classification backbone (COCO defaults)."""
  return _with_task(retinanet_cfg.retinanet_resnetfpn_coco(),
                    ReuseRetinaNetTask, ReuseRetinaNet)


@exp_factory.register_config_factory('backbone_reuse_fasterrcnn')
def backbone_reuse_fasterrcnn() -> cfg.ExperimentConfig:
  """Faster R-CNN + FPN on a frozen classification backbone (COCO defaults).

  Cascade heads: set `task.model.roi_sampler.cascade_iou_thresholds`
  (the paper uses [0.7, 0.8]) with `detection_head.cascade_class_ensemble`
  and `detection_head.class_agnostic_bbox_pred` true.
  """
  return _with_task(maskrcnn_cfg.fasterrcnn_resnetfpn_coco(),
                    ReuseMaskRCNNTask, ReuseMaskRCNN)


@exp_factory.register_config_factory('backbone_reuse_maskrcnn')
def backbone_reuse_maskrcnn() -> cfg.ExperimentConfig:
  """Mask R-CNN + FPN on a frozen classification backbone (COCO defaults)."""
  return _with_task(maskrcnn_cfg.maskrcnn_resnetfpn_coco(),
                    ReuseMaskRCNNTask, ReuseMaskRCNN)
