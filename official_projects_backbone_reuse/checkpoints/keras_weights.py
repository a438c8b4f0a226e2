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

"""Reads the weights of a Keras application classifier.

Reading the weights of a `tf_keras.applications` classifier, and matching
them to the backbone's layers (`keras_application_backbone`).

A `.h5` / `.keras` file, or 'imagenet' (the model Keras builds with
weights='imagenet'), is loaded layer by layer, by name (layers Keras names automatically, e.g. `normalization_3`,
match without their `_N` suffix); every weight of the application must come
from it. The application is always Keras's weights=None graph, so what the
backbone computes depends on its variables only, and a detector checkpoint
restores it without the weights file (export, evaluation). For that one
graph, Keras's ImageNet weights of EfficientNet B0-B7, which hold the
ImageNet standard deviation where the input normalisation's variance belongs
(Keras's weights='imagenet' graph divides by its square root once more,
tensorflow#49930), are loaded with that variance squared: the same function.
"""
import itertools
import json
import os
import re
import sys
import tempfile
from typing import Dict, List, Mapping, Tuple
import zipfile

from absl import logging
import h5py
import numpy as np
import tensorflow as tf
import tf_keras

from official_projects_backbone_reuse.common.errors import CheckpointError

_KEY = 'task.model.backbone.keras_application'


def application(model_name: str):
  """The `tf_keras.applications` function and the module defining it."""
  fn = getattr(tf_keras.applications, model_name, None)
  if not model_name[:1].isupper() or not callable(fn):
    names = sorted(n for n in dir(tf_keras.applications) if n[:1].isupper())
    raise ValueError(f'{_KEY}.model_name={model_name!r} is not a model of '
                     f'tf_keras.applications: {", ".join(names)}.')
  return fn, sys.modules[fn.__module__]


def leaf_layers(model: tf_keras.Model) -> List[tf_keras.layers.Layer]:
  leaves = []
  for layer in model.layers:
    leaves += (leaf_layers(layer) if isinstance(layer, tf_keras.Model)
               else [layer])
  return leaves


def _h5_strings(group, name: str) -> List[str]:
  """A string-list attribute; Keras splits long ones into name0, name1..."""
  keys = [name] if name in group.attrs else list(itertools.takewhile(
      lambda k: k in group.attrs, (f'{name}{i}' for i in itertools.count())))
  return [n.decode('utf8') if isinstance(n, bytes) else str(n)
          for k in keys for n in group.attrs[k]]


def _load_keras_file(path: str, module) -> tf_keras.Model:
  """The model of a `.keras` file (`model.save('x.keras')`).

  What `tf_keras.models.load_model` does, but reading the weights from an
  extracted `model.weights.h5`: read inside the zip archive, every seek
  rereads the archive member (ResNet50: 16 s instead of 5 s).
  """
  custom = {k: v for k, v in vars(module).items()
            if isinstance(v, type) and issubclass(v, tf_keras.layers.Layer)}
  with tempfile.TemporaryDirectory() as tmp:
    with tf.io.gfile.GFile(path, 'rb') as f, zipfile.ZipFile(f) as archive:
      config = json.loads(archive.read('config.json'))
      archive.extract('model.weights.h5', tmp)
    model = tf_keras.saving.deserialize_keras_object(
        config, custom_objects=custom)
    model.load_weights(os.path.join(tmp, 'model.weights.h5'))
  return model


def _layer_weights(model: tf_keras.Model) -> Dict[str, List[np.ndarray]]:
  return {layer.name: layer.get_weights() for layer in leaf_layers(model)
          if layer.weights}


def read_weights(weights: str, model_name: str,
                 input_shape: Tuple[int, int, int]
                 ) -> Dict[str, List[np.ndarray]]:
  """Reads the weights of a Keras application, by layer name.

  {layer name: its weights in Keras order} of `weights`: 'imagenet' or
  a Keras file."""
  if weights != 'imagenet':
    return read_weights_file(weights, model_name)
  try:
    return _layer_weights(application(model_name)[0](
        include_top=False, weights='imagenet', input_shape=input_shape))
  except Exception as e:  # Keras raises a bare Exception when offline.
    raise CheckpointError(
        f'{_KEY}.weights=imagenet: Keras could not get the ImageNet weights '
        f'of {model_name} ({e}). Without internet, put Keras\'s file in '
        '~/.keras/models (or $KERAS_HOME/models), or set weights to a local '
        '.h5/.keras file.') from e


def read_weights_file(path: str, model_name: str
                      ) -> Dict[str, List[np.ndarray]]:
  """{layer name: its weights in Keras order} stored in a Keras file."""
  if not tf.io.gfile.exists(path):
    raise CheckpointError(f'{_KEY}.weights={path!r}: no such file.')
  if path.endswith('.keras'):
    return _layer_weights(_load_keras_file(path, application(model_name)[1]))
  if not path.endswith('.h5'):
    raise CheckpointError(f'{_KEY}.weights={path!r}: expected a .h5 or '
                          '.keras file, or "imagenet".')
  weights = {}
  with tf.io.gfile.GFile(path, 'rb') as f, h5py.File(f, 'r') as h5:
    group = h5['model_weights'] if 'model_weights' in h5 else h5
    layer_names = _h5_strings(group, 'layer_names')
    if not layer_names:
      raise CheckpointError(
          f'{path} names no layers (a `.weights.h5` file?). Save the '
          "application with model.save('x.keras') or "
          "model.save_weights('x.h5').")
    for group_name in layer_names:
      for weight_name in _h5_strings(group[group_name], 'weight_names'):
        # A nested model's group holds its layers' weights: 'layer/w:0'.
        layer = (weight_name.split('/')[-2] if '/' in weight_name
                 else group_name)
        weights.setdefault(layer, []).append(
            np.asarray(group[group_name][weight_name]))
  return weights


def _without_counter(name: str) -> str:
  return re.sub(r'_\d+$', '', name)


def _variance_for_plain_graph(layer, weights: List[np.ndarray], module
                              ) -> List[np.ndarray]:
  """Adapts Keras's ImageNet EfficientNet weights to the plain graph.

  Weights of Keras's ImageNet EfficientNet B0-B7 for the weights=None
  graph (module doc); any other weights unchanged."""
  stddev = getattr(module, 'IMAGENET_STDDEV_RGB', None)
  if (stddev is None or not isinstance(layer, tf_keras.layers.Normalization)
      or not np.allclose(weights[1], stddev)):
    return weights
  logging.info('%s holds the ImageNet standard deviation as its variance '
               "(Keras's ImageNet weights): loaded squared.", layer.name)
  mean, variance, count = weights
  return [mean, np.square(variance), count]


def match_weights(model: tf_keras.Model,
                  stored: Mapping[str, List[np.ndarray]], source: str,
                  model_name: str
                  ) -> List[Tuple[tf_keras.layers.Layer, List[np.ndarray]]]:
  """Pairs the model's layers with their stored weights.

  Pairs every layer of `model` that has weights with what it loads from
  `stored` (see module doc), or fails naming `source` and the layers."""
  module = application(model_name)[1]
  layers = [layer for layer in leaf_layers(model) if layer.weights]
  spare = set(stored) - {layer.name for layer in layers}
  pairs, missing, mismatched = [], [], []
  for layer in layers:
    name = layer.name if layer.name in stored else None
    candidates = [n for n in spare
                  if _without_counter(n) == _without_counter(layer.name)]
    if name is None and len(candidates) == 1:
      name = candidates[0]
      spare.remove(name)
    if name is None:
      missing.append(f'{layer.name} ({len(layer.weights)} weights)')
      continue
    want = [tuple(w.shape) for w in layer.weights]
    have = [tuple(a.shape) for a in stored[name]]
    if want != have:
      mismatched.append(f'{layer.name}: file {have}, model {want}')
    else:
      pairs.append((layer, _variance_for_plain_graph(layer, stored[name],
                                                     module)))
  if missing or mismatched:
    lines = [f'Keras weights {source} do not match '
             f'tf_keras.applications.{model_name}: {len(pairs)} layers '
             f'match, {len(missing)} are missing there, '
             f'{len(mismatched)} have other shapes.']
    lines += [f'  missing: {m}' for m in missing]
    lines += [f'  shape mismatch: {m}' for m in mismatched]
    lines.append(f'Check {_KEY}.model_name: the file must hold the weights '
                 'of that application (with or without its top).')
    raise CheckpointError('\n'.join(lines))
  if spare:
    logging.info('%s: %d layers not used by the backbone (its top?): %s',
                 source, len(spare), sorted(spare)[:10])
  return pairs
