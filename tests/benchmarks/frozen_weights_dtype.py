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

"""Would keeping a frozen backbone's weights in bfloat16 pay?

Under Model Garden's `mixed_precision_dtype: bfloat16` a layer keeps float32
weights and casts each to bfloat16 when it is read, every step. A frozen
backbone never updates its weights, so it could keep them once in bfloat16
instead. This measures what that would save on the default job's frozen
backbone (ResNet-18, ResNet-RS form) in its inference-mode forward, the
only pass a frozen backbone runs:

  A: built under `mixed_bfloat16` (float32 weights, cast per read: today);
  B: built under `bfloat16` (weights stored in bfloat16), A's weights copied.

Interleaved rounds (A B A B ...), each `--steps` forwards; prints the median
wall and CPU time per forward of each, B/A, the weights' bytes, and the
largest output difference.

  python -m tests.benchmarks.frozen_weights_dtype [--batch_size 8 \\
      --input_size 256 --rounds 5 --steps 5]
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import statistics
import time
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from official.vision.configs import backbones as backbones_cfg
from official.vision.configs import common
from official.vision.modeling import backbones


def build(policy: str, input_size: int) -> tf_keras.Model:
  tf_keras.mixed_precision.set_global_policy(policy)
  try:
    return backbones.factory.build_backbone(
        input_specs=tf_keras.layers.InputSpec(
            shape=[None, input_size, input_size, 3]),
        backbone_config=backbones_cfg.Backbone(
            type='resnet', resnet=backbones_cfg.ResNet(
                model_id=18, stem_type='v1', se_ratio=0.25,
                resnetd_shortcut=True, replace_stem_max_pool=True)),
        norm_activation_config=common.NormActivation(activation='swish'))
  finally:
    tf_keras.mixed_precision.set_global_policy('float32')


def weight_bytes(model: tf_keras.Model) -> int:
  return sum(int(np.prod(v.shape)) * v.dtype.size for v in model.weights)


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--batch_size', type=int, default=8)
  parser.add_argument('--input_size', type=int, default=256)
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--steps', type=int, default=5)
  args = parser.parse_args(argv)
  mixed = build('mixed_bfloat16', args.input_size)
  stored = build('bfloat16', args.input_size)
  for target, source in zip(stored.weights, mixed.weights):
    target.assign(tf.cast(source, target.dtype))
  images = tf.random.uniform(
      [args.batch_size, args.input_size, args.input_size, 3])
  forwards = {
      'float32 weights, cast per read (today)':
          tf.function(lambda: mixed(images, training=False)),
      'bfloat16 weights, stored once': tf.function(
          lambda: stored(tf.cast(images, tf.bfloat16), training=False))}
  outputs = {name: f() for name, f in forwards.items()}  # traces, warms up
  times = {name: {'wall': [], 'cpu': []} for name in forwards}
  for _ in range(args.rounds):
    for name, forward in forwards.items():
      wall, cpu = time.perf_counter(), time.process_time()
      for _ in range(args.steps):
        tf.nest.map_structure(lambda t: t.numpy(), forward())
      times[name]['wall'].append((time.perf_counter() - wall) / args.steps)
      times[name]['cpu'].append((time.process_time() - cpu) / args.steps)
  first, second = forwards
  difference = max(
      float(tf.reduce_max(tf.abs(tf.cast(outputs[first][k], tf.float32) -
                                 tf.cast(outputs[second][k], tf.float32))))
      for k in outputs[first])
  median = statistics.median
  print(f'ResNet-18 frozen forward, batch {args.batch_size}, '
        f'{args.input_size} px, {args.rounds} interleaved rounds of '
        f'{args.steps} forwards')
  print('| weights | forward s, wall (median, range) | forward CPU-s | '
        'weights MB |')
  print('|---|---:|---:|---:|')
  for name, model in ((first, mixed), (second, stored)):
    wall = times[name]['wall']
    print(f'| {name} | {median(wall):.4f} ({min(wall):.4f}-{max(wall):.4f}) '
          f'| {median(times[name]["cpu"]):.4f} | '
          f'{weight_bytes(model) / 2 ** 20:.1f} |')
  print(f'stored / cast, wall: '
        f'{median(times[second]["wall"]) / median(times[first]["wall"]):.3f}'
        f'; CPU: {median(times[second]["cpu"]) / median(times[first]["cpu"]):.3f}'
        f'; largest output difference: {difference:.4g}')


if __name__ == '__main__':
  main()
