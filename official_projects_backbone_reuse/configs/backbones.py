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

"""Backbone configs: Model Garden's backbones plus `keras_application`.

`task.model.backbone.type: keras_application` runs a `tf_keras.applications`
classifier (ResNet50, ResNet101V2, EfficientNetB3, EfficientNetV2S,
ConvNeXtTiny, MobileNetV2, ...) as the detector's backbone, with the ImageNet
weights a Keras user already has:

```yaml
task:
  init_checkpoint: null        # the weights file is the restore
  model:
    backbone:
      type: keras_application
      keras_application:
        model_name: EfficientNetB3
        weights: /models/efficientnetb3_notop.h5
```

See `modeling/keras_application_backbone.py` for what is built.
"""
import dataclasses
from typing import Dict, Optional

from official.modeling import hyperparams
from official.vision.configs import backbones


@dataclasses.dataclass
class KerasApplication(hyperparams.Config):
  """A `tf_keras.applications` classifier as a detection backbone.

  The application is built with `include_top=False` and its Keras defaults
  (its own batch norm, activations and input preprocessing); the detector's
  `norm_activation` / `backbone_norm_activation` do not apply to it. It
  reads images normalised by Model Garden's parsers and feeds it the pixels
  its `preprocess_input` expects, so it computes what it computed in
  pre-training.

  Attributes:
    model_name: the function name in `tf_keras.applications`, e.g.
      'ResNet50', 'ResNet152V2', 'EfficientNetB7', 'EfficientNetV2M',
      'ConvNeXtBase', 'MobileNetV2', 'RegNetY032', 'ResNetRS101'.
    weights: '' for Keras's random initialisation; a local `.h5` (Keras's
      released weights files, `model.save_weights('x.h5')`,
      `model.save('x.h5')`) or `.keras` (`model.save('x.keras')`) file of
      that application, with or without its classification top; or
      'imagenet', which Keras reads from its cache (~/.keras/models, or
      $KERAS_HOME/models) and downloads when missing there. Every weight of
      the backbone must come from the file; a mismatch names the file and
      the layers. A detector checkpoint holds every backbone weight: to
      export or evaluate one without the file, set weights ''.
    endpoint_layers: {level: layer name} for the levels whose feature map
      is not the one derived by default (the last layer at stride
      2**level that every path of the network passes through), e.g.
      {'2': 'block2b_add'}. Levels 2-5 are output.
    stochastic_depth_drop_rate: Keras's `drop_connect_rate` of EfficientNet
      and EfficientNetV2 (block b of B drops its residual branch with rate
      * b / B during training). Keras builds them with 0.2; 0.0, as in
      Model Garden's backbones, switches it off, and a frozen backbone
      always runs without.
  """
  model_name: str = 'ResNet50'
  weights: str = ''
  endpoint_layers: Optional[Dict[str, str]] = None
  stochastic_depth_drop_rate: float = 0.0


@dataclasses.dataclass
class EfficientNet(backbones.EfficientNet):
  """Model Garden's EfficientNet config with its SE activation.

  The activation inside its squeeze-excitation is one that Model Garden's
  builder takes but its config does not carry. Model Garden's default is
  'relu'; the tensorflow/tpu EfficientNet checkpoints were trained with
  'swish' (and se_ratio 0.25)."""
  se_inner_activation: str = 'relu'


@dataclasses.dataclass
class ReuseBackbone(backbones.Backbone):
  """The backbone configs this project can build.

  Model Garden's backbones plus `keras_application`; EfficientNet with its
  squeeze-excitation activation."""
  efficientnet: EfficientNet = dataclasses.field(default_factory=EfficientNet)
  keras_application: KerasApplication = dataclasses.field(
      default_factory=KerasApplication)


def default_backbone() -> ReuseBackbone:
  """Model Garden's default detection backbone (a ResNet)."""
  return ReuseBackbone(type='resnet', resnet=backbones.ResNet())
