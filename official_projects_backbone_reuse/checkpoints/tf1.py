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

"""TF1 name-based classification checkpoints onto Model Garden's backbones.

The tensorflow/tpu EfficientNet checkpoints (the ones the paper's
EfficientNet-B7 experiments start from) were written by TF1's
`tf.train.Saver`: variables by name, no object graph. The names follow
`models/official/efficientnet/efficientnet_model.py`, under the model's
scope (`efficientnet-b7/`):

  stem/conv2d/kernel, stem/tpu_batch_normalization/{gamma,beta,
      moving_mean,moving_variance}
  blocks_N/conv2d/kernel             1x1 expansion (blocks whose expand
                                     ratio is not 1)
  blocks_N/tpu_batch_normalization   after it
  blocks_N/depthwise_conv2d/depthwise_kernel
  blocks_N/tpu_batch_normalization_1 after it
  blocks_N/se/conv2d/{kernel,bias}   squeeze-excitation: reduce
  blocks_N/se/conv2d_1/{kernel,bias}                     expand
  blocks_N/conv2d_1/kernel           1x1 projection
  blocks_N/tpu_batch_normalization_2 after it

(a block without expansion numbers from its depthwise convolution:
depthwise_conv2d, tpu_batch_normalization, se/..., conv2d,
tpu_batch_normalization_1)
  head/conv2d/kernel, head/tpu_batch_normalization/...   the 1x1 head
  head/dense/{kernel,bias}           the classifier: not a backbone part

(`batch_normalization` instead of `tpu_batch_normalization` where the
model was built with Keras's own batch norm.) Training kept an exponential
moving average of every weight and batch-norm statistic, saved as
`NAME/ExponentialMovingAverage`; the reference evaluates and exports with
those, and so does this restore when the checkpoint has them.

Model Garden's EfficientNet has the same layers in the same order: block N
is its N-th `InvertedBottleneckBlock`. It computes what the reference
computes when built as the reference was trained (`TRAINED_WITH`): swish
also inside squeeze-excitation, se_ratio 0.25, batch-norm epsilon 1e-3;
the reference normalises input pixels with ImageNet's mean and standard
deviation, as Model Garden's parsers do.
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple

import tf_keras

from official.vision.modeling.backbones import efficientnet
from official.vision.modeling.layers import nn_blocks

EMA_SUFFIX = '/ExponentialMovingAverage'
# The architecture a TF1 checkpoint's names say: the scope of its weights.
FAMILY = re.compile(r'^(efficientnet-[a-z0-9]+|resnet[_-]?rs[_-]?\d*|'
                    r'resnet\d+|resnet_model)(/|$)', re.IGNORECASE)
# How the reference's EfficientNets were trained, in this project's keys
# (`backbone.efficientnet.*`, `norm_activation.*`).
TRAINED_WITH = {
    'backbone.efficientnet.se_ratio': 0.25,
    'backbone.efficientnet.se_inner_activation': 'swish',
    'norm_activation.activation': 'swish',
    'norm_activation.norm_epsilon': 0.001,
}


def families(names: Sequence[str]) -> List[str]:
  """The model scopes of TF1 names (`['efficientnet-b7']`), sorted."""
  return sorted({m.group(1) for m in map(FAMILY.match, names) if m})


_BN = '{bn}'  # the checkpoint's batch-norm name, filled in per checkpoint


def _block_layers(block) -> List[Tuple[object, str]]:
  """Names the layers of a block as the TF1 reference does.

  (layer, reference name) of an `InvertedBottleneckBlock`: the layer
  names of the reference's MBConvBlock, numbered as Keras numbered them
  within the block's scope in creation order."""
  if block.get_config()['expand_ratio'] != 1:
    layers = [(block._conv0, 'conv2d'), (block._norm0, _BN),  # pylint: disable=protected-access
              (block._conv1, 'depthwise_conv2d'), (block._norm1, _BN + '_1'),  # pylint: disable=protected-access
              (block._conv2, 'conv2d_1'), (block._norm2, _BN + '_2')]  # pylint: disable=protected-access
  else:
    layers = [(block._conv1, 'depthwise_conv2d'), (block._norm1, _BN),  # pylint: disable=protected-access
              (block._conv2, 'conv2d'), (block._norm2, _BN + '_1')]  # pylint: disable=protected-access
  se = block._squeeze_excitation  # pylint: disable=protected-access
  if se is not None:
    layers += [(se._se_reduce, 'se/conv2d'), (se._se_expand, 'se/conv2d_1')]  # pylint: disable=protected-access
  return layers


def _efficientnet_layers(backbone) -> List[Tuple[object, str]]:
  """Names EfficientNet's layers as the TF1 reference does.

  (layer, reference name without the model scope) of every layer with
  weights of Model Garden's EfficientNet."""
  convs = [l for l in backbone.layers
           if isinstance(l, tf_keras.layers.Conv2D)]
  norms = [l for l in backbone.layers
           if isinstance(l, tf_keras.layers.BatchNormalization)]
  blocks = [l for l in backbone.layers
            if isinstance(l, nn_blocks.InvertedBottleneckBlock)]
  (stem_conv, head_conv), (stem_norm, head_norm) = convs, norms
  layers = [(stem_conv, 'stem/conv2d'), (stem_norm, f'stem/{_BN}')]
  for n, block in enumerate(blocks):
    layers += [(layer, f'blocks_{n}/{name}')
               for layer, name in _block_layers(block)]
  return layers + [(head_conv, 'head/conv2d'), (head_norm, f'head/{_BN}')]


def _weight_name(variable) -> str:
  """`gamma` of `.../batch_normalization_3/gamma:0`."""
  return variable.name.rpartition('/')[2].partition(':')[0]


def backbone_keys(backbone, names: Sequence[str]
                  ) -> Tuple[Dict[int, str], Optional[str]]:
  """Maps backbone variables to the keys of a TF1 checkpoint.

  The checkpoint key of each backbone variable (by id) that a TF1
  checkpoint with `names` holds, preferring the moving-average shadows;
  and a line on what was found; ({}, None) when there is no mapping of
  these names onto this backbone (only EfficientNet's, so far)."""
  scopes = [f for f in families(names) if f.startswith('efficientnet-')]
  if not isinstance(backbone, efficientnet.EfficientNet) or len(scopes) != 1:
    return {}, None
  scope, = scopes
  present = set(names)
  bn = ('tpu_batch_normalization'
        if f'{scope}/stem/tpu_batch_normalization/gamma' in present
        else 'batch_normalization')
  keys, shadows = {}, 0
  for layer, name in _efficientnet_layers(backbone):
    for variable in layer.weights:
      key = f'{scope}/{name.replace(_BN, bn)}/{_weight_name(variable)}'
      if key + EMA_SUFFIX in present:
        key += EMA_SUFFIX
        shadows += 1
      if key in present:
        keys[id(variable)] = key
  found = (f'TF1 names of {scope} (tensorflow/tpu EfficientNet), '
           f'{shadows} of {len(keys)} from their ExponentialMovingAverage')
  return keys, found
