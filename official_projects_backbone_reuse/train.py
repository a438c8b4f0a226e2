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

"""Model Garden style training driver for the backbone-reuse experiments.

Same flags as `official/vision/train.py` (`--experiment`, `--config_file`
(repeatable), `--params_override`, `--mode` train | eval | train_and_eval |
continuous_eval, `--model_dir`, `--tpu`, `--tf_data_service`, `--gin_file`,
`--gin_params`), same orbit trainer and tf.distribute runtime
(`runtime.distribution_strategy`). On top of it:

* the project's experiments and tasks are registered (`registry_imports`);
* the config is loaded by `configs.loading.load_experiment`, so a config
  that cannot be built or run (unknown experiment, unknown YAML key, bad
  value, contradicting keys, a missing input file or checkpoint) stops with
  one readable line and exit status 2, before anything is written;
* the final evaluation's metrics are written to `<model_dir>/metrics.json`;
* the run on several devices, workers or a TPU, and its failures, are
  handled as the `runtime` package describes (`--num_cpu_devices=N` runs `mirrored`
  on N CPU replicas); a damaged input file or checkpoint stops the run with
  an error naming it (exit status 2), a NaN or infinite loss with one naming
  the step (exit status 1).

Example:
  backbone-reuse-train --experiment=backbone_reuse_retinanet \
    --config_file=experiments/small/retinanet_frozen.yaml \
    --mode=train_and_eval --model_dir=/tmp/run
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import json
import os

from absl import flags
from absl import logging
import numpy as np
import orbit
import tensorflow as tf

from official.common import flags as tfm_flags
from official.core import task_factory
from official.core import train_utils
from official.modeling import performance

from official_projects_backbone_reuse import registry_imports  # pylint: disable=unused-import
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.runtime import checks
from official_projects_backbone_reuse.runtime import integrity
from official_projects_backbone_reuse.runtime import strategies
from official_projects_backbone_reuse.runtime import workers

FLAGS = flags.FLAGS
_NUM_CPU_DEVICES = flags.DEFINE_integer(
    'num_cpu_devices', 0,
    'Split the CPU into this many logical devices, so that '
    'runtime.distribution_strategy=mirrored (with runtime.num_gpus=0) runs '
    'that many replicas: tries distribution on a laptop. 0: as TensorFlow '
    'sets up the CPU (one device).')


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
    errors.UserError: a checkpoint is missing, damaged or does not fit the
      model, or an input file is damaged (each named), or the training loss
      became NaN or infinite (the step named).
  """
  fresh = not tf.io.gfile.exists(model_dir)
  with workers.WorkerDirectory(strategy, model_dir) as workdir:
    try:
      return _run(params, mode, model_dir, strategy, workdir)
    except BaseException:
      # A new model_dir that a failed or stopped run left without any
      # checkpoint holds only its params.yaml and events: nothing to resume.
      if (fresh and workdir.is_chief and tf.io.gfile.exists(model_dir)
          and not tf.io.gfile.glob(os.path.join(model_dir, '*.index'))):
        tf.io.gfile.rmtree(model_dir)
      raise


def _run(params, mode, model_dir, strategy, workdir):
  """`run_experiment` in the directory `workdir` names."""
  with strategy.scope():
    task = task_factory.get_task(params.task, logging_dir=workdir.path)
  try:
    runner = workers.ExperimentRunner(
        distribution_strategy=strategy, task=task, mode=mode,
        params=params, model_dir=workdir.path, checkpoint_dir=model_dir,
        controller_cls=_RecordingController)
    if 'train' in mode and workdir.is_chief:
      # After the model is built and restored: a run that fails before
      # (a checkpoint that does not fit) leaves a fresh model_dir empty.
      train_utils.serialize_config(params, model_dir)
    sizes = runner.per_replica_batch_sizes()
    if sizes:
      logging.info('Images per replica: %s (%d replica(s) in sync).',
                   sizes, strategy.num_replicas_in_sync)
    runner.run()
    if mode == 'train_and_eval' and runner.controller.last_eval_logs is None:
      # Training had already ended (a run killed during its final
      # evaluation, run again): orbit then skips the evaluation as well.
      logging.info('Training had already reached step %d; evaluating.',
                   runner.controller.global_step.numpy())
      runner.controller.evaluate(steps=params.trainer.validation_steps)
  except (tf.errors.OpError, IndexError) as e:
    explained = integrity.explain_failure(e, params, mode, model_dir)
    if explained is None:
      raise
    raise explained from e
  return runner.controller.last_eval_logs if workdir.is_chief else None


@errors.exits_on_error
def main(_) -> int:
  strategies.split_cpu(_NUM_CPU_DEVICES.value)
  params = checks.load_from_flags(FLAGS, _NUM_CPU_DEVICES.value)
  model_dir = FLAGS.model_dir
  if params.runtime.mixed_precision_dtype:
    performance.set_mixed_precision_policy(params.runtime.mixed_precision_dtype)
  strategy = strategies.build_strategy(params, _NUM_CPU_DEVICES.value)
  params = strategies.settle_input_seed(
      params, strategies.num_workers(strategy), model_dir)
  eval_logs = run_experiment(params, FLAGS.mode, model_dir, strategy)
  if eval_logs:
    path = os.path.join(model_dir, 'metrics.json')
    write_metrics(eval_logs, path)
    logging.info('Evaluation metrics written to %s', path)
  if strategies.is_chief(strategy):
    train_utils.save_gin_config(FLAGS.mode, model_dir)
  return 0


def _define_flags():
  tfm_flags.define_flags()
  flags.mark_flags_as_required(['experiment', 'mode', 'model_dir'])


run = errors.absl_entry_point(_define_flags, main)


if __name__ == '__main__':
  run()
