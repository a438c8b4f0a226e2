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

"""`tf_keras.applications` classifiers as Model Garden backbones.

Registered as backbone type `keras_application` (config:
`configs/backbones.py`). The backbone is the application built with
`include_top=False` at the detector's input size, and outputs
{'2', '3', '4', '5'}: feature maps at strides 4, 8, 16, 32, with
`output_specs` as Model Garden's backbones; FPN and NAS-FPN build levels 6-7
from level 5 as they do for a ResNet.

Endpoints. For each level, the last layer of the application's graph that
(a) every path from the input to the output passes through and (b) outputs
the level's stride. No table per family; what it gives (channels of B0 /
Tiny / 50 in brackets):

* ResNet50/101/152: conv{2..5}_blockN_out (256, 512, 1024, 2048);
* ResNet50V2/101V2/152V2, which downsample in a stage's last block:
  conv2_block{N-1}_out, conv3_..., conv4_..., post_relu;
* EfficientNetB0-B7: block3a/4a/6a_expand_activation, top_activation
  (144, 240, 672, 1280): the input of the next stage, expanded;
* EfficientNetV2B0-B3/S/M/L: stage 2's last residual sum (B0: block2b_add,
  S: block2d_add), block4a/6a_expand_activation, top_activation (32, 192,
  672, 1280);
* ConvNeXtTiny...XLarge: the last residual sum of stages 0-2 and the final
  layer normalisation (96, 192, 384, 768);
* MobileNetV2: block_3/6/13_expand_relu, out_relu (144, 192, 576, 1280);
  also RegNet, ResNetRS, DenseNet and MobileNetV3 (the last layer of each
  stage). `endpoint_layers` overrides any level.

Inputs. Model Garden's parsers feed (pixels - MEAN_RGB) / STDDEV_RGB; the
backbone first turns that back into pixels in [0, 255], then applies the
application's own `preprocess_input` (ResNet: BGR minus the Caffe mean;
ResNetV2: [-1, 1]; EfficientNet, ConvNeXt, ...: nothing, they rescale inside
the model). A frozen application therefore computes what it computed in
pre-training.

Weights: '' is Keras's random initialisation; a `.h5` / `.keras` file or
'imagenet' is read and matched layer by layer (`keras_weights`).

Stages, for `task.freeze_at` and adapters: the graph cut at the endpoints
in graph order; the stem ends at the level-1 endpoint, the last layer on
every path with stride 2 (ResNet50: conv1_relu; EfficientNetB0:
block2a_expand_activation). See `KerasApplicationBackbone.layer_stages`.

Normalisation and activation are the application's own (its batch-norm
epsilon and momentum, swish/ReLU/GELU): Model Garden's `norm_activation` does
not apply. The L2 regulariser, given only to a backbone that trains, goes on
every kernel.
"""
import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from absl import logging
import tensorflow as tf
import tf_keras

from official.modeling import hyperparams
from official.vision.modeling.backbones import factory
from official.vision.ops import preprocess_ops

from official_projects_backbone_reuse.checkpoints import keras_weights
from official_projects_backbone_reuse.checkpoints.keras_weights import (
    application)

LEVELS = (2, 3, 4, 5)
_KEY = 'task.model.backbone.keras_application'


def _set_stochastic_depth(app: tf_keras.Model, rate: float, model_name: str):
  """Rescales the application's stochastic depth.

  With include_top=False, its Dropout layers are the per-block drop of
  residual branches."""
  drops = [l for l in app.layers if isinstance(l, tf_keras.layers.Dropout)]
  if rate and not drops:
    raise ValueError(f'{_KEY}.stochastic_depth_drop_rate={rate}: '
                     f'tf_keras.applications.{model_name} has no stochastic '
                     'depth to set; use 0.0.')
  deepest = max([layer.rate for layer in drops], default=0.0)
  for layer in drops:
    layer.rate = layer.rate * rate / deepest if rate else 0.0


def derive_endpoints(app: tf_keras.Model, height: int, width: int,
                     levels: Sequence[int] = LEVELS) -> Dict[str, str]:
  """{level: layer name} of `levels` by the rule of the module doc."""
  position = {id(layer): i for i, layer in enumerate(app.layers)}
  reach = list(range(len(app.layers)))  # the farthest layer each one feeds
  for i, layer in enumerate(app.layers):
    for node in layer.inbound_nodes:
      for parent in tf.nest.flatten(node.inbound_layers):
        j = position.get(id(parent), i)
        reach[j] = max(reach[j], i)
  endpoints, farthest = {}, 0
  for i, layer in enumerate(app.layers):
    on_every_path = farthest <= i
    farthest = max(farthest, reach[i])
    if not on_every_path or isinstance(layer, tf_keras.layers.ZeroPadding2D):
      continue
    for level in levels:
      if _has_stride(layer, height, width, level):
        endpoints[str(level)] = layer.name
  return endpoints


def _has_stride(layer, height: int, width: int, level: int) -> bool:
  shape = layer.output.shape
  return shape.rank == 4 and tuple(shape[1:3]) == (
      math.ceil(height / 2**level), math.ceil(width / 2**level))


def endpoint_layers(app: tf_keras.Model, model_name: str, height: int,
                    width: int, overrides: Optional[Mapping[str, str]]
                    ) -> Dict[str, str]:
  """The derived endpoints with `overrides` applied, checked."""
  endpoints = derive_endpoints(app, height, width)
  for level, name in (overrides or {}).items():
    level = str(level)
    if level not in map(str, LEVELS):
      raise ValueError(f'{_KEY}.endpoint_layers: level {level!r} is not one '
                       f'of {list(LEVELS)}.')
    names = [layer.name for layer in app.layers]
    if name not in names:
      raise ValueError(f'{_KEY}.endpoint_layers: {model_name} has no layer '
                       f'{name!r} (level {level}).')
    layer = app.layers[names.index(name)]
    if not _has_stride(layer, height, width, int(level)):
      raise ValueError(
          f'{_KEY}.endpoint_layers: layer {name!r} outputs '
          f'{layer.output.shape}; level {level} needs stride {2**int(level)}'
          f' (at {height}x{width}: {math.ceil(height / 2**int(level))}x'
          f'{math.ceil(width / 2**int(level))}).')
    endpoints[level] = name
  absent = [l for l in LEVELS if str(l) not in endpoints]
  if absent:
    raise ValueError(
        f'{model_name} at {height}x{width}: no layer found for level(s) '
        f'{absent} (stride 2**level); name them in {_KEY}.endpoint_layers.')
  return {str(l): endpoints[str(l)] for l in LEVELS}


@tf_keras.utils.register_keras_serializable(package='BackboneReuse')
class ApplicationInput(tf_keras.layers.Layer):
  """Layer that feeds Model Garden's images to a Keras application.

  Model Garden's normalised images -> pixels -> the application's own
  `preprocess_input`."""

  def __init__(self, model_name: str, **kwargs):
    super().__init__(**kwargs)
    self._model_name = model_name
    self._preprocess_input = application(model_name)[1].preprocess_input

  def call(self, images):
    pixels = images * preprocess_ops.STDDEV_RGB + preprocess_ops.MEAN_RGB
    return self._preprocess_input(pixels)

  def get_config(self):
    return dict(super().get_config(), model_name=self._model_name)


class KerasApplicationBackbone(tf_keras.Model):
  """A Keras application's feature maps at levels 2-5, as a backbone."""

  def __init__(self, app: tf_keras.Model, model_name: str,
               input_specs: tf_keras.layers.InputSpec,
               endpoints: Mapping[str, str],
               l2_regularizer: Optional[
                   tf_keras.regularizers.Regularizer] = None,
               **kwargs):
    features = tf_keras.Model(
        app.inputs, {level: app.get_layer(name).output
                     for level, name in endpoints.items()}, name=app.name)
    inputs = tf_keras.Input(shape=input_specs.shape[1:])
    outputs = features(ApplicationInput(model_name)(inputs))
    super().__init__(inputs=inputs, outputs=outputs, **kwargs)
    self._output_specs = {l: outputs[l].get_shape() for l in outputs}
    _, height, width, _ = input_specs.shape
    bounds = dict(derive_endpoints(app, height, width, levels=(1,)),
                  **endpoints)
    # A tuple of strings: not tracked by Keras, not in checkpoints.
    self._stage_names = _stages_in_graph_order(features, bounds)
    if l2_regularizer is not None:
      for v in self.trainable_variables:
        if 'kernel' in v.name.split('/')[-1]:
          self.add_loss(lambda v=v: l2_regularizer(v))

  @property
  def output_specs(self) -> Dict[str, tf.TensorShape]:
    return self._output_specs

  def application_graph(self) -> tf_keras.Model:
    """Returns the application's graph of leaf layers.

    Adapters, held by this backbone, come after it among `self.layers`."""
    return next(layer for layer in self.layers
                if isinstance(layer, tf_keras.Model))

  def layer_stages(self) -> List[Tuple[tf_keras.layers.Layer, int]]:
    """Lists every layer of the application with its stage.

    (layer, stage) of every layer of the application in graph order:
    1 the stem, L in 2..5 the stage that outputs level L (module doc)."""
    features = self.application_graph()
    return [(features.get_layer(name), stage)
            for name, stage in self._stage_names]


def _stages_in_graph_order(features: tf_keras.Model,
                           bounds: Mapping[str, str]
                           ) -> Tuple[Tuple[str, int], ...]:
  """Assigns each layer of `features` its stage.

  (layer name, stage) of the layers of `features`; a layer's stage is the
  lowest level whose endpoint (`bounds`: level -> layer name) comes at or
  after it in graph order, the stem being level 1."""
  position = {layer.name: i for i, layer in enumerate(features.layers)}
  ends = sorted((position[name], int(level))
                for level, name in bounds.items())
  staged = []
  for i, layer in enumerate(features.layers):
    stage = min((level for end, level in ends if i <= end),
                default=max(LEVELS) + 1)
    staged.append((layer.name, stage))
  return tuple(staged)


def _build_application(config, input_shape: Tuple[int, int, int]
                       ) -> tf_keras.Model:
  """Keras's weights=None graph of the application, with its weights."""
  app = application(config.model_name)[0](
      include_top=False, weights=None, input_shape=input_shape)
  if config.weights:
    stored = keras_weights.read_weights(config.weights, config.model_name,
                                        input_shape)
    for layer, weights in keras_weights.match_weights(
        app, stored, config.weights, config.model_name):
      layer.set_weights(weights)
    logging.info('Loaded every weight of %s from %s.', config.model_name,
                 config.weights)
  return app


@factory.register_backbone_builder('keras_application')
def build_keras_application_backbone(
    input_specs: tf_keras.layers.InputSpec,
    backbone_config: hyperparams.Config,
    norm_activation_config: hyperparams.Config,
    l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None
) -> tf_keras.Model:
  """Builds `KerasApplicationBackbone` from `backbone.keras_application`.

  `norm_activation_config` is not used: the application keeps its own.
  """
  del norm_activation_config
  config = backbone_config.get()
  _, height, width, channels = input_specs.shape
  if height is None or width is None:
    raise ValueError(f'{config.model_name} needs a fixed input size, got '
                     f'{input_specs.shape}.')
  app = _build_application(config, (height, width, channels))
  _set_stochastic_depth(app, config.stochastic_depth_drop_rate,
                        config.model_name)
  overrides = (config.endpoint_layers.as_dict()
               if config.endpoint_layers else None)
  endpoints = endpoint_layers(app, config.model_name, height, width,
                              overrides)
  logging.info('Backbone tf_keras.applications.%s, endpoints %s.',
               config.model_name, endpoints)
  return KerasApplicationBackbone(app, config.model_name, input_specs,
                                  endpoints, l2_regularizer)
