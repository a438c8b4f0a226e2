"""Running an experiment on tf.distribute, and stopping cleanly when it fails.

`train.py` runs Model Garden's `OrbitExperimentRunner` on a strategy from
Model Garden's `distribute_utils.get_distribution_strategy`. This module adds
what a run on several devices, workers or a TPU needs on top of it:

* `check_runtime`: `runtime.*` and `--tpu` are checked before anything is
  written (a TPU strategy without a TPU, a `--tpu` that would be ignored,
  local paths that a remote TPU cannot reach, GPUs the machine lacks);
* `split_cpu` / `build_strategy`: `--num_cpu_devices=N` splits the CPU into
  N logical devices so that `mirrored` runs N replicas on a laptop (Model
  Garden's `mirrored` without GPUs is one replica on `CPU:0`);
* `settle_input_seed`: Model Garden shuffles a training set's files before it
  shards them per input pipeline (worker or TPU host), and with
  `task.train_data.seed` unset each pipeline draws its own seed, so workers
  would read overlapping files; with several pipelines the seed is set, the
  same on every worker;
* `WorkerDirectory` and `ExperimentRunner`: in a multi-worker run only the
  chief writes into `--model_dir` (checkpoints, summaries); the other workers
  write into a temporary directory that is removed at the end, and resume
  from the chief's latest checkpoint (Model Garden's runner gives them an
  empty temporary directory, so after a preemption they would start again
  from step 0 while the chief resumes);
* `NonFiniteLossGuard`: a NaN or infinite training loss stops the run with
  an error naming the first step it appeared at, before a checkpoint holding
  it is written; with `trainer.recovery_max_trials > 0` the run instead goes
  back to the last checkpoint and goes on past the batches that caused it
  (Model Garden's blow-up recovery, which on its own checks only the
  averaged loss of each loop and names no step).
"""
import math
import shutil
import tempfile
import zlib
from typing import Optional, Sequence

from absl import logging
import tensorflow as tf
import tf_keras

from official.common import distribute_utils
from official.core import base_trainer
from official.core import config_definitions as cfg
from official.core import train_lib
from official.core import train_utils

from official_projects_backbone_reuse import integrity
from official_projects_backbone_reuse.configs.loading import ConfigError

STRATEGIES = ('off', 'one_device', 'mirrored',
              'multi_worker_mirrored', 'tpu', 'parameter_server')
# --tpu values that mean the TPU of this machine (a TPU VM).
_LOCAL_TPU = ('', 'local')


class NonFiniteLossError(RuntimeError):
  """The training loss became NaN or infinite; the message names the step."""


def _strategy_name(params: cfg.ExperimentConfig) -> str:
  name = params.runtime.distribution_strategy
  if not isinstance(name, str) or name.lower() not in STRATEGIES:
    raise ConfigError(
        f'runtime.distribution_strategy={name!r}: expected one of '
        f'{", ".join(STRATEGIES)} (in YAML, quote \'off\').')
  return name.lower()


def _is_remote(path: str) -> bool:
  return '://' in path


def check_runtime(params: cfg.ExperimentConfig, mode: str,
                  model_dir: Optional[str],
                  num_cpu_devices: int = 0) -> None:
  """Fails with a ConfigError when the run cannot work where it is asked to.

  Args:
    params: the experiment config (`runtime.tpu` holds `--tpu`).
    mode: `--mode`.
    model_dir: `--model_dir`.
    num_cpu_devices: `--num_cpu_devices`.
  """
  name = _strategy_name(params)
  runtime = params.runtime
  tpu = runtime.tpu
  if name == 'tpu' and tpu is None:
    raise ConfigError(
        'runtime.distribution_strategy=tpu needs --tpu: the Cloud TPU\'s '
        'name, grpc://<address>:8470, or local on a TPU VM.')
  if tpu and name != 'tpu':
    raise ConfigError(
        f'--tpu={tpu} is set but runtime.distribution_strategy is {name!r}, '
        'so the TPU would not be used: set '
        'runtime.distribution_strategy=tpu, or drop --tpu.')
  if name == 'tpu' and tpu not in _LOCAL_TPU:
    # A remote TPU's own hosts read the input and write the checkpoints.
    paths = [('--model_dir', model_dir)]
    for key, data in (('task.train_data', params.task.train_data),
                      ('task.validation_data', params.task.validation_data)):
      if ('train' if key == 'task.train_data' else 'eval') in mode:
        paths += [(f'{key}.input_path', p)
                  for p in integrity.input_patterns(data.input_path)]
    local = [f'{key}={path}' for key, path in paths
             if path and not _is_remote(path)]
    if local:
      raise ConfigError(
          f'--tpu={tpu}: the TPU\'s hosts cannot read or write local paths; '
          'use Cloud Storage (gs://bucket/...) for ' + ', '.join(local) + '.')
  if runtime.num_gpus < 0:
    raise ConfigError(f'runtime.num_gpus={runtime.num_gpus} is negative.')
  if runtime.num_gpus and name in ('one_device', 'mirrored'):
    found = len(tf.config.list_physical_devices('GPU'))
    if runtime.num_gpus > found:
      raise ConfigError(
          f'runtime.num_gpus={runtime.num_gpus}, but TensorFlow finds '
          f'{found} GPU(s) on this machine.')
  if num_cpu_devices < 0:
    raise ConfigError(f'--num_cpu_devices={num_cpu_devices} is negative.')
  if num_cpu_devices > 1 and (name != 'mirrored' or runtime.num_gpus):
    raise ConfigError(
        f'--num_cpu_devices={num_cpu_devices} makes replicas of CPU devices '
        'for runtime.distribution_strategy=mirrored with runtime.num_gpus=0; '
        f'here the strategy is {name!r} with runtime.num_gpus='
        f'{runtime.num_gpus}.')
  if (name == 'multi_worker_mirrored' and 'eval' in mode
      and params.task.validation_data.sharding):
    raise ConfigError(
        f'--mode={mode} with runtime.distribution_strategy='
        'multi_worker_mirrored: each worker would compute the COCO metrics '
        'on its own part of the validation set only. Set '
        'task.validation_data.sharding=false (every worker evaluates the '
        'whole set), or evaluate with a separate --mode=continuous_eval job.')


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
  name = _strategy_name(params)
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


class WorkerDirectory:
  """Where this worker writes: `model_dir` on the chief, else a temporary
  directory, removed when the `with` block ends."""

  def __init__(self, strategy: tf.distribute.Strategy, model_dir: str):
    self.model_dir = model_dir
    self.is_chief = is_chief(strategy)
    self.path = model_dir
    if not self.is_chief:
      task_id = getattr(strategy.cluster_resolver, 'task_id', 'x')
      self.path = tempfile.mkdtemp(prefix=f'backbone_reuse_worker{task_id}_')

  def __enter__(self) -> 'WorkerDirectory':
    return self

  def __exit__(self, *unused_exc) -> None:
    if not self.is_chief:
      shutil.rmtree(self.path, ignore_errors=True)


class TrainingLoss(tf_keras.metrics.Mean):
  """Model Garden's `training_loss` (mean over a loop), which also records
  the first step whose loss was not finite (kept across loops)."""

  def __init__(self, global_step: tf.Variable):
    super().__init__(name='training_loss', dtype=tf.float32)
    # A function, not an attribute: Keras would track the variable as a
    # weight of this metric and zero it with the metric's state.
    self._global_step = lambda: global_step
    # float32 (exact up to 2**24 steps): a variable type every device has.
    self.first_nonfinite_step = self.add_weight(
        'first_nonfinite_step', shape=(), dtype=tf.float32,
        initializer='zeros')

  def update_state(self, values, sample_weight=None):
    bad = tf.logical_not(tf.reduce_all(tf.math.is_finite(values)))
    # Model Garden adds 1 to the global step after this update: this step
    # is its value + 1, the number in its logs and checkpoint names.
    step = tf.cast(self._global_step() + 1, tf.float32)
    first = self.first_nonfinite_step
    first.assign(tf.where(tf.logical_and(bad, tf.equal(first, 0)), step,
                          first))
    return super().update_state(values, sample_weight)

  def reset_state(self):
    tf_keras.backend.batch_set_value([(self.total, 0.0), (self.count, 0.0)])

  def first_nonfinite(self, strategy: tf.distribute.Strategy) -> int:
    """The first non-finite step seen by this worker's replicas, or 0."""
    steps = [int(round(float(v.numpy()))) for v in
             strategy.experimental_local_results(self.first_nonfinite_step)]
    steps = [s for s in steps if s > 0]
    return min(steps) if steps else 0

  def clear_nonfinite(self) -> None:
    self.first_nonfinite_step.assign(0)


class Trainer(base_trainer.Trainer):
  """Model Garden's trainer with a `training_loss` that records the first
  non-finite step, and the step each loop began at."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self._train_loss = TrainingLoss(self.global_step)
    self.loop_begin_step = 0

  def train_loop_begin(self):
    self.loop_begin_step = int(self.global_step.numpy())
    super().train_loop_begin()


class NonFiniteLossGuard:
  """A train action run after each loop, before its checkpoint is saved.

  A NaN or infinite training loss raises `NonFiniteLossError` naming the
  first step it appeared at, so no checkpoint holding it is written. With
  `trainer.recovery_max_trials > 0` and a checkpoint to go back to, the run
  goes back to the latest checkpoint instead (the batches since it are
  skipped: the input does not rewind) up to that many times. Events are
  counted as Model Garden's recovery counts them (a finite loss above
  `trainer.loss_upper_bound` counts too), so this guard speaks first.
  """

  def __init__(self, runner: 'ExperimentRunner'):
    self._runner = runner
    self.trials = 0

  def __call__(self, output) -> None:
    if 'training_loss' not in output:
      return
    runner = self._runner
    trainer, config = runner.trainer, runner.params.trainer
    loss = float(output['training_loss'])
    step = int(trainer.global_step.numpy())
    if math.isfinite(loss):
      if (config.recovery_max_trials >= 0
          and step >= config.recovery_begin_steps
          and loss > config.loss_upper_bound):
        self.trials += 1
      return
    self.trials += 1
    first = trainer.train_loss.first_nonfinite(runner.strategy)
    begin = getattr(trainer, 'loop_begin_step', None)
    where = (f'step {first}' if first else
             f'one of the steps {begin + 1}-{step}' if begin is not None
             else f'the loop ending at step {step}')
    latest = tf.train.latest_checkpoint(runner.checkpoint_dir)
    if (config.recovery_max_trials > 0 and latest
        and self.trials <= config.recovery_max_trials):
      logging.warning(
          'The training loss is %s at %s. Going back to %s and on past the '
          'batches since it (trainer.recovery_max_trials: %d of %d).', loss,
          where, latest, self.trials, config.recovery_max_trials)
      trainer.train_loss.clear_nonfinite()
      runner.checkpoint_manager.restore_or_initialize()
      return
    kept = (f'the latest checkpoint, {latest}, is from before it'
            if latest else 'no checkpoint was written')
    if config.recovery_max_trials > 0 and latest:
      advice = (f'it happened {self.trials} times, more than '
                f'trainer.recovery_max_trials={config.recovery_max_trials}')
    elif config.recovery_max_trials > 0:
      advice = 'there is no checkpoint yet to go back to'
    else:
      advice = ('set trainer.recovery_max_trials=N to go back to the latest '
                'checkpoint and skip the batches since it, up to N times')
    raise NonFiniteLossError(
        f'The training loss is {loss} at {where}; the run stopped at step '
        f'{step} without writing a checkpoint, and {kept}. '
        f'{advice[0].upper()}{advice[1:]}.')


class ExperimentRunner(train_lib.OrbitExperimentRunner):
  """Model Garden's runner, with the non-finite loss guard and, on workers
  other than the chief, checkpoints restored from the chief's `model_dir`.

  Args:
    checkpoint_dir: the run's `--model_dir`, where the chief's checkpoints
      are; `model_dir` is where this worker writes (`WorkerDirectory`).
    Other arguments: as `train_lib.OrbitExperimentRunner`.
  """

  def __init__(self, *, checkpoint_dir: Optional[str] = None,
               train_actions: Optional[Sequence] = None, **kwargs):
    self.checkpoint_dir = checkpoint_dir or kwargs['model_dir']
    self.nonfinite_guard = NonFiniteLossGuard(self)
    super().__init__(
        train_actions=[self.nonfinite_guard] + list(train_actions or []),
        **kwargs)

  def _build_trainer(self, task, train: bool, evaluate: bool):
    with self.strategy.scope():
      return train_utils.create_trainer(
          self.params, task, train=train, evaluate=evaluate,
          checkpoint_exporter=self._build_best_checkpoint_exporter(),
          trainer_cls=Trainer)

  def _maybe_build_checkpoint_manager(self):
    if (not self.trainer.checkpoint or is_chief(self.strategy)
        or self.checkpoint_dir == self.model_dir):
      return super()._maybe_build_checkpoint_manager()
    # Every worker must save when the chief saves (saving reads variables
    # that synchronise across workers), so this one saves too, into its own
    # directory; it resumes from the chief's latest checkpoint, on the same
    # checkpoint schedule as the chief.
    latest = tf.train.latest_checkpoint(self.checkpoint_dir)
    last_step = None
    if latest:
      last_step = int(tf.train.load_checkpoint(latest).get_tensor(
          'global_step/.ATTRIBUTES/VARIABLE_VALUE'))

    def restore_from_chief_or_initialize():
      chief_latest = tf.train.latest_checkpoint(self.checkpoint_dir)
      if chief_latest:
        self.trainer.checkpoint.restore(chief_latest)
        logging.info('Restored the chief\'s checkpoint %s.', chief_latest)
      else:
        self.trainer.initialize()

    return tf.train.CheckpointManager(
        self.trainer.checkpoint, directory=self.model_dir, max_to_keep=1,
        step_counter=self.trainer.global_step,
        checkpoint_interval=self.params.trainer.checkpoint_interval,
        init_fn=restore_from_chief_or_initialize,
        last_checkpoint_step=last_step)

  def per_replica_batch_sizes(self) -> dict:
    """{'train'|'validation': images per replica}, read from the element
    spec of the distributed inputs (when their batch size is static)."""
    sizes = {}
    for name in ('train', 'eval'):
      dataset = getattr(self.trainer, f'{name}_dataset', None)
      if dataset is None:
        continue
      spec = dataset.element_spec
      images = spec[0] if isinstance(spec, (tuple, list)) else spec
      # With several replicas, a PerReplicaSpec: one spec per replica.
      first = tf.nest.flatten(images, expand_composites=True)[0]
      if first.shape.rank and first.shape[0] is not None:
        sizes['train' if name == 'train' else 'validation'] = first.shape[0]
    return sizes
