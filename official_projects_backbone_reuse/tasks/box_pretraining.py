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

"""Box-domain pre-training of a detector's decoder and heads.

The decoder and heads learn on unsupervised proposals, the backbone frozen
(AlignDet, Li et al., ICCV 2023): RetinaNet, and Faster R-CNN (at the end
of this module).

The training data are images with class-agnostic proposals
(`backbone-reuse-proposals`). Each image gives two views
(`dataloaders/box_views.py`), each flipped at
random and changed by one of AlignDet's nine photometric operations, with no
crop, so every proposal is in both. Each proposal is its own id. The online
detector learns on view 1: RetinaNet's own focal and box losses with the
proposals as one class, "object", plus the box-level contrastive loss
(`modeling/box_contrast`). That loss compares anchor embeddings (the class
tower through a projection head) with a momentum (EMA) copy's embeddings of
view 2.

What fine-tuning takes from a run: `task.init_checkpoints` with `decoder`
and `head` from it. The head's one-class classifier is label space and is
left new (`skip_label_space`). The projection head and the momentum copy
belong to no detector part, so they are not carried.
"""
from typing import Dict, Tuple

import tensorflow as tf
import tf_keras

from official.common import dataset_fn as dataset_fn_lib
from official.core import task_factory
from official.vision.dataloaders import input_reader
from official.vision.dataloaders import input_reader_factory
from official.vision.dataloaders import maskrcnn_input
from official.vision.dataloaders import retinanet_input
from official.vision.dataloaders import tf_example_decoder

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import detection as cfg
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.dataloaders import box_views
from official_projects_backbone_reuse.dataloaders import copy_paste_input
from official_projects_backbone_reuse.modeling import box_contrast
from official_projects_backbone_reuse.modeling import detector
from official_projects_backbone_reuse.tasks import detection


def forward(model: tf_keras.Model, images: tf.Tensor, training: bool
            ) -> Tuple[Dict[str, tf.Tensor], Dict[str, tf.Tensor],
                       Dict[str, tf.Tensor]]:
  """Runs RetinaNet's head, keeping the class tower's features.

  RetinaNet's class and box outputs, as its head gives them, and the
  class tower's features they come from, per level."""
  features = model.backbone(images, training=training)
  features = model.decoder(features, training=training)
  head = model.head
  config = head.get_config()
  tower = head._apply_prediction_tower  # pylint: disable=protected-access
  cls_parts = (head._cls_convs, head._classifier)  # pylint: disable=protected-access
  box_parts = (head._box_convs, head._box_regressor)  # pylint: disable=protected-access
  norms = (head._cls_norms, head._box_norms)  # pylint: disable=protected-access
  scores, boxes, towers = {}, {}, {}
  for i, level in enumerate(range(config['min_level'],
                                  config['max_level'] + 1)):
    level = str(level)
    (cls_convs, classifier), (box_convs, box_regressor) = (
        parts if config['share_level_convs'] else [p[i] for p in parts]
        for parts in (cls_parts, box_parts))
    towers[level] = tower(features[level], cls_convs, norms[0][i])
    scores[level] = classifier(towers[level])
    boxes[level] = box_regressor(
        tower(features[level], box_convs, norms[1][i]))
  return scores, boxes, towers


def sampled_embeddings(projection, towers, labels, samples_per_image: int,
                       max_proposals: int, dim: int
                       ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Samples the anchor embeddings of the contrastive loss.

  Embeddings [S, D] of each image's anchors in the loss and their ids
  (`BACKGROUND` or proposal id, unique across the batch): the positive
  anchors first, in random order, then random background anchors, up to
  `samples_per_image`; ignored anchors never."""
  embeddings, ids = [], []
  for level, tower in towers.items():
    batch = tf.shape(tower)[0]
    embedding = projection(tower)
    embeddings.append(tf.reshape(embedding, [batch, -1, dim]))
    ids.append(tf.reshape(labels['cls_targets'][level], [batch, -1]))
  embeddings = tf.concat(embeddings, axis=1)
  ids = tf.cast(tf.concat(ids, axis=1), tf.int32)
  weights = tf.reshape(labels['cls_weights'], tf.shape(ids))
  priority = tf.where(
      weights > 0,
      tf.where(ids > 0, 2.0, 1.0) + tf.random.uniform(tf.shape(ids), 0, 0.5),
      0.0)
  count = tf.minimum(samples_per_image, tf.shape(ids)[1])
  priority, chosen = tf.math.top_k(priority, count)
  ids = tf.gather(ids, chosen, batch_dims=1)
  image = tf.range(tf.shape(ids)[0])[:, None]
  ids = tf.where(ids > 0, ids + image * (max_proposals + 1),
                 box_contrast.BACKGROUND)
  keep = tf.reshape(priority > 0, [-1])
  embeddings = tf.gather(embeddings, chosen, batch_dims=1)
  return (tf.boolean_mask(tf.reshape(embeddings, [-1, dim]), keep),
          tf.boolean_mask(tf.reshape(ids, [-1]), keep))


def _view_args(parser) -> dict:
  """The augmentation and instance arguments both detectors' parsers take."""
  return dict(aug_rand_hflip=parser.aug_rand_hflip,
              aug_scale_min=parser.aug_scale_min,
              aug_scale_max=parser.aug_scale_max,
              skip_crowd_during_training=parser.skip_crowd_during_training,
              max_num_instances=parser.max_num_instances)


class _BoxPretrainingMixin:
  """What both box pre-training tasks add to their detection task.

  The momentum copy and projections riding on the model, its start and EMA
  step, two views per training example, the contrastive loss's metric."""

  def _with_momentum_copy(self, model, projection, features_shape):
    """Adds the momentum copy and projection heads to `model`.

    `model` with its momentum copy and both projection heads (built on
    features of `features_shape`) as `momentum_target` and
    `box_projection`, so a run's checkpoint holds them and a resumed run
    goes on from them."""
    config = self.task_config
    if config.box_pretraining.momentum_steps is None:
      raise ConfigError('task.box_pretraining.momentum_steps: unset (a run '
                        'sets it to trainer.train_steps)')
    target = detector.build_detector(
        config.model, tf_keras.layers.InputSpec(
            shape=[None] + config.model.input_size),
        l2_weight_decay=0.0, freeze_at=validation.FREEZE_ALL)
    target.trainable = False
    for owner in (model, target):
      owner.box_projection = projection()
      owner.box_projection(tf.zeros(features_shape))  # builds it
    target.box_projection.trainable = False
    model.momentum_target = target
    return model

  def initialize(self, model: tf_keras.Model):
    """Restores the online detector and copies it to the momentum copy.

    The online detector as `detection` restores it; the momentum copy
    starts as the same weights (AlignDet copies them too)."""
    super().initialize(model)
    for target, online in _online_and_target(model, everything=True):
      target.assign(online)

  def _read_two_views(self, params, parser, input_context, dataset_fn):
    """The training data as (view 1, view 2) of `parser`'s outputs."""
    decoder = tf_example_decoder.TfExampleDecoder(
        regenerate_source_id=params.decoder.get().regenerate_source_id)
    reader = input_reader_factory.input_reader_generator(
        params,
        dataset_fn=dataset_fn or dataset_fn_lib.pick_dataset_fn(
            params.file_type),
        decoder_fn=decoder.decode,
        combine_fn=input_reader.create_combine_fn(params),
        parser_fn=box_views.two_views(parser.parse_fn(True),
                            self.task_config.box_pretraining.max_proposals))
    return reader.read(input_context=input_context)

  def train_step(self, inputs, model, optimizer, metrics=None):
    """Runs a training step of box pre-training.

    The detector's own step on view 1 (`_losses_and_queries`) plus the
    contrastive loss of its embeddings against the momentum copy's on view
    2 (`_keys`), then the copy's EMA step after the optimizer's."""
    (images, labels), (target_images, target_labels) = inputs
    options = self.task_config.box_pretraining
    keys, key_ids = self._keys(model.momentum_target, target_images,
                               target_labels)
    keys = tf.stop_gradient(keys)
    num_replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape() as tape:
      losses, queries, query_ids = self._losses_and_queries(model, images,
                                                            labels)
      contrastive = box_contrast.contrastive_loss(
          queries, query_ids, keys, key_ids, options.temperature)
      loss = losses['total_loss'] + options.contrastive_weight * contrastive
      scaled_loss = loss / num_replicas
    variables = model.trainable_variables
    optimizer.apply_gradients(
        zip(tape.gradient(scaled_loss, variables), variables))
    momentum = box_contrast.momentum(optimizer.iterations - 1,
                                     options.momentum_steps,
                                     options.base_momentum)
    _update_target(model, momentum)
    losses = dict(losses, total_loss=loss, contrastive_loss=contrastive)
    logs = {self.loss: loss}
    for metric in metrics or []:
      metric.update_state(losses[metric.name])
      logs[metric.name] = metric.result()
    return logs

  def build_metrics(self, training: bool = True):
    metrics = super().build_metrics(training)
    if training:
      metrics.append(tf_keras.metrics.Mean('contrastive_loss',
                                           dtype=tf.float32))
    return metrics


@task_factory.register_task_cls(cfg.BoxPretrainingRetinaNetTask)
class BoxPretrainingRetinaNetTask(_BoxPretrainingMixin,
                                  detection.ReuseRetinaNetTask):
  """RetinaNet's decoder and head pre-trained on proposals (module doc)."""

  def build_model(self) -> tf_keras.Model:
    config, options = self.task_config, self.task_config.box_pretraining
    anchors = (len(config.model.anchor.aspect_ratios)
               * config.model.anchor.num_scales)
    return self._with_momentum_copy(
        super().build_model(),
        lambda: box_contrast.conv_projection(
            anchors, options.embedding_dim, options.projection_width),
        [1, 1, 1, config.model.head.num_filters])

  def build_inputs(self, params, input_context=None, dataset_fn=None):
    if not params.is_training:
      return super().build_inputs(params, input_context)
    model = self.task_config.model
    # What Model Garden's RetinaNetTask.build_inputs builds, one view.
    parser = retinanet_input.Parser(
        **copy_paste_input.anchor_args(model),
        dtype=params.dtype,
        match_threshold=params.parser.match_threshold,
        unmatched_threshold=params.parser.unmatched_threshold,
        box_coder_weights=model.detection_generator.box_coder_weights,
        **_view_args(params.parser),
        pad=params.parser.pad,
        keep_aspect_ratio=params.parser.keep_aspect_ratio)
    return self._read_two_views(params, parser, input_context, dataset_fn)

  def _sample(self, projection, towers, labels):
    options = self.task_config.box_pretraining
    return sampled_embeddings(projection, towers, labels,
                              samples_per_image=options.samples_per_image,
                              max_proposals=options.max_proposals,
                              dim=options.embedding_dim)

  def _keys(self, target, images, labels):
    _, _, towers = forward(target, images, training=True)
    return self._sample(target.box_projection, towers, labels)

  def _losses_and_queries(self, model, images, labels):
    scores, boxes, towers = forward(model, images, training=True)
    outputs = tf.nest.map_structure(
        lambda x: tf.cast(x, tf.float32),
        {'cls_outputs': scores, 'box_outputs': boxes})
    # Every proposal is one class, "object", for the detection losses.
    objects = dict(labels, cls_targets={
        level: tf.minimum(ids, 1)
        for level, ids in labels['cls_targets'].items()})
    loss, cls_loss, box_loss, model_loss = self.build_losses(
        outputs=outputs, labels=objects, aux_losses=model.losses)
    losses = {'total_loss': loss, 'cls_loss': cls_loss,
              'box_loss': box_loss, 'model_loss': model_loss}
    return (losses,) + self._sample(model.box_projection, towers, labels)


def _online_and_target(model, everything: bool = False):
  """Pairs the momentum copy's variables with the online model's.

  (target, online) variable pairs, matched by object path: every weight
  of the decoder, the heads and the projection, or with `everything` the
  backbone's too (frozen, so the same).

  AlignDet averages parameters only: its neck and heads have no batch norm.
  Model Garden's FPN and heads do, and the copy, not trainable, runs them
  in inference mode, so their moving statistics are averaged too (as
  AlignDet's unused `_ema_eman`); the online model's, not the copy's own
  start values, are what it normalises with."""
  target = model.momentum_target
  pairs = []
  parts = (('decoder', 'rpn_head', 'detection_head')
           if hasattr(model, 'rpn_head') else ('decoder', 'head'))
  for name in (('backbone',) if everything else ()) + parts + (
      'box_projection',):
    online = restore.variables_by_path(getattr(model, name))
    copies = restore.variables_by_path(getattr(target, name))
    if online.keys() != copies.keys():
      raise ValueError(f'the momentum copy of the {name} differs: '
                       f'{sorted(online.keys() ^ copies.keys())[:3]}')
    pairs += [(copies[path], online[path]) for path in online]
  return pairs


def _update_target(model, momentum) -> None:
  """Runs the momentum copy's EMA step.

  In cross-replica context when several replicas hold it."""
  pairs = _online_and_target(model)
  replica = tf.distribute.get_replica_context()
  if replica is None or replica.num_replicas_in_sync == 1:
    box_contrast.ema_update(*zip(*pairs), momentum)
    return

  def update(strategy):
    for target, online in pairs:
      strategy.extended.update(
          target, lambda t, o: t.assign(momentum * t + (1 - momentum) * o),
          args=(online,))
  replica.merge_call(update)


# Faster R-CNN. The detection losses are Model Garden's RPN and Fast R-CNN
# losses with every proposal one class, "object", on view 1. The
# contrastive loss compares regions: each proposal's box, RoI-aligned and
# through the box head's shared layers and the projection, online on view 1
# against the momentum copy on view 2 (the same proposal in both: the
# positive). AlignDet also takes the RPN's regions that overlap a proposal
# by IoU 0.5 or more; here the proposals alone, so the regions and their
# ids need no sampling and line up across the views by construction.


def box_head_features(head, roi_features: tf.Tensor,
                      training: bool) -> tf.Tensor:
  """Computes the features of Model Garden's `DetectionHead`.

  [B, N, D]: what Model Garden's `DetectionHead` gives its classifier
  and box regressor for RoI features [B, N, h, w, c], as its call
  computes it."""
  _, num_rois, height, width, filters = roi_features.get_shape().as_list()
  x = tf.reshape(roi_features, [-1, height, width, filters])
  for conv, norm in zip(head._convs, head._conv_norms):  # pylint: disable=protected-access
    x = head._activation(norm(conv(x), training=training))  # pylint: disable=protected-access
  _, _, _, filters = x.get_shape().as_list()
  x = tf.reshape(x, [-1, num_rois, height * width * filters])
  for fc, norm in zip(head._fcs, head._fc_norms):  # pylint: disable=protected-access
    x = head._activation(norm(fc(x), training=training))  # pylint: disable=protected-access
  return x


def region_embeddings(model, features, labels, max_proposals: int,
                      training: bool) -> Tuple[tf.Tensor, tf.Tensor]:
  """Embeds every proposal in the batch.

  Embeddings [S, D] of every proposal in the batch and their ids,
  unique across it (image i's proposal p: p + i (max_proposals + 1))."""
  boxes, ids = labels['gt_boxes'], tf.cast(labels['gt_classes'], tf.int32)
  regions = model.roi_aligner(features, boxes)
  embeddings = model.box_projection(box_head_features(
      model.detection_head[0], regions, training))
  image = tf.range(tf.shape(ids)[0])[:, None]
  keep = ids > 0  # the parser pads with -1
  return (tf.boolean_mask(embeddings, keep),
          tf.boolean_mask(ids + image * (max_proposals + 1), keep))


@task_factory.register_task_cls(cfg.BoxPretrainingFasterRCNNTask)
class BoxPretrainingFasterRCNNTask(_BoxPretrainingMixin,
                                   detection.ReuseMaskRCNNTask):
  """Box-domain pre-training of Faster R-CNN.

  Faster R-CNN's decoder, RPN and box head pre-trained on proposals
  (above). What fine-tuning takes: `task.init_checkpoints` with
  `decoder`, `rpn_head` and `detection_head` from a run; the box head's
  one-class classifier and box regressor are label space and left new."""

  def build_model(self) -> tf_keras.Model:
    config, options = self.task_config, self.task_config.box_pretraining
    if (config.model.include_mask
        or config.model.roi_sampler.cascade_iou_thresholds):
      raise ConfigError('task.model: box-domain pre-training of R-CNN '
                        'takes Faster R-CNN, without masks or cascade '
                        'stages (include_mask: false, roi_sampler.'
                        'cascade_iou_thresholds: null).')
    return self._with_momentum_copy(
        super().build_model(),
        lambda: box_contrast.mlp_projection(options.embedding_dim,
                                            options.projection_width),
        [1, 1, config.model.detection_head.fc_dims])

  def build_inputs(self, params, input_context=None, dataset_fn=None):
    if not params.is_training:
      return super().build_inputs(params, input_context)
    model = self.task_config.model
    # What Model Garden's MaskRCNNTask.build_inputs builds, one view.
    parser = maskrcnn_input.Parser(
        **copy_paste_input.anchor_args(model),
        rpn_match_threshold=params.parser.rpn_match_threshold,
        rpn_unmatched_threshold=params.parser.rpn_unmatched_threshold,
        rpn_batch_size_per_im=params.parser.rpn_batch_size_per_im,
        rpn_fg_fraction=params.parser.rpn_fg_fraction,
        **_view_args(params.parser),
        include_mask=False,
        dtype=params.dtype)
    return self._read_two_views(params, parser, input_context, dataset_fn)

  def _embed(self, model, features, labels):
    return region_embeddings(
        model, features, labels,
        max_proposals=self.task_config.box_pretraining.max_proposals,
        training=True)

  def _keys(self, target, images, labels):
    return self._embed(target, target.decoder(target.backbone(images)),
                       labels)

  def _losses_and_queries(self, model, images, labels):
    # Every proposal is one class, "object", for the detection losses.
    classes = tf.minimum(labels['gt_classes'], 1)  # the -1 padding stays
    outputs = model(images, image_shape=labels['image_info'][:, 1, :],
                    anchor_boxes=labels['anchor_boxes'],
                    gt_boxes=labels['gt_boxes'], gt_classes=classes,
                    training=True)
    queries, query_ids = self._embed(model, outputs['decoder_features'],
                                     labels)
    outputs = tf.nest.map_structure(lambda x: tf.cast(x, tf.float32),
                                    outputs)
    losses = self.build_losses(outputs=outputs,
                               labels=dict(labels, gt_classes=classes),
                               aux_losses=model.losses)
    return losses, queries, query_ids
