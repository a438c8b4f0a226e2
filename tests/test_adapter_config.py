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

"""Adapted backbones through their config: `from_config` and `clone_model`
rebuild the adapters of a Model Garden backbone, and refuse, saying why, to
rebuild those of a Keras application (see `modeling/adapters.py`)."""
import json
import re

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official_projects_backbone_reuse.modeling import adapters
from tests import reuse_helpers as h
from tests.test_adapters import _backbone_config

TYPES = ('parallel', 'series', 'film')


def _keras_application_config(model_name):
  """A detector model config with a Keras application backbone."""
  return h.retinanet_config(input_size=64).task.model.replace(backbone={
      'type': 'keras_application',
      'keras_application': {'model_name': model_name, 'weights': ''}})


def _rebuilt(backbone, how):
  if how == 'clone_model':
    return tf_keras.models.clone_model(backbone)
  # Through JSON and Keras's registry, as a saved config would be.
  config = json.loads(json.dumps(
      tf_keras.saving.serialize_keras_object(backbone)))
  return tf_keras.saving.deserialize_keras_object(config)


def _names(model):
  """Variable names without Keras's uniquifying `_N` suffixes."""
  return [re.sub(r'_\d+(?=/)', '', v.name) for v in model.weights]


@pytest.mark.parametrize('backbone,adapter', [
    *(('resnet10', a) for a in TYPES), ('efficientnet_b0', 'parallel')])
def test_an_adapted_backbone_is_rebuilt_with_its_adapters(backbone, adapter,
                                                          tmp_path):
  # Not frozen: trainable flags are no part of a config, and Keras lists
  # trainable weights first, so only then do both list them in one order.
  adapted = h.build_backbone(_backbone_config(backbone), adapter=adapter,
                             l2_weight_decay=1e-4)
  new = adapters.adapter_variables(adapted)
  for v in new:  # adapters that change the outputs
    v.assign_add(tf.random.uniform(v.shape, 0.05, 0.1, seed=1))
  path = tf.train.Checkpoint(backbone=adapted).write(str(tmp_path / 'ckpt'))
  images = tf.random.uniform([1, 64, 64, 3], seed=2)
  expected = adapted(images, training=False)

  for how in ('from_config', 'clone_model'):
    rebuilt = _rebuilt(adapted, how)
    assert type(rebuilt) is type(adapted), how
    counts = [(len(m.weights), len(adapters.adapter_variables(m)))
              for m in (rebuilt, adapted)]
    assert counts[0] == counts[1] and new, (how, counts)
    assert _names(rebuilt) == _names(adapted), how
    assert len(rebuilt.losses) == len(adapted.losses), how  # adapters' L2
    # Same checkpoint paths, adapters included.
    tf.train.Checkpoint(backbone=rebuilt).read(path).assert_consumed()
    rebuilt.set_weights(adapted.get_weights())
    got = rebuilt(images, training=False)
    for level in expected:
      np.testing.assert_allclose(got[level], expected[level], rtol=1e-5,
                                 atol=1e-5, err_msg=f'{how}, level {level}')


def test_adapters_on_a_keras_application_are_not_rebuilt_silently():
  adapted = h.build_backbone(_keras_application_config('ResNet50'),
                             freeze_backbone=True, adapter='film')
  message = r'adapters on a Keras application cannot be rebuilt from config'
  with pytest.raises(NotImplementedError, match=message):
    tf_keras.models.clone_model(adapted)
  with pytest.raises(NotImplementedError, match=message):
    type(adapted).from_config(adapted.get_config())
  # Its graph of leaf layers alone: the adapted layers say so too.
  with pytest.raises(NotImplementedError, match='its config cannot rebuild'):
    tf_keras.models.clone_model(adapted.get_layer('resnet50'))
