"""The one place that decides what of a detector trains and what stays frozen.

A frozen backbone must compute, during detection training, exactly the
function it computed at the end of pre-training, and must never change:

* its layers are made non-trainable, which in Keras 2 (`tf_keras`) also runs
  its batch normalisation in inference mode, so moving statistics never
  update;
* stochastic depth is switched off (it would randomly drop residual branches
  of a network that cannot adapt to it);
* it gets no L2 regulariser: the penalty of constant weights is a constant
  that inflates the logged loss and costs work every step.
"""
from typing import Optional

from absl import logging
import tf_keras

from official.modeling import hyperparams
from official.vision.configs import common
from official.vision.modeling import backbones


def backbone_norm_activation(model_config) -> common.NormActivation:
  """The normalisation/activation the backbone is built with."""
  return (getattr(model_config, 'backbone_norm_activation', None)
          or model_config.norm_activation)


def backbone_config_for(model_config, freeze: bool) -> hyperparams.Config:
  """The backbone config to build, with stochastic depth off when frozen."""
  backbone_config = model_config.backbone.replace()
  typed = backbone_config.get()
  if freeze and getattr(typed, 'stochastic_depth_drop_rate', 0.0):
    logging.info('Frozen backbone: stochastic_depth_drop_rate %s -> 0.0.',
                 typed.stochastic_depth_drop_rate)
    typed.stochastic_depth_drop_rate = 0.0
  return backbone_config


def build_backbone(model_config, input_specs: tf_keras.layers.InputSpec,
                   l2_regularizer: Optional[tf_keras.regularizers.Regularizer],
                   freeze: bool) -> tf_keras.Model:
  """Builds the backbone as the reuse policy wants it (see module doc)."""
  backbone = backbones.factory.build_backbone(
      input_specs=input_specs,
      backbone_config=backbone_config_for(model_config, freeze),
      norm_activation_config=backbone_norm_activation(model_config),
      l2_regularizer=None if freeze else l2_regularizer)
  if freeze:
    backbone.trainable = False
  return backbone
