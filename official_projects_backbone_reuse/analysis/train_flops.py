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

"""Counts the FLOPs of a detector's training step, per component.

The FLOPs of the real training step, forward and backward: what freezing
saves in compute (the paper's Figure 1, right).

The step is the task's own `train_step` (forward, losses, gradients of the
trainable variables, optimizer update) on one batch that the task's own
input pipeline makes from synthetic examples, traced once; nothing runs,
so the paper's full-size models can be counted on a laptop.

Pruning. The traced graph holds every gradient the tape can compute: for a
frozen backbone, also the weight gradient of each of its convolutions,
which feeds no variable update and which the runtime therefore never runs.
Counted as traced, a frozen step would cost what a fine-tuned one costs.
The graph is pruned, as the runtime prunes it, to what the step's outputs
and variable updates need; then each op counts TensorFlow's own FLOPs
statistic (the one `tf.compat.v1.profiler` uses).

Not counted: ops without a FLOPs statistic, notably batch normalisation,
activations, pooling and resizing, and the input pipeline; NMS is not part
of a training step. Multiply-adds count as two FLOPs.

Components are the model's `checkpoint_items` (backbone, decoder, heads),
`adapters` inside the backbone, and `other`: losses, target assignment,
RoI sampling and alignment, weight decay, the optimizer.
"""
import collections
import dataclasses
import os
import tempfile
from typing import Dict, Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from tensorflow.python.framework import ops as tf_ops

from official.core import config_definitions as cfg
from official.core import task_factory

from official_projects_backbone_reuse import registry_imports  # pylint: disable=unused-import
from official_projects_backbone_reuse.modeling import parameters

_VARIABLE_UPDATES = ('AssignVariableOp', 'AssignAddVariableOp',
                     'AssignSubVariableOp')
_BACKWARD_SCOPE = 'gradient_tape'


@dataclasses.dataclass(frozen=True)
class StepFlops:
  """FLOPs of one training step: {component: FLOPs}, forward and backward."""
  forward: Dict[str, int]
  backward: Dict[str, int]

  @property
  def total(self) -> int:
    return sum(self.forward.values()) + sum(self.backward.values())

  def component(self, name: str) -> int:
    return self.forward.get(name, 0) + self.backward.get(name, 0)


def _example(size: int, with_masks: bool) -> tf.train.Example:
  """A synthetic detection example: a noise image with two boxes."""
  image = np.random.RandomState(0).randint(0, 256, (size, size, 3), np.uint8)
  boxes = [(0.1, 0.1, 0.4, 0.3), (0.5, 0.4, 0.9, 0.8)]
  feature = {
      'image/encoded': [tf.io.encode_png(image).numpy()],
      'image/source_id': [b'1'],
      'image/height': [size], 'image/width': [size],
      'image/object/class/label': [1, 2],
      'image/object/is_crowd': [0, 0],
      'image/object/area': [1.0, 1.0],
  }
  for i, key in enumerate(('ymin', 'xmin', 'ymax', 'xmax')):
    feature[f'image/object/bbox/{key}'] = [b[i] for b in boxes]
  if with_masks:
    masks = []
    for ymin, xmin, ymax, xmax in boxes:
      mask = np.zeros((size, size, 1), np.uint8)
      mask[int(ymin * size):int(ymax * size),
           int(xmin * size):int(xmax * size)] = 255
      masks.append(tf.io.encode_png(mask).numpy())
    feature['image/object/mask'] = masks

  def encode(values):
    if isinstance(values[0], bytes):
      return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    if isinstance(values[0], float):
      return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

  return tf.train.Example(features=tf.train.Features(
      feature={k: encode(v) for k, v in feature.items()}))


def synthetic_batch(task, data_config, batch_size: int, image_size: int):
  """Makes one training batch of synthetic examples.

  The task's own input pipeline (parser, augmentation, target assignment)
  makes it."""
  with_masks = getattr(task.task_config.model, 'include_mask', False)
  with tempfile.TemporaryDirectory() as directory:
    path = os.path.join(directory, 'synthetic.tfrecord')
    with tf.io.TFRecordWriter(path) as writer:  # a batch, repeated or not
      for _ in range(batch_size):
        writer.write(_example(image_size, with_masks).SerializeToString())
    data = data_config.replace(input_path=path, global_batch_size=batch_size,
                               shuffle_buffer_size=1, tfds_name='',
                               seed=0, cache=False)
    return next(iter(task.build_inputs(data)))


def prune(graph_def: tf.compat.v1.GraphDef, outputs) -> tf.compat.v1.GraphDef:
  """The part of `graph_def` that the outputs and variable updates need."""
  updates = [node.name for node in graph_def.node
             if node.op in _VARIABLE_UPDATES
             or node.op.startswith('ResourceApply')]
  return tf.compat.v1.graph_util.extract_sub_graph(
      graph_def, [t.name.split(':')[0] for t in outputs] + updates)


def op_flops(graph_def: tf.compat.v1.GraphDef) -> Dict[str, int]:
  """{op name: FLOPs} of the ops that have a FLOPs statistic."""
  graph = tf.Graph()
  with graph.as_default():
    tf.graph_util.import_graph_def(graph_def, name='')
  counted = {}
  for node in graph_def.node:
    try:
      value = tf_ops.get_stats_for_node_def(graph, node, 'flops').value
    except ValueError:  # no statistic registered for this op type
      continue
    if value:
      counted[node.name] = int(value)
  return counted


def _component_of(op_name: str, scopes: Dict[str, str]) -> str:
  parts = op_name.split('/')
  if any(p.startswith('adapter_') for p in parts):
    return 'adapters'
  return next((name for name, scope in scopes.items() if scope in parts),
              'other')


def count(model: tf_keras.Model, step_fn, batch, pruned: bool = True
          ) -> StepFlops:
  """FLOPs of `step_fn(batch)` (a training step of `model`) per component."""
  concrete = tf.function(step_fn).get_concrete_function(batch)
  graph_def = concrete.graph.as_graph_def(add_shapes=True)
  if pruned:
    graph_def = prune(graph_def, concrete.outputs)
  scopes = {name: layer.name
            for name, layer in parameters.components(model).items()}
  forward = collections.Counter()
  backward = collections.Counter()
  for name, flops in op_flops(graph_def).items():
    side = backward if name.startswith(_BACKWARD_SCOPE + '/') else forward
    side[_component_of(name, scopes)] += flops
  return StepFlops(dict(forward), dict(backward))


def training_step_flops(params: cfg.ExperimentConfig, batch_size: int,
                        pruned: bool = True
                        ) -> Tuple[StepFlops, tf_keras.Model]:
  """Counts the FLOPs of one training step of an experiment.

  FLOPs of one training step of the experiment `params`, with a batch
  of `batch_size` images at `task.model.input_size`; and the model."""
  task = task_factory.get_task(params.task)
  model = task.build_model()
  optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                    params.runtime)
  batch = synthetic_batch(task, params.task.train_data, batch_size,
                          params.task.model.input_size[0])
  flops = count(model, lambda inputs: task.train_step(inputs, model,
                                                      optimizer), batch,
                pruned)
  return flops, model
