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

"""Stopping a run whose training loss is NaN or infinite, naming the step.

Model Garden's blow-up recovery checks only the averaged loss of each loop
and names no step. Here the training loss metric records the first step
whose loss was not finite, and a train action run after each loop (before
its checkpoint is saved) stops the run, or goes back to the latest
checkpoint when `trainer.recovery_max_trials > 0`.
"""
import math

from absl import logging
import tensorflow as tf
import tf_keras

from official.core import base_trainer

from official_projects_backbone_reuse.common.errors import UserError


class NonFiniteLossError(UserError):
  """The training loss became NaN or infinite; the message names the step."""
  exit_code = 1


class TrainingLoss(tf_keras.metrics.Mean):
  """Training loss metric that records the first non-finite step.

  Model Garden's `training_loss` (mean over a loop), which also records
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
  """Model Garden's trainer with a non-finite loss guard.

  Model Garden's trainer with a `training_loss` that records the first
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

  def __init__(self, runner):  # a workers.ExperimentRunner
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

