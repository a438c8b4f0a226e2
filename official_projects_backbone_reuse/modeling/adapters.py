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

"""Residual adapters for frozen Model Garden backbones (paper, Sec. 4.5).

Rebuffi et al. (2017, 2018) adapt a frozen network with small task-specific
layers; here they are trained with the detector while every original
backbone variable stays as restored. `task.model.backbone_adapter.type`:

* `parallel`: a 1x1 convolution alongside each spatial (k x k, k > 1)
  convolution of a block, on the same input with the same stride, added to
  its output before the block's batch norm. Zero-initialised.
* `series`: after the batch norm that follows each spatial convolution,
  `y + BN_a(conv1x1_a(y))`. `BN_a`'s scale starts at 0, so the branch is 0
  at step 0 while its convolution (He-initialised) still gets gradients.
* `film`: a per-channel scale and shift of each block's output (Dumoulin et
  al. 2018), `gamma * y + beta` with gamma = 1, beta = 0 at step 0.

At step 0 an adapted backbone computes exactly its unadapted function.

An adapter mirrors the convolution it adapts: a regular convolution gets a
regular 1x1 convolution (C_in -> C_out), a depthwise convolution (EfficientNet's
MBConv) a depthwise 1x1 convolution, i.e. one scale per channel; a dense 1x1
over EfficientNet's expanded channels would outgrow the backbone.

One mechanism for every Model Garden backbone, without copying its code. A
*block* is any layer of the backbone (ResNet's `ResidualBlock` and
`BottleneckBlock`, EfficientNet's `InvertedBottleneckBlock`, ...) with a
spatial convolution among its direct sublayers; its batch norm is the
sublayer named like the convolution with `conv` -> `norm` (`_conv2` ->
`_norm2`, Model Garden's convention). The adapted layer (convolution, batch
norm, or the block itself) keeps its object, variables and checkpoint path;
only its class becomes a subclass of its own class whose `call` passes its
inputs and outputs through the adapter. The adapter is a child of the block,
`adapter_<layer>` (e.g. `adapter_conv2`, `adapter_output`), not of the layer
it adapts: the reuse policy freezes original layers with `trainable = False`,
which in Keras also freezes a layer's children. A classification checkpoint
therefore restores every original variable by its path, and the adapter
variables (`adapter_variables`) are new by design.

A Keras application has no blocks: it is one flat graph of leaf layers. Its
adapters sit at the same places beyond the stem (on each spatial
convolution, on the batch norm after it, on each residual sum for FiLM) and
are children of the backbone (`_adapt_flat_graph`).

Configs. Model Garden's backbones rebuild their blocks in their constructor,
from the backbone's own config (`from_config`, and `clone_model`, which uses
it), so the backbone is what must carry the adapters: an adapted Model
Garden backbone becomes `Adapted<Backbone>` (e.g. `AdaptedResNet`), a
registered Keras class whose config adds `backbone_adapter` and whose
`from_config` attaches them again. A Keras application is rebuilt from no
config of its own, so an adapted one (or an adapted layer alone) raises a
NotImplementedError saying so rather than losing its adapters silently.
"""
import functools
from typing import List

import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import efficientnet
from official.vision.modeling.backbones import resnet

ADAPTER_TYPES = ('none', 'parallel', 'series', 'film')
_CONVOLUTIONS = (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D)


class Adapter(tf_keras.layers.Layer):
  """Base layer of an adapter.

  An adapter maps (inputs, outputs) of the layer it adapts to new outputs,
  equal to `outputs` at initialisation."""

  def call(self, inputs, outputs):
    raise NotImplementedError


def _channels(conv):
  """Counts the channels of a convolution.

  (input, output) channels of a regular, grouped or depthwise
  convolution."""
  if isinstance(conv, tf_keras.layers.DepthwiseConv2D):
    _, _, channels, multiplier = conv.depthwise_kernel.shape
    return channels, channels * multiplier
  return conv.kernel.shape[2] * conv.groups, conv.kernel.shape[3]


def _pointwise(conv, in_channels, out_channels, strides, initializer,
               regularizer, name):
  """A 1x1 convolution of the structure of `conv` (regular or depthwise)."""
  if isinstance(conv, tf_keras.layers.DepthwiseConv2D):
    layer = tf_keras.layers.DepthwiseConv2D(
        kernel_size=1, strides=strides, padding='same',
        depth_multiplier=out_channels // in_channels, use_bias=False,
        depthwise_initializer=initializer, depthwise_regularizer=regularizer,
        dtype=conv.dtype_policy, name=name)
  else:
    layer = tf_keras.layers.Conv2D(
        filters=out_channels, kernel_size=1, strides=strides, padding='same',
        groups=conv.groups, use_bias=False, kernel_initializer=initializer,
        kernel_regularizer=regularizer, dtype=conv.dtype_policy, name=name)
  return _built(layer, in_channels)


def _built(layer, channels: int):
  """Returns `layer` built for NHWC inputs of `channels`.

  Its variables are named under the current name scope."""
  with tf.name_scope(layer.name):
    layer.build([None, None, None, channels])
  return layer


class ParallelAdapter(Adapter):
  """`conv(x) + conv1x1_a(x)`, the 1x1 convolution zero-initialised.

  For a 'valid' k x k convolution (after explicit padding, as Keras
  applications downsample) the 1x1 convolution sees the input without its
  (k - 1) / 2 border: the taps at the kernel's centre.
  """

  def __init__(self, conv, kernel_regularizer=None, **kwargs):
    super().__init__(dtype=conv.dtype_policy, **kwargs)
    if conv.padding not in ('same', 'valid') or (
        conv.padding == 'valid' and not all(k % 2 for k in conv.kernel_size)):
      raise ValueError(
          f'parallel adapter: {conv.name} has padding {conv.padding!r} and '
          f'kernel size {conv.kernel_size}; only "same" convolutions and '
          '"valid" ones of odd kernel size can be adapted.')
    self._crop = ((0, 0) if conv.padding == 'same'
                  else tuple((k - 1) // 2 for k in conv.kernel_size))
    self.conv = _pointwise(conv, *_channels(conv), conv.strides, 'zeros',
                           kernel_regularizer, 'conv')
    self.built = True

  def call(self, inputs, outputs):
    rows, columns = self._crop
    inputs = inputs[:, rows:-rows or None, columns:-columns or None, :]
    return outputs + self.conv(inputs)


class SeriesAdapter(Adapter):
  """`y + BN_a(conv1x1_a(y))` after a batch norm, BN_a's scale zero."""

  def __init__(self, conv, norm, kernel_regularizer=None, **kwargs):
    super().__init__(dtype=norm.dtype_policy, **kwargs)
    channels = _channels(conv)[1]
    self.conv = _pointwise(conv, channels, channels, 1, 'he_normal',
                           kernel_regularizer, 'conv')
    self.norm = tf_keras.layers.BatchNormalization(
        axis=norm.axis, momentum=norm.momentum, epsilon=norm.epsilon,
        synchronized=norm.synchronized, gamma_initializer='zeros',
        dtype=norm.dtype_policy, name='norm')
    _built(self.norm, channels)
    self.built = True

  def call(self, inputs, outputs):
    return outputs + self.norm(self.conv(outputs))


class FiLMAdapter(Adapter):
  """`gamma * y + beta` per channel, from gamma = 1, beta = 0."""

  def __init__(self, channels: int, dtype=None, **kwargs):
    super().__init__(dtype=dtype, **kwargs)
    self.gamma = self.add_weight('gamma', [channels], initializer='ones')
    self.beta = self.add_weight('beta', [channels], initializer='zeros')
    self.built = True

  def call(self, inputs, outputs):
    return outputs * self.gamma + self.beta


class _Adapted:
  """Mixed into the class of an adapted layer (see module doc)."""

  def call(self, inputs, *args, **kwargs):
    outputs = super(_Adapted, self).call(inputs, *args, **kwargs)  # pylint: disable=super-with-arguments
    return self._adapter(inputs, outputs)

  def get_config(self):
    raise NotImplementedError(
        f'{self.name} has an adapter ({self._adapter.name}) that its config '
        'cannot rebuild: take the config of (or clone) the whole adapted '
        'Model Garden backbone, or build the backbone again with '
        'reuse_policy.build_backbone and copy its weights.')


class _AdaptedBackbone:
  """Mixin of an adapted Model Garden backbone's class.

  Mixed into the class of an adapted Model Garden backbone: its config
  carries the adapters, so that `from_config` and `clone_model` rebuild
  them (see module doc)."""

  def get_config(self):
    return dict(super().get_config(),
                backbone_adapter=dict(self._backbone_adapter))

  @classmethod
  def from_config(cls, config, custom_objects=None):
    config = dict(config)
    adapter = config.pop('backbone_adapter')
    backbone = super().from_config(config, custom_objects)
    attach(backbone, adapter['type'],
           tf_keras.regularizers.get(adapter['kernel_regularizer']))
    return backbone


class _AdaptedApplication:
  """Mixed into the class of an adapted Keras application backbone."""

  def get_config(self):
    raise NotImplementedError(
        f'{self.name}: adapters on a Keras application cannot be rebuilt '
        'from config (get_config, from_config, clone_model); build the '
        'adapted backbone again with reuse_policy.build_backbone '
        '(task.model.backbone_adapter) and copy its weights (set_weights).')


@functools.lru_cache(maxsize=None)
def _adapted_class(cls, mixin):
  """Returns `cls` with `mixin` first in its bases.

  The same class for every call; registered with Keras when configs name
  it."""
  if issubclass(cls, mixin):
    return cls
  adapted = type(f'Adapted{cls.__name__}', (mixin, cls),
                 {'__module__': __name__})
  if mixin is _AdaptedBackbone:  # configs name it
    adapted = tf_keras.utils.register_keras_serializable(
        package='BackboneReuse')(adapted)
  return adapted


# Registered at import, so that a config names them in any process.
AdaptedResNet = _adapted_class(resnet.ResNet, _AdaptedBackbone)
AdaptedEfficientNet = _adapted_class(efficientnet.EfficientNet,
                                     _AdaptedBackbone)


def _adapt(block, layer_name: str, layer, adapter_cls, *args) -> Adapter:
  """Adapts `layer`, the sublayer `layer_name` of `block` (or the block)."""
  if isinstance(layer, _Adapted):
    raise ValueError(f'{block.name}/{layer_name} is already adapted.')
  name = f'adapter_{layer_name.lstrip("_")}'
  with tf.name_scope(f'{block.name}/{name}/'):  # variable names
    adapter = adapter_cls(*args, name=name)
  setattr(block, name, adapter)  # tracked
  # Not tracked: a child of a frozen layer would be frozen with it.
  object.__setattr__(layer, '_adapter', adapter)
  object.__setattr__(layer, '__class__',
                     _adapted_class(type(layer), _Adapted))
  return adapter


def _spatial_convolutions(layer):
  """(attribute name, convolution) of the direct k x k (k > 1) convolutions."""
  return [(name, value) for name, value in sorted(vars(layer).items())
          if isinstance(value, _CONVOLUTIONS)
          and max(value.kernel_size) > 1]


def blocks(backbone: tf_keras.Model) -> List[tf_keras.layers.Layer]:
  """The backbone's blocks (see module doc), in computation order."""
  return [layer for layer in backbone._flatten_layers(include_self=False)  # pylint: disable=protected-access
          if not isinstance(layer, Adapter) and _spatial_convolutions(layer)]


def _adapt_block(block, adapter_type, kernel_regularizer) -> List[Adapter]:
  if adapter_type == 'film':
    return [_adapt(block, 'output', block, FiLMAdapter,
                   block.output_shape[-1], block.dtype_policy)]
  adapted = []
  for name, conv in _spatial_convolutions(block):
    if adapter_type == 'parallel':
      adapted.append(_adapt(block, name, conv, ParallelAdapter, conv,
                            kernel_regularizer))
      continue
    norm_name = name.replace('conv', 'norm')
    norm = getattr(block, norm_name, None)
    if not isinstance(norm, tf_keras.layers.BatchNormalization):
      raise ValueError(
          f'series adapter: block {block.name} ({type(block).__name__}) has '
          f'no batch norm {norm_name} after its convolution {name}.')
    adapted.append(_adapt(block, norm_name, norm, SeriesAdapter, conv, norm,
                          kernel_regularizer))
  return adapted


def _consumer(graph: tf_keras.Model, layer, kind):
  """The layer of `graph` of type `kind` that `layer` feeds, if one."""
  found = [other for other in graph.layers for node in other.inbound_nodes
           if isinstance(other, kind)
           and layer in tf.nest.flatten(node.inbound_layers)]
  return found[0] if len(found) == 1 else None


def _adapt_flat_graph(backbone, adapter_type, kernel_regularizer
                      ) -> List[Adapter]:
  """Adds adapters to a backbone that is one flat graph.

  Adapters on a backbone that is one flat graph of leaf layers (a Keras
  application), beyond its stem: on each spatial convolution (parallel),
  the batch norm after it (series), or each residual sum (FiLM; the flat
  graph's block outputs). The backbone itself holds the adapters."""
  staged = [layer for layer, stage in backbone.layer_stages() if stage > 1]
  graph = backbone.application_graph()
  adapted = []
  for layer in staged:
    if adapter_type == 'film':
      if isinstance(layer, tf_keras.layers.Add):
        adapted.append(_adapt(backbone, layer.name, layer, FiLMAdapter,
                              layer.output_shape[-1], layer.dtype_policy))
      continue
    if not (isinstance(layer, _CONVOLUTIONS) and max(layer.kernel_size) > 1):
      continue
    if adapter_type == 'parallel':
      adapted.append(_adapt(backbone, layer.name, layer, ParallelAdapter,
                            layer, kernel_regularizer))
      continue
    norm = _consumer(graph, layer, tf_keras.layers.BatchNormalization)
    if norm is None:
      raise ValueError(
          f'series adapter: the convolution {layer.name} of '
          f'{backbone.name} is not followed by a batch norm; use a parallel '
          'or film adapter.')
    adapted.append(_adapt(backbone, norm.name, norm, SeriesAdapter, layer,
                          norm, kernel_regularizer))
  return adapted


def attach(backbone: tf_keras.Model, adapter_type: str,
           kernel_regularizer=None) -> List[Adapter]:
  """Adds adapters of `adapter_type` to every block of a built backbone.

  Call before the backbone is traced (the detector calls it). Adapter
  kernels get `kernel_regularizer`; FiLM parameters and batch-norm scales
  get none, as in Model Garden.

  Returns:
    The adapters, in computation order.

  Raises:
    ValueError: unknown type, or a backbone without blocks.
  """
  if adapter_type not in ADAPTER_TYPES:
    raise ValueError(f'task.model.backbone_adapter.type={adapter_type!r}: '
                     f'expected one of {list(ADAPTER_TYPES)}.')
  if adapter_type == 'none':
    return []
  if hasattr(backbone, 'layer_stages'):
    added = _adapt_flat_graph(backbone, adapter_type, kernel_regularizer)
    object.__setattr__(backbone, '__class__',
                       _adapted_class(type(backbone), _AdaptedApplication))
    return added
  found = blocks(backbone)
  if not found:
    raise ValueError(
        f'task.model.backbone_adapter.type={adapter_type!r}: the backbone '
        f'{backbone.name} ({type(backbone).__name__}) has no residual block '
        'with a spatial convolution to adapt.')
  added = [adapter for block in found
           for adapter in _adapt_block(block, adapter_type,
                                       kernel_regularizer)]
  # Not tracked: a plain dict, no checkpoint dependency.
  object.__setattr__(backbone, '_backbone_adapter', {
      'type': adapter_type,
      'kernel_regularizer': tf_keras.regularizers.serialize(
          kernel_regularizer)})
  object.__setattr__(backbone, '__class__',
                     _adapted_class(type(backbone), _AdaptedBackbone))
  return added


def adapter_variables(root: tf_keras.layers.Layer) -> List[tf.Variable]:
  """Every variable of the adapters under `root` (none when unadapted)."""
  variables, seen = [], set()
  for layer in root._flatten_layers(include_self=True):  # pylint: disable=protected-access
    if isinstance(layer, Adapter):
      for v in layer.weights:
        if id(v) not in seen:
          seen.add(id(v))
          variables.append(v)
  return variables
