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

"""Keras applications as backbones: endpoints, inputs, weights, frozen runs.

Weight files are written here: an application with random weights moved
away from their initial values (batch-norm statistics included), saved the
way Keras users save them.
"""
import os
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras
from tf_keras.src.utils import data_utils

from official.core import task_factory
from official.core import train_lib
from official.modeling import hyperparams
from official.vision.modeling import backbones
from official.vision.ops import preprocess_ops

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse import inspect_checkpoint
from official_projects_backbone_reuse.common.errors import CheckpointError
from official_projects_backbone_reuse.configs import backbones as backbone_cfg
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.modeling import adapters
from official_projects_backbone_reuse.checkpoints import keras_weights
from official_projects_backbone_reuse.modeling import (
    keras_application_backbone as kab)
from tests import reuse_helpers as h
from tests import runtime_helpers as rh

SIZE = 64
KERAS_YAML = os.path.join(h.SMALL, 'retinanet_keras_resnet50_frozen.yaml')


def _perturbed(model_name, include_top=False):
  """A Keras application whose weights are not Keras's initial ones."""
  app = getattr(tf_keras.applications, model_name)(
      include_top=include_top, weights=None, input_shape=(SIZE, SIZE, 3))
  rng = np.random.default_rng(0)
  for layer in app.layers:
    if isinstance(layer, tf_keras.layers.Normalization):
      continue
    # set_weights, as Keras's loaders do.
    layer.set_weights([
        (np.abs(w + noise) if 'variance' in v.name else w + noise).astype(
            w.dtype)
        for v, w in zip(layer.weights, layer.get_weights())
        for noise in [rng.normal(0, .05, w.shape)]])
  return app


def _backbone(model_name, weights='', **options):
  config = backbone_cfg.ReuseBackbone(
      type='keras_application',
      keras_application=backbone_cfg.KerasApplication(
          model_name=model_name, weights=weights, **options))
  return backbones.factory.build_backbone(
      input_specs=tf_keras.layers.InputSpec(shape=[None, SIZE, SIZE, 3]),
      backbone_config=config, norm_activation_config=None)


def _images():
  pixels = tf.random.stateless_uniform([2, SIZE, SIZE, 3], seed=[3, 0],
                                      maxval=255.0)  # the same every call
  # What Model Garden's parsers feed a detector.
  normalised = ((pixels - preprocess_ops.MEAN_RGB)
                / preprocess_ops.STDDEV_RGB)
  return pixels, normalised


def _keras_features(app, model_name, pixels):
  """The application's features at our endpoints, with its own input
  preprocessing on raw pixels."""
  module = sys.modules[getattr(tf_keras.applications, model_name).__module__]
  endpoints = kab.derive_endpoints(app, SIZE, SIZE)
  features = tf_keras.Model(app.inputs, {
      level: app.get_layer(name).output for level, name in endpoints.items()})
  return features(module.preprocess_input(pixels.numpy()))


def _assert_features_equal(got, expected):
  assert set(got) == set(expected) == {'2', '3', '4', '5'}
  for level in expected:
    want = expected[level].numpy()
    np.testing.assert_allclose(got[level].numpy(), want, rtol=1e-4,
                               atol=1e-5 * np.abs(want).max())


@pytest.fixture(scope='module')
def resnet50(tmp_path_factory):
  """A ResNet50 with its classification top, saved as .h5 and .keras."""
  directory = tmp_path_factory.mktemp('resnet50')
  app = _perturbed('ResNet50', include_top=True)
  files = {'h5': str(directory / 'resnet50.h5'),
           'keras': str(directory / 'resnet50.keras')}
  app.save_weights(files['h5'])
  app.save(files['keras'])
  return app, files


@pytest.mark.parametrize('model_name, channels, level_2', [
    ('ResNet50', (256, 512, 1024, 2048), 'conv2_block3_out'),
    ('EfficientNetB0', (144, 240, 672, 1280), 'block3a_expand_activation'),
    ('MobileNetV2', (144, 192, 576, 1280), 'block_3_expand_relu'),
])
def test_endpoints_strides_and_channels(model_name, channels, level_2):
  backbone = _backbone(model_name)
  assert {level: spec.as_list() for level, spec in
          backbone.output_specs.items()} == {
              str(level): [None, SIZE // 2**level, SIZE // 2**level, c]
              for level, c in zip((2, 3, 4, 5), channels)}
  features = backbone.layers[-1]  # the application's layers
  assert features.output['2'] is features.get_layer(level_2).output


def test_endpoint_layers_override_is_checked():
  backbone = _backbone('EfficientNetB0',
                       endpoint_layers={'2': 'block2b_add'})
  assert backbone.output_specs['2'].as_list() == [None, 16, 16, 24]
  with pytest.raises(ValueError, match=r"layer 'block4a_expand_activation' "
                                       r'outputs .*level 2 needs stride 4'):
    kab.endpoint_layers(backbone.layers[-1], 'EfficientNetB0', SIZE, SIZE,
                        {'2': 'block4a_expand_activation'})


@pytest.mark.parametrize('file_format', ['h5', 'keras'])
def test_weights_file_round_trip(resnet50, file_format):
  app, files = resnet50
  backbone = _backbone('ResNet50', files[file_format])
  pixels, normalised = _images()
  # Frozen-style call: training=True must not change what it computes.
  backbone.trainable = False
  _assert_features_equal(backbone(normalised, training=True),
                         _keras_features(app, 'ResNet50', pixels))


def test_weights_of_another_architecture_are_named(resnet50, tmp_path):
  _, files = resnet50
  with pytest.raises(CheckpointError) as e:
    _backbone('MobileNetV2', files['h5'])
  message = str(e.value)
  assert files['h5'] in message and 'MobileNetV2' in message
  assert 'missing: Conv1 (1 weights)' in message
  with pytest.raises(CheckpointError, match='no such file'):
    _backbone('ResNet50', str(tmp_path / 'none.h5'))


@pytest.mark.slow
def test_efficientnet_with_keras_imagenet_weights(tmp_path, monkeypatch):
  """Keras's released EfficientNet B0-B7 weights hold the ImageNet standard
  deviation as the variance of the input normalisation, and Keras builds
  another graph for weights='imagenet'; the backbone computes the same from
  a local copy, from 'imagenet', and from a detector checkpoint alone."""
  app = _perturbed('EfficientNetB0')
  norm = [l for l in app.layers
          if isinstance(l, tf_keras.layers.Normalization)][0]
  norm.set_weights([np.float32(preprocess_ops.MEAN_RGB) / 255,
                    np.float32((.229, .224, .225)), norm.get_weights()[2]])
  path = str(tmp_path / 'efficientnetb0_notop.h5')
  app.save_weights(path)
  # Keras's weights='imagenet', reading our file instead of downloading.
  monkeypatch.setattr(data_utils, 'get_file', lambda *a, **k: path)
  keras_imagenet = tf_keras.applications.EfficientNetB0(
      include_top=False, weights='imagenet', input_shape=(SIZE, SIZE, 3))
  pixels, normalised = _images()
  expected = _keras_features(keras_imagenet, 'EfficientNetB0', pixels)
  from_file = _backbone('EfficientNetB0', path)
  _assert_features_equal(from_file(normalised), expected)
  _assert_features_equal(_backbone('EfficientNetB0', 'imagenet')(normalised),
                         expected)
  restored = _backbone('EfficientNetB0')  # then restored, as by an export
  restored.set_weights(from_file.get_weights())
  _assert_features_equal(restored(normalised), expected)


def test_imagenet_offline_says_what_to_do(monkeypatch):
  def offline(*args, **kwargs):
    del args, kwargs
    # What Keras's get_file raises without a network.
    raise Exception(  # pylint: disable=broad-exception-raised
        'URL fetch failure on https://...: Name or service not known')
  monkeypatch.setattr(data_utils, 'get_file', offline)
  with pytest.raises(CheckpointError,
                     match=r'weights=imagenet: .*~/\.keras/models.*local'):
    _backbone('MobileNetV2', 'imagenet')


def _keras_config(params, model_name, weights=''):
  """`params` with the Keras backbone of the small experiment overlay."""
  params = hyperparams.override_params_dict(params, KERAS_YAML,
                                            is_strict=True)
  params.task.model.backbone.keras_application.model_name = model_name
  params.task.model.backbone.keras_application.weights = weights
  return params


@pytest.mark.slow
def test_inspect_checks_a_keras_backbones_weights(resnet50, tmp_path):
  app, files = resnet50
  config = rh.write_config(_keras_config(h.retinanet_config(), 'ResNet50'),
                           tmp_path / 'keras.yaml')
  top = len(app.get_layer('predictions').weights)
  assert inspect_checkpoint.check_restore(
      files['h5'], 'backbone_reuse_retinanet', [config], '') == [
          f'Loaded {len(app.weights) - top} backbone variables of '
          f'tf_keras.applications.ResNet50 from {files["h5"]}, layer by '
          'layer; 0 new by design.']
  resnet = rh.write_config(h.retinanet_config(), tmp_path / 'resnet.yaml')
  with pytest.raises(CheckpointError, match=(
      f"{files['h5']} is a Keras weights file, which a backbone of type "
      "keras_application loads .*; this config's backbone is 'resnet'")):
    inspect_checkpoint.check_restore(files['h5'], 'backbone_reuse_retinanet',
                                     [resnet], '')


@pytest.mark.slow
def test_frozen_run_keeps_every_backbone_weight(resnet50, tiny_world,
                                                tmp_path):
  _, files = resnet50
  params = _keras_config(h.set_data(h.retinanet_config(),
                                    tiny_world.det_train_pattern, steps=3),
                         'ResNet50', files['h5'])
  params.trainer.steps_per_loop = params.trainer.summary_interval = 1
  task = task_factory.get_task(params.task, logging_dir=str(tmp_path))
  initial = {}
  build_model = task.build_model

  def build_and_remember():
    model = build_model()
    initial.update({id(v): v.numpy() for v in model.trainable_variables})
    return model

  task.build_model = build_and_remember
  model, _ = train_lib.run_experiment(
      distribution_strategy=tf.distribute.get_strategy(), task=task,
      mode='train', params=params, model_dir=str(tmp_path))
  # Every backbone weight, batch-norm moving statistics included, is the
  # file's, bit for bit.
  stored = keras_weights.read_weights_file(files['h5'], 'ResNet50')
  pairs = keras_weights.match_weights(model.backbone, stored, files['h5'],
                                      'ResNet50')
  assert sum(len(w) for _, w in pairs) == len(model.backbone.weights)
  for layer, values in pairs:
    for variable, value in zip(layer.weights, values):
      np.testing.assert_array_equal(variable.numpy(), value, variable.name)
  backbone_ids = {id(v) for v in model.backbone.weights}
  assert not backbone_ids & {id(v) for v in model.trainable_variables}
  changed = {id(v) for v in model.trainable_variables
             if not np.array_equal(v.numpy(), initial[id(v)])}
  for part in (model.decoder, model.head):
    assert changed & {id(v) for v in part.trainable_variables}, part.name
  assert len(_losses(tmp_path / 'train')) == 3


def _losses(directory):
  """The total loss of each training step, from the trainer's summaries."""
  return [float(tf.make_ndarray(value.tensor))
          for path in tf.io.gfile.glob(str(directory / 'events.*'))
          for event in tf.compat.v1.train.summary_iterator(path)
          for value in event.summary.value if value.tag == 'total_loss']


@pytest.mark.slow
@pytest.mark.parametrize('detector', ['retinanet_nasfpn', 'faster_rcnn'])
def test_detectors_build_on_a_keras_backbone(detector):
  if detector == 'retinanet_nasfpn':
    params = _keras_config(h.retinanet_config(input_size=SIZE * 2),
                           'MobileNetV2')
    params.override({'task': {'model': {'decoder': {
        'type': 'nasfpn', 'nasfpn': {'num_filters': 32, 'num_repeats': 1}}}}})
  else:
    params = _keras_config(h.maskrcnn_config(input_size=SIZE),
                           'MobileNetV2')
    params.task.model.include_mask = False
  model = task_factory.get_task(params.task).build_model()
  assert sorted(model.decoder.output_specs) == [
      str(level) for level in range(3, 8 if 'retinanet' in detector else 6)]
  assert not {id(v) for v in model.backbone.weights} & {
      id(v) for v in model.trainable_variables}


@pytest.mark.slow
def test_stochastic_depth_and_l2_follow_the_reuse_policy():
  params = _keras_config(h.retinanet_config(input_size=SIZE),
                         'EfficientNetB0')
  params.task.model.backbone.keras_application.stochastic_depth_drop_rate = .2
  params.task.losses.l2_weight_decay = 1e-4

  def drop_rates(model):
    return [l.rate for l in model.backbone.layers[-1].layers
            if isinstance(l, tf_keras.layers.Dropout)]

  frozen = task_factory.get_task(params.task).build_model()
  assert drop_rates(frozen) and not any(drop_rates(frozen))
  assert frozen.backbone.losses == []
  params.task.freeze_backbone = False
  trained = task_factory.get_task(params.task).build_model()
  assert max(drop_rates(trained)) == pytest.approx(.2)
  assert trained.backbone.losses


def _keras_model_config(model_name):
  return _keras_config(h.retinanet_config(input_size=SIZE),
                       model_name).task.model


@pytest.mark.parametrize('freeze_at', [1, 3])
def test_freeze_at_cuts_a_keras_application_at_its_endpoints(freeze_at):
  backbone = h.build_backbone(_keras_model_config('ResNet50'),
                              input_size=SIZE, freeze_at=freeze_at)
  trained = {id(v) for v in backbone.trainable_variables}
  trains = {layer.name: bool({id(v) for v in layer.weights} & trained)
            for layer in backbone.layers[-1].layers if layer.weights}
  # Keras's ResNet50: the stem is conv1, stage L is conv<L>_*.
  expected = {name: int(name[4]) > freeze_at for name in trains}
  assert trains == expected
  assert trains['conv1_conv'] is False and trains['conv5_block3_3_conv']
  frozen_bn = backbone.layers[-1].get_layer('conv1_bn')
  assert not frozen_bn.trainable  # inference mode: statistics fixed


def test_adapters_and_freeze_at_together_on_a_keras_application():
  # The adapters, children of the backbone, come after the application's
  # graph among its layers; the stages are still found in that graph.
  backbone = h.build_backbone(_keras_model_config('ResNet50'),
                              input_size=SIZE, freeze_at=3, adapter='film')
  graph = backbone.application_graph()
  trained = {id(v) for v in backbone.trainable_variables}
  assert not {id(v) for v in graph.get_layer('conv3_block1_1_conv').weights
             } & trained
  assert {id(v) for v in graph.get_layer('conv4_block1_1_conv').weights
         } <= trained
  assert set(map(id, adapters.adapter_variables(backbone))) <= trained


@pytest.fixture(scope='module')
def plain_backbone(tmp_path_factory):
  """model name -> the plain frozen backbone's checkpoint prefix, weight
  count and outputs on `_images()`; each made once for its three adapters."""
  made = {}

  def get(model_name):
    if model_name not in made:
      plain = h.build_backbone(_keras_model_config(model_name),
                               input_size=SIZE, freeze_backbone=True)
      prefix = tf.train.Checkpoint(backbone=plain).save(
          str(tmp_path_factory.mktemp(model_name) / 'ckpt'))
      made[model_name] = (prefix, len(plain.weights),
                          plain(_images()[1], training=False))
    return made[model_name]
  return get


@pytest.mark.slow
@pytest.mark.parametrize('adapter', ['parallel', 'series', 'film'])
@pytest.mark.parametrize('model_name', ['ResNet50', 'EfficientNetB0'])
def test_adapters_on_a_keras_application(model_name, adapter, plain_backbone):
  """Adapters beyond the stem, zero/identity-initialised: the adapted
  backbone computes the plain one's function, and only adapters train."""
  prefix, plain_weights, expected = plain_backbone(model_name)
  adapted = h.build_backbone(_keras_model_config(model_name), input_size=SIZE,
                             freeze_backbone=True, adapter=adapter)
  new = adapters.adapter_variables(adapted)
  assert new and {id(v) for v in adapted.trainable_variables} == {
      id(v) for v in new if v.trainable}
  report = restore.restore_backbone(adapted, prefix, new_by_design=new)
  assert len(report.restored) == plain_weights
  _, normalised = _images()
  got = adapted(normalised, training=True)
  for level in expected:
    np.testing.assert_allclose(got[level], expected[level], rtol=1e-5,
                               atol=1e-5)
  # A step moves the adapters and nothing else.
  before = [v.numpy() for v in new]
  with tf.GradientTape() as tape:
    loss = tf.add_n([tf.reduce_mean(tf.square(f))
                     for f in adapted(normalised, training=True).values()])
  trainable = adapted.trainable_variables
  tf_keras.optimizers.SGD(0.1).apply_gradients(
      zip(tape.gradient(loss, trainable), trainable))
  assert restore.backbone_differences(adapted, prefix, new) == []
  assert any(not np.array_equal(v.numpy(), b) for v, b in zip(new, before))


def test_series_adapter_needs_a_batch_norm():
  with pytest.raises(ValueError, match=r'series adapter: the convolution '
                                       r'convnext_tiny_stage_0_block_0_'
                                       r'depthwise_conv .*not followed by a '
                                       r'batch norm'):
    h.build_backbone(_keras_model_config('ConvNeXtTiny'), input_size=SIZE,
                     freeze_backbone=True, adapter='series')


def test_keras_weights_and_init_checkpoint_are_not_both_given():
  params = _keras_config(h.retinanet_config(input_size=SIZE), 'ResNet50',
                         '/data/resnet50.h5')
  params.task.init_checkpoint = '/data/classifier/ckpt-1'
  with pytest.raises(ConfigError,
                     match=r'task\.init_checkpoint and task\.model\.backbone'
                           r'\.keras_application\.weights both give'):
    validation.check_reuse(params.task)
