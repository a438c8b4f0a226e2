"""Model Garden style training driver for the backbone-reuse experiments.

Same flags as `official/vision/train.py` (`--experiment`, `--config_file`
(repeatable), `--params_override`, `--mode` train | eval | train_and_eval |
continuous_eval, `--model_dir`, `--tpu`, ...), same orbit trainer and
tf.distribute runtime (`runtime.distribution_strategy`). On top of it:

* importing this project registers its experiments and tasks;
* a config that cannot be built (unknown experiment, unknown YAML key, bad
  value) stops with one readable line and exit status 2;
* the final evaluation's metrics are written to `<model_dir>/metrics.json`;
* the run on several devices, workers or a TPU, and its failures, are
  handled as `runtime.py` describes (`--num_cpu_devices=N` runs `mirrored`
  on N CPU replicas); a damaged input file or checkpoint stops the run with
  an error naming it (exit status 2), a NaN or infinite loss with one naming
  the step (exit status 1).

Example:
  backbone-reuse-train --experiment=backbone_reuse_retinanet \
    --config_file=experiments/small/retinanet_frozen.yaml \
    --mode=train_and_eval --model_dir=/tmp/run
"""
import json
import os
import sys

from absl import app
from absl import flags
from absl import logging
import numpy as np
import orbit
import tensorflow as tf

from official.common import flags as tfm_flags
from official.core import task_factory
from official.core import train_utils
from official.modeling import performance

import official_projects_backbone_reuse  # pylint: disable=unused-import
from official_projects_backbone_reuse import checkpoints
from official_projects_backbone_reuse import files
from official_projects_backbone_reuse import integrity
from official_projects_backbone_reuse import runtime
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.configs.loading import ConfigError
from official_projects_backbone_reuse.tasks import detection as detection_tasks

FLAGS = flags.FLAGS
_NUM_CPU_DEVICES = flags.DEFINE_integer(
    'num_cpu_devices', 0,
    'Split the CPU into this many logical devices, so that '
    'runtime.distribution_strategy=mirrored (with runtime.num_gpus=0) runs '
    'that many replicas: tries distribution on a laptop. 0: as TensorFlow '
    'sets up the CPU (one device).')


def parse_config(flags_obj):
  """The experiment config from flags, or a ConfigError that says why."""
  loading.check_experiment(flags_obj.experiment)
  loading.check_config_files(flags_obj.config_file)
  try:
    params = train_utils.parse_configuration(flags_obj)
  except (KeyError, ValueError, TypeError, AttributeError) as e:
    files = ', '.join(flags_obj.config_file or []) or 'none'
    raise ConfigError(
        f'invalid experiment config (--experiment={flags_obj.experiment}, '
        f'--config_file: {files}): {loading.reason(e)}') from e
  if hasattr(params.task, 'freeze_at'):
    detection_tasks.check_task_config(params.task)
  return params


def check_inputs(params, mode: str, model_dir: str) -> None:
  """Fails before anything is written when a file the run needs is absent."""
  task = params.task
  needed = []
  if 'train' in mode:
    needed.append(('task.train_data.input_path', task.train_data))
  if 'eval' in mode:
    needed.append(('task.validation_data.input_path', task.validation_data))
  for key, data in needed:
    if getattr(data, 'tfds_name', None):
      continue
    paths = data.input_path
    patterns = [paths] if isinstance(paths, str) else list(paths or [])
    if not patterns:
      raise ConfigError(f'{key} is empty.')
    for pattern in patterns:
      if isinstance(pattern, str) and not tf.io.gfile.glob(pattern):
        raise ConfigError(f'{key}={pattern!r} matches no file.')
  if 'train' in mode or mode == 'eval':
    # A checkpoint to resume from (or to evaluate) must be complete.
    try:
      integrity.check_model_dir(model_dir)
    except checkpoints.CheckpointError as e:
      raise ConfigError(str(e)) from e
  annotation_file = getattr(task, 'annotation_file', None)
  if 'eval' in mode and annotation_file and not tf.io.gfile.exists(
      annotation_file):
    raise ConfigError(f'task.annotation_file={annotation_file!r}: no such '
                      'file.')
  init_checkpoint = getattr(task, 'init_checkpoint', None)
  if init_checkpoint:
    try:
      integrity.check_checkpoint_files(
          checkpoints.resolve_checkpoint(init_checkpoint),
          'task.init_checkpoint')
    except checkpoints.CheckpointError as e:
      raise ConfigError(str(e)) from e


def _jsonable(value):
  if isinstance(value, (np.ndarray, np.generic, tf.Tensor)):
    value = np.asarray(value)
    return value.item() if value.size == 1 else value.tolist()
  if isinstance(value, dict):
    return {k: _jsonable(v) for k, v in value.items()}
  return value


def write_metrics(metrics, path: str) -> None:
  """Writes metrics as JSON atomically (temporary name, then rename)."""
  files.write_atomically(
      path, json.dumps(_jsonable(dict(metrics)), indent=2, sort_keys=True))


class _RecordingController(orbit.Controller):
  """Model Garden's controller, keeping the last evaluation's metrics."""
  last_eval_logs = None

  def evaluate(self, steps: int = -1):
    logs = super().evaluate(steps)
    self.last_eval_logs = dict(logs, global_step=self.global_step.numpy())
    return logs


def run_experiment(params, mode: str, model_dir: str,
                   strategy: tf.distribute.Strategy):
  """Trains and/or evaluates as `mode` says; the last evaluation's logs.

  On a worker other than the chief, everything is written to a temporary
  directory that is removed at the end, and None is returned.

  Raises:
    checkpoints.CheckpointError: a checkpoint is missing, damaged or does not
      fit the model; the message names it.
    integrity.DamagedInputError: an input file is damaged (named).
    runtime.NonFiniteLossError: the training loss became NaN or infinite
      (the step is named).
  """
  with runtime.WorkerDirectory(strategy, model_dir) as workdir:
    with strategy.scope():
      task = task_factory.get_task(params.task, logging_dir=workdir.path)
    try:
      runner = runtime.ExperimentRunner(
          distribution_strategy=strategy, task=task, mode=mode,
          params=params, model_dir=workdir.path, checkpoint_dir=model_dir,
          controller_cls=_RecordingController)
      sizes = runner.per_replica_batch_sizes()
      if sizes:
        logging.info('Images per replica: %s (%d replica(s) in sync).',
                     sizes, strategy.num_replicas_in_sync)
      runner.run()
    except (tf.errors.OpError, IndexError) as e:
      explained = integrity.explain_failure(e, params, mode, model_dir)
      if explained is None:
        raise
      raise explained from e
    return runner.controller.last_eval_logs if workdir.is_chief else None


def main(_):
  try:
    runtime.split_cpu(_NUM_CPU_DEVICES.value)
    params = parse_config(FLAGS)
    runtime.check_runtime(params, FLAGS.mode, FLAGS.model_dir,
                          _NUM_CPU_DEVICES.value)
    check_inputs(params, FLAGS.mode, FLAGS.model_dir)
  except ConfigError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  model_dir = FLAGS.model_dir
  if params.runtime.mixed_precision_dtype:
    performance.set_mixed_precision_policy(params.runtime.mixed_precision_dtype)
  strategy = runtime.build_strategy(params, _NUM_CPU_DEVICES.value)
  params = runtime.settle_input_seed(params, runtime.num_workers(strategy),
                                     model_dir)
  if 'train' in FLAGS.mode and runtime.is_chief(strategy):
    train_utils.serialize_config(params, model_dir)
  try:
    eval_logs = run_experiment(params, FLAGS.mode, model_dir, strategy)
  except (checkpoints.CheckpointError, integrity.DamagedInputError) as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  except runtime.NonFiniteLossError as e:
    print(f'error: {e}', file=sys.stderr)
    sys.exit(1)
  if eval_logs:
    path = os.path.join(model_dir, 'metrics.json')
    write_metrics(eval_logs, path)
    logging.info('Evaluation metrics written to %s', path)


def run():
  tfm_flags.define_flags()
  flags.mark_flags_as_required(['experiment', 'mode', 'model_dir'])
  app.run(main)


if __name__ == '__main__':
  run()
