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

"""Detection configs that carry the backbone-reuse options.

Each config subclasses its Model Garden counterpart and adds only what the
paper needs, so every Model Garden key keeps its meaning and YAMLs written for
`official.vision` stay valid here:

* `task.freeze_backbone` (Model Garden's own key) is the reuse switch: the
  restored backbone is frozen (no weight and no batch-norm statistic changes)
  and only the detection-specific parts train.
* `task.freeze_at` (Detectron2's FREEZE_AT) freezes the stem and stages up
  to k instead (0 none, 1 stem, 2..4 stem + stages of levels 2..k, 5 all);
  unset, it follows `freeze_backbone`. See `modeling/reuse_policy.py`.
* `task.model.backbone_adapter.type` adds residual adapters to the backbone
  (`none`, `parallel`, `series`, `film`; see `modeling/adapters.py`).
* `task.model.backbone_norm_activation` sets the backbone's normalisation and
  activation apart from the decoder and heads. Model Garden uses one
  `norm_activation` for all of them, which silently runs a backbone that was
  pre-trained with, e.g., swish / epsilon 1e-5 under relu / epsilon 1e-4. When
  unset (None) the backbone uses `task.model.norm_activation`, as in Model
  Garden.
* `task.class_balanced_retuning` (Faster/Mask R-CNN) is the second stage
  of the LVIS recipe: only the classification layer of the detection heads
  re-trains, with class-balanced loss weights.
* `task.init_checkpoints` restores any parts (backbone, decoder, heads)
  from several checkpoints, each frozen or trained, label-space layers
  left new (e.g. backbone from a classifier, decoder and heads from a COCO
  detector); `task.init_checkpoint` with `init_checkpoint_modules: backbone`
  is the one-source case and keeps working.
* `task.evaluation.type: lvis` reports LVIS metrics (rare/common/frequent)
  in place of COCO's.
* `task.model.decoder.type: bottleneck_nasfpn` selects the NAS-FPN whose
  merge cells are ResNet bottleneck blocks (the paper's EfficientNet-B7
  setup), configured under `task.model.decoder.bottleneck_nasfpn`.

The RPN head "with one extra convolution" of that setup needs no new key: it
is Model Garden's `task.model.rpn_head.num_convs: 2` (two shared 3x3 convs,
each followed by a per-level batch norm and the activation, as the
Copy-Paste codebase's `rpn_head.num_convs: 2`).

The registered experiments are the Model Garden COCO experiments with these
task types; `experiments/*.yaml` override them.
"""
import dataclasses
from typing import List, Optional

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams
from official.vision.configs import common
from official.vision.configs import decoders
from official.vision.configs import maskrcnn as maskrcnn_cfg
from official.vision.configs import retinanet as retinanet_cfg

from official_projects_backbone_reuse.configs import backbones
from official_projects_backbone_reuse.configs import validation


@dataclasses.dataclass
class BottleneckNASFPN(decoders.NASFPN):
  """NAS-FPN whose merge cells end in a ResNet bottleneck block.

  The Copy-Paste / Cloud TPU codebase's `nasfpn.block_fn: bottleneck`. Its
  EfficientNet-B7 Cascade Mask R-CNN (`cascade_maskrcnn_effb7_nasfpn_1280`)
  sets num_filters 256, num_repeats 5, activation swish,
  stochastic_depth_drop_rate 0.2 and use_sum_for_combination true.

  Attributes:
    num_filters: width inside the pyramid (the Cloud TPU `fpn_feat_dims`).
      The bottleneck expands 4x, so every output level, and what the heads
      read, has 4 * num_filters channels.
    num_repeats: number of stacked NAS-FPN cells.
    use_separable_conv: separable 1x1 resampling convolutions (the
      bottleneck blocks always use regular convolutions).
    activation: the decoder's activation; None uses
      `task.model.norm_activation.activation`, like Model Garden's NAS-FPN.
    stochastic_depth_drop_rate: drop rate of each bottleneck's residual
      branch (the Cloud TPU `init_drop_connect_rate`); 0 disables it.
    use_sum_for_combination: merge every cell's inputs by sum instead of
      the global attention of the NAS-FPN topology.
  """
  activation: Optional[str] = None
  stochastic_depth_drop_rate: float = 0.0
  use_sum_for_combination: bool = False


@dataclasses.dataclass
class ReuseDecoder(decoders.Decoder):
  """Model Garden's decoders plus `bottleneck_nasfpn`."""
  bottleneck_nasfpn: BottleneckNASFPN = dataclasses.field(
      default_factory=BottleneckNASFPN)


@dataclasses.dataclass
class BackboneAdapter(hyperparams.Config):
  """Residual adapters trained in the (frozen) backbone (paper, Sec. 4.5).

  Attributes:
    type: `none`; `parallel` (a zero-initialised 1x1 convolution beside each
      spatial convolution of a block), `series` (a zero-initialised 1x1
      convolution + batch norm branch after each of their batch norms) or
      `film` (a per-channel scale and shift of each block's output, from
      the identity). At step 0 the backbone computes its unadapted function.
  """
  type: str = 'none'


def _fpn_decoder() -> ReuseDecoder:
  return ReuseDecoder(type='fpn', fpn=decoders.FPN())


@dataclasses.dataclass
class _ReuseModel:
  """The model config fields both detectors add.

  What both detectors add to Model Garden's model config: a backbone
  that may use its own normalisation/activation, the decoders of this
  project, and adapters. First among the bases, so its fields win."""
  backbone: backbones.ReuseBackbone = dataclasses.field(
      default_factory=backbones.default_backbone)
  backbone_norm_activation: Optional[common.NormActivation] = None
  decoder: ReuseDecoder = dataclasses.field(default_factory=_fpn_decoder)
  backbone_adapter: BackboneAdapter = dataclasses.field(
      default_factory=BackboneAdapter)


@dataclasses.dataclass
class ReuseRetinaNet(_ReuseModel, retinanet_cfg.RetinaNet):
  """RetinaNet on a reused backbone."""


@dataclasses.dataclass
class ReuseMaskRCNN(_ReuseModel, maskrcnn_cfg.MaskRCNN):
  """Faster/Mask/Cascade R-CNN on a reused backbone."""


@dataclasses.dataclass
class Evaluation(hyperparams.Config):
  """The detection metrics that validation reports (`task.evaluation`).

  They apply with Model Garden's `task.use_coco_metrics: true`.

  Attributes:
    type: `coco` (Model Garden's COCOEvaluator), `lvis` (federated LVIS v1
      evaluation: AP, AP50, AP75, APs/m/l, APr/c/f, and `mask_*` with masks;
      `task.annotation_file` must be the LVIS v1 JSON of the validation
      images; see `evaluation/lvis_evaluator.py`) or `voc` (Pascal VOC's
      devkit rules, difficult objects ignored: AP50 all-point and 11-point,
      AP70, AP over IoU .5:.95, each per class; `task.annotation_file` is
      the JSON `backbone-reuse-convert-voc` writes; see
      `evaluation/voc_evaluator.py`). Model classes are the dataset's
      category ids (LVIS v1: num_classes 1204; VOC: 21).
    max_detections_per_image: LVIS's cap (300); set
      `task.model.detection_generator.max_num_detections` as high, Model
      Garden's default is 100.
    save_predictions: with `lvis`, also write the validation detections
      (LVIS results JSON) to `<model_dir>/lvis_val_detections.json`, the
      input of `backbone-reuse-analyse`.
    novel_category_ids: with `voc`, the few-shot split's novel classes:
      `AP50_novel` (nAP50) and `AP50_base` (bAP50), 11-point as FsDet
      computes them, are reported too.
    voc07_recall_points: with `voc`, the recalls of the 11-point AP:
      `detectron2` (`np.arange(0, 1.1, 0.1)`: Detectron2, MMDetection,
      py-faster-rcnn, FsDet) or `devkit` (the VOC devkit's MATLAB
      `0:0.1:1`); they differ by 1/11 in a class whose recall is exactly
      0.6 or 0.7.
  """
  type: str = 'coco'
  max_detections_per_image: int = 300
  save_predictions: bool = True
  novel_category_ids: List[int] = dataclasses.field(default_factory=list)
  voc07_recall_points: str = 'detectron2'


@dataclasses.dataclass
class InitCheckpoint(hyperparams.Config):
  """One entry of `task.init_checkpoints`.

  Parts of the detector restored from one checkpoint (see
  `modeling/detector_parts.py` for the parts and their label-space layers,
  `checkpoints.restore_parts` for the report).

  Attributes:
    checkpoint: a checkpoint prefix or a directory of checkpoints (a
      classifier for `backbone`; a detector of Model Garden's trainer, or
      `tf.train.Checkpoint(model=...)`, for any part).
    modules: the parts it gives: `backbone`, `decoder`, and `head`
      (RetinaNet) or `rpn_head`, `detection_head` (every cascade stage),
      `detection_head/<i>` (stage i), `mask_head`.
    frozen: whether the restored parts stay frozen; their label-space
      layers and `skip` layers train all the same (with `detection_head`:
      TFA's few-shot fine-tuning). Unset: trained, but the backbone follows
      `task.freeze_backbone` / `task.freeze_at`, which decide it (an entry
      may only repeat them).
    skip_label_space: leave the label-space layers as initialised (the
      class-score layer, class-specific box and mask outputs); false when
      the checkpoint was trained on the same classes.
    skip: more layer names (fnmatch patterns) to leave as initialised.
    reinit_novel_classes: with `skip_label_space: false`, re-initialise
      the rows of `task.evaluation.novel_category_ids` in the restored
      detection-head classifier and class-specific box regressor, keeping
      the others (FsDet's checkpoint surgery, randinit).
  """
  checkpoint: str = ''
  modules: List[str] = dataclasses.field(default_factory=list)
  frozen: Optional[bool] = None
  skip_label_space: bool = True
  skip: List[str] = dataclasses.field(default_factory=list)
  reinit_novel_classes: bool = False


@dataclasses.dataclass
class ReuseRetinaNetTask(retinanet_cfg.RetinaNetTask):
  """RetinaNet task config with this project's reuse keys.

  `freeze_at`: Detectron2's FREEZE_AT; None follows `freeze_backbone`.
  `evaluation`: COCO or LVIS metrics. `init_checkpoints`: parts from
  several checkpoints, in place of `init_checkpoint`."""
  freeze_at: Optional[int] = None
  init_checkpoints: List[InitCheckpoint] = dataclasses.field(
      default_factory=list)
  model: ReuseRetinaNet = dataclasses.field(default_factory=ReuseRetinaNet)
  evaluation: Evaluation = dataclasses.field(default_factory=Evaluation)

  def validate(self):
    """Model Garden's restrictions, then this project's checks."""
    super().validate()
    validation.check_task_config(self, for_run=False)


@dataclasses.dataclass
class BoxPretraining(hyperparams.Config):
  """Config of AlignDet's box-domain pre-training.

  AlignDet's box-domain pre-training (`modeling/box_contrast`): the
  detector learns to find and tell apart unsupervised proposals, from two
  views of each image, against a momentum copy of itself.

  `max_proposals`: the first this many proposals of an image (AlignDet's
  RetinaNet: 50). `samples_per_image`: anchors per image in the contrastive
  loss, the positive ones first, random background anchors filling up
  (AlignDet: 2048). `embedding_dim` / `projection_width`: the projection
  head's output and hidden width (256 / 256). `momentum_steps`: the steps
  over which the momentum rises to 1; None: `trainer.train_steps`."""
  contrastive_weight: float = 1.0
  temperature: float = 0.5
  base_momentum: float = 0.996
  embedding_dim: int = 256
  projection_width: int = 256
  max_proposals: int = 50
  samples_per_image: int = 2048
  momentum_steps: Optional[int] = None




@dataclasses.dataclass
class ClassBalancedRetuning(hyperparams.Config):
  """Stage 2 of the LVIS recipe (Ghiasi et al. 2021; the paper's LVIS runs).

  From a stage-1 detector (`task.init_checkpoint`: its model dir or
  checkpoint, `task.init_checkpoint_modules: all`), only the final
  classification layer of each detection head (Model Garden's
  `detection-scores` dense layer, one per cascade stage) trains, with the
  Fast R-CNN class loss weighted per class; everything else, batch-norm
  statistics included, stays as restored. See `modeling/class_balance.py`.

  Attributes:
    enabled: run this stage.
    annotation_file: the training annotations (COCO/LVIS JSON); each class's
      annotation count n_c sets its weight.
    beta: effective-number weight (1 - beta) / (1 - beta^n_c) (Cui et al.
      2019), normalised to mean 1 over the foreground classes.
  """
  enabled: bool = False
  annotation_file: str = ''
  beta: float = 0.999


@dataclasses.dataclass
class CopyPaste(hyperparams.Config):
  """Config of Copy-Paste augmentation (`task.train_data.copy_paste`).

  Copy-Paste (Ghiasi et al., CVPR 2021) of the training data needs instance
  masks (`task.model.include_mask`). Each image is paired with one drawn
  from an independently shuffled stream of the same files (images with a
  non-crowd object); both are flipped (`parser.aug_rand_hflip`) and
  scale-jittered (`parser.aug_scale_min/max`) to the model's input size
  independently, and a random subset of the second's objects is pasted on
  the first (see `dataloaders/copy_paste.py` for the rule applied to
  occluded objects).

  Attributes:
    enabled: apply it (training data only).
    occluded_area_threshold: a destination object whose box moved and whose
      remaining mask area is at most this many output pixels is dropped.
    box_moved_threshold: output pixels a box coordinate must move for the
      object to count as occluded.
    blend_sigma: Gaussian blur (pixels) of the pasted masks' edges; 0: hard
      compositing, as the reference code.
    source_shuffle_buffer_size: shuffle buffer of the second stream
      (serialized records, decoded after drawing).
  """
  enabled: bool = False
  occluded_area_threshold: float = 300.0
  box_moved_threshold: float = 10.0
  blend_sigma: float = 0.0
  source_shuffle_buffer_size: int = 1000


@dataclasses.dataclass
class ReuseMaskRCNNData(maskrcnn_cfg.DataConfig):
  """Model Garden's Mask R-CNN data config with `copy_paste`."""
  copy_paste: CopyPaste = dataclasses.field(default_factory=CopyPaste)


@dataclasses.dataclass
class ReuseMaskRCNNTask(maskrcnn_cfg.MaskRCNNTask):
  """Mask R-CNN task config with this project's reuse keys.

  `freeze_at`: Detectron2's FREEZE_AT; None follows `freeze_backbone`.
  `class_balanced_retuning`: the second stage (re-tune the classification
  layer with a class-balanced loss). `evaluation`: COCO or LVIS metrics.
  `train_data.copy_paste`: Copy-Paste augmentation. `init_checkpoints`:
  parts from several checkpoints, in place of `init_checkpoint`."""
  train_data: ReuseMaskRCNNData = dataclasses.field(
      default_factory=lambda: ReuseMaskRCNNData(is_training=True))
  validation_data: ReuseMaskRCNNData = dataclasses.field(
      default_factory=lambda: ReuseMaskRCNNData(is_training=False))
  freeze_at: Optional[int] = None
  init_checkpoints: List[InitCheckpoint] = dataclasses.field(
      default_factory=list)
  model: ReuseMaskRCNN = dataclasses.field(default_factory=ReuseMaskRCNN)
  class_balanced_retuning: ClassBalancedRetuning = dataclasses.field(
      default_factory=ClassBalancedRetuning)
  evaluation: Evaluation = dataclasses.field(default_factory=Evaluation)

  def validate(self):
    """Model Garden's restrictions, then this project's checks."""
    super().validate()
    validation.check_task_config(self, for_run=False)


@dataclasses.dataclass
class BoxPretrainingRetinaNetTask(ReuseRetinaNetTask):
  box_pretraining: BoxPretraining = dataclasses.field(
      default_factory=BoxPretraining)


@dataclasses.dataclass
class BoxPretrainingFasterRCNNTask(ReuseMaskRCNNTask):
  """Task config of Faster R-CNN's box-domain pre-training.

  `box_pretraining.samples_per_image` does not apply: the contrastive
  loss takes every proposal of an image as a region."""
  box_pretraining: BoxPretraining = dataclasses.field(
      default_factory=BoxPretraining)



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


def _box_pretraining(config: cfg.ExperimentConfig) -> cfg.ExperimentConfig:
  """One class ("object") and no crop, for either detector."""
  config.task.model.num_classes = 2  # background and "object"
  config.task.train_data.parser.aug_scale_min = 1.0
  config.task.train_data.parser.aug_scale_max = 1.0
  config.task.use_coco_metrics = False
  return config


@exp_factory.register_config_factory('backbone_reuse_retinanet_box_pretraining')
def backbone_reuse_retinanet_box_pretraining() -> cfg.ExperimentConfig:
  """Returns the experiment of RetinaNet's box-domain pre-training.

  Box-domain pre-training (AlignDet) of RetinaNet's decoder and head on
  unsupervised proposals (`backbone-reuse-proposals`: one class, "object"),
  the backbone frozen; two views per image, no crop (LSJ off)."""
  return _box_pretraining(_with_task(retinanet_cfg.retinanet_resnetfpn_coco(),
                                     BoxPretrainingRetinaNetTask,
                                     ReuseRetinaNet))


@exp_factory.register_config_factory(
    'backbone_reuse_fasterrcnn_box_pretraining')
def backbone_reuse_fasterrcnn_box_pretraining() -> cfg.ExperimentConfig:
  """Returns the experiment of Faster R-CNN's box-domain pre-training.

  Box-domain pre-training (AlignDet) of Faster R-CNN's decoder, RPN and
  box head on unsupervised proposals, the backbone frozen; two views per
  image, no crop (LSJ off)."""
  return _box_pretraining(_with_task(maskrcnn_cfg.fasterrcnn_resnetfpn_coco(),
                                     BoxPretrainingFasterRCNNTask,
                                     ReuseMaskRCNN))


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
