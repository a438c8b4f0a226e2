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

"""The tf.distribute strategy of a run, its workers, and their input seed."""
import zlib

from absl import logging
import tensorflow as tf

from official.common import distribute_utils
from official.core import config_definitions as cfg

from official_projects_backbone_reuse.common.errors import ConfigError

STRATEGIES = ('off', 'one_device', 'mirrored',
              'multi_worker_mirrored', 'tpu', 'parameter_server')


def strategy_name(params: cfg.ExperimentConfig) -> str:
  """`runtime.distribution_strategy`, lower case, or a ConfigError."""
  name = params.runtime.distribution_strategy
  if not isinstance(name, str) or name.lower() not in STRATEGIES:
    raise ConfigError(
        f'runtime.distribution_strategy={name!r}: expected one of '
        f'{", ".join(STRATEGIES)} (in YAML, quote \'off\').')
  return name.lower()


def split_cpu(num_devices: int) -> None:
  """Splits the CPU into `num_devices` logical devices (before TF starts)."""
  if num_devices <= 1:
    return
  cpu = tf.config.list_physical_devices('CPU')[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)
  except RuntimeError as e:
    raise ConfigError(f'--num_cpu_devices={num_devices}: TensorFlow has '
                      f'already set up its devices ({e}).') from e


def build_strategy(params: cfg.ExperimentConfig,
                   num_cpu_devices: int = 0) -> tf.distribute.Strategy:
  """Model Garden's strategy for `params.runtime`, or N CPU replicas."""
  runtime = params.runtime
  name = strategy_name(params)
  if name == 'mirrored' and num_cpu_devices > 1:
    devices = [d.name for d in tf.config.list_logical_devices('CPU')]
    if len(devices) < num_cpu_devices:
      raise ConfigError(
          f'--num_cpu_devices={num_cpu_devices}: TensorFlow has '
          f'{len(devices)} CPU device(s); split_cpu() must run first.')
    strategy = tf.distribute.MirroredStrategy(
        devices=devices[:num_cpu_devices])
  else:
    if name == 'mirrored' and not runtime.num_gpus:
      logging.warning(
          'runtime.distribution_strategy=mirrored with runtime.num_gpus=0 '
          'runs one replica on the CPU; set runtime.num_gpus, or '
          '--num_cpu_devices to try several replicas on a CPU.')
    strategy = distribute_utils.get_distribution_strategy(
        distribution_strategy=runtime.distribution_strategy,
        all_reduce_alg=runtime.all_reduce_alg,
        num_gpus=runtime.num_gpus,
        tpu_address=runtime.tpu)
  logging.info('tf.distribute: %s', describe(strategy))
  return strategy


def num_workers(strategy: tf.distribute.Strategy) -> int:
  """How many worker processes (or TPU hosts) take part."""
  resolver = getattr(strategy, 'cluster_resolver', None)
  if resolver is None:
    return 1
  try:
    spec = resolver.cluster_spec().as_dict()
  except Exception:  # pylint: disable=broad-except
    return 1  # a local TPU without a cluster, say
  return max(1, sum(len(spec.get(job, ())) for job in ('chief', 'worker')))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  return bool(strategy.extended.should_checkpoint)


def describe(strategy: tf.distribute.Strategy) -> str:
  """One line: strategy, replicas, devices, workers, this worker's role."""
  devices = getattr(strategy.extended, 'worker_devices', ())
  text = (f'{type(strategy).__name__}, {strategy.num_replicas_in_sync} '
          f'replica(s) in sync')
  if devices:
    text += ' on ' + ', '.join(d.split('/')[-1] for d in devices)
  workers = num_workers(strategy)
  if workers > 1:
    resolver = strategy.cluster_resolver
    role = 'chief' if is_chief(strategy) else 'not chief'
    text += (f'; {workers} workers, this one is {resolver.task_type} '
             f'{resolver.task_id} ({role})')
  return text


def settle_input_seed(params: cfg.ExperimentConfig, pipelines: int,
                      model_dir: str) -> cfg.ExperimentConfig:
  """With several input pipelines, the same training data seed everywhere.

  Model Garden's reader shuffles the list of files with
  `task.train_data.seed` and then takes every n-th file for input pipeline
  i of n; without a seed each pipeline shuffles differently and pipelines
  read overlapping files. The seed set here is derived from `model_dir` and
  the step of its latest checkpoint, so every worker computes the same one
  and a resumed run does not replay the first run's order.

  Args:
    params: the experiment config.
    pipelines: the number of input pipelines (`num_workers(strategy)`).
    model_dir: `--model_dir`.

  Returns:
    `params`, or a copy with `task.train_data.seed` set.
  """
  data = params.task.train_data
  if pipelines <= 1 or data.seed is not None or not data.sharding:
    return params
  latest = tf.train.latest_checkpoint(model_dir) if model_dir else None
  seed = zlib.crc32(f'{model_dir}:{latest}'.encode()) & 0x7fffffff
  logging.info('%d input pipelines: task.train_data.seed is unset, using %d '
               'on every worker so that each reads its own files.',
               pipelines, seed)
  return params.replace(task={'train_data': {'seed': seed}})

