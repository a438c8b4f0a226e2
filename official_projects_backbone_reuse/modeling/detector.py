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

"""Builds Model Garden detectors around a backbone built by the reuse policy.

Model Garden's `factory.build_retinanet` and `factory.build_maskrcnn` accept a
ready backbone; everything else (decoder, heads, cascade stages, mask head) is
Model Garden's own. Used by the tasks and by the SavedModel export, so both
build the same model.
"""

import tensorflow as tf
import tf_keras

from official.vision.configs import maskrcnn as maskrcnn_cfg
from official.vision.configs import retinanet as retinanet_cfg
from official.vision.modeling import factory

from official_projects_backbone_reuse.modeling import reuse_policy


def l2_regularizer_for(l2_weight_decay: float):
  # Halved to match tf.nn.l2_loss, as Model Garden's tasks do.
  return (tf_keras.regularizers.l2(l2_weight_decay / 2.0)
          if l2_weight_decay else None)


class Float32NmsInputs(tf_keras.layers.Layer):
  """Model Garden's detection generator, its float inputs cast to float32.

  Under mixed precision (`runtime.mixed_precision_dtype: bfloat16`) the
  heads give bfloat16 boxes and scores. Model Garden's NMS v1 and v2 cast
  them to float32; its `batched` NMS (tf.image.combined_non_max_suppression,
  the fast one on a CPU) does not, and evaluation fails with "Input 'scores'
  of 'CombinedNonMaxSuppression' Op has type bfloat16". No variables.
  """

  def __init__(self, generator: tf_keras.layers.Layer, **kwargs):
    super().__init__(dtype='float32', **kwargs)
    self.generator = generator

  def __call__(self, *args, **kwargs):  # as the generators: no autocasting
    to_float32 = lambda t: (tf.cast(t, tf.float32)
                            if isinstance(t, tf.Tensor) and t.dtype.is_floating
                            else t)
    return self.generator(*tf.nest.map_structure(to_float32, args),
                          **tf.nest.map_structure(to_float32, kwargs))

  def get_config(self):
    return self.generator.get_config()


def _needs_float32_nms(model_config) -> bool:
  return (model_config.detection_generator.nms_version == 'batched' and
          tf_keras.mixed_precision.global_policy().compute_dtype != 'float32')


def build_detector(model_config, input_specs: tf_keras.layers.InputSpec,
                   l2_weight_decay: float, freeze_at: int
                   ) -> tf_keras.Model:
  """Builds a RetinaNet or (Cascade) Faster/Mask R-CNN with its variables.

  `freeze_at` is the task's, resolved (`validation.task_freeze_at`);
  `task.model.backbone_adapter` adds adapters (see `reuse_policy`).
  """
  l2_regularizer = l2_regularizer_for(l2_weight_decay)
  backbone = reuse_policy.build_backbone(model_config, input_specs,
                                         l2_regularizer, freeze_at)
  rcnn = isinstance(model_config, maskrcnn_cfg.MaskRCNN)
  if not rcnn and not isinstance(model_config, retinanet_cfg.RetinaNet):
    raise ValueError(
        f'task.model must be a RetinaNet or MaskRCNN config, got '
        f'{type(model_config).__name__}.')
  build = factory.build_maskrcnn if rcnn else factory.build_retinanet
  model = build(input_specs=input_specs, model_config=model_config,
                l2_regularizer=l2_regularizer, backbone=backbone)
  if _needs_float32_nms(model_config):
    wrapped = Float32NmsInputs(model.detection_generator)
    if rcnn:
      model.detection_generator = wrapped
    else:  # RetinaNetModel's property has no setter
      model._detection_generator = wrapped  # pylint: disable=protected-access
  if rcnn:
    # Creates the remaining variables, as Model Garden's MaskRCNNTask does.
    images = tf_keras.Input(input_specs.shape[1:])
    image_shape = tf_keras.layers.Input([2])
    model(images, image_shape=image_shape, training=False)
  return model
