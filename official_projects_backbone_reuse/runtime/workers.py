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

"""Model Garden's experiment runner for one process of a run.

In a multi-worker run only the chief writes into `--model_dir`
(checkpoints, summaries); the other workers write into a temporary
directory that is removed at the end, and resume from the chief's latest
checkpoint (Model Garden's runner gives them an empty temporary directory,
so after a preemption they would start again from step 0 while the chief
resumes). The runner also carries the NaN-loss guard and stops at the
end of a loop when a stop was asked for.
"""
import shutil
import tempfile
from typing import Optional, Sequence

from absl import logging
import tensorflow as tf

from official.core import train_lib
from official.core import train_utils

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.runtime import nan_guard
from official_projects_backbone_reuse.runtime.strategies import is_chief


class WorkerDirectory:
  """The directory where this worker writes.

  `model_dir` on the chief, else a temporary directory, removed when the
  `with` block ends."""

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


def _stop_if_requested(unused_output) -> None:
  """Stops the run if a stop was requested.

  A train action: a stop whose Stopped was swallowed (by a `__del__`
  it landed in, say) stops the run here, before the loop's checkpoint."""
  errors.raise_if_stopped()


class ExperimentRunner(train_lib.OrbitExperimentRunner):
  """Model Garden's experiment runner with this project's changes.

  Model Garden's runner, with the non-finite loss guard, checkpoints
  saved whole (a stop waits for the save to end) and, on workers other
  than the chief, checkpoints restored from the chief's `model_dir`.

  Args:
    checkpoint_dir: the run's `--model_dir`, where the chief's checkpoints
      are; `model_dir` is where this worker writes (`WorkerDirectory`).
    Other arguments: as `train_lib.OrbitExperimentRunner`.
  """

  def __init__(self, *, checkpoint_dir: Optional[str] = None,
               train_actions: Optional[Sequence] = None, **kwargs):
    self.checkpoint_dir = checkpoint_dir or kwargs['model_dir']
    self.nonfinite_guard = nan_guard.NonFiniteLossGuard(self)
    super().__init__(
        train_actions=[_stop_if_requested, self.nonfinite_guard]
        + list(train_actions or []),
        **kwargs)

  def _build_trainer(self, task, train: bool, evaluate: bool):
    with self.strategy.scope():
      return train_utils.create_trainer(
          self.params, task, train=train, evaluate=evaluate,
          checkpoint_exporter=self._build_best_checkpoint_exporter(),
          trainer_cls=nan_guard.Trainer)

  def _maybe_build_checkpoint_manager(self):
    manager = self._checkpoint_manager()
    if manager is not None:
      save = manager.save

      def save_whole(*args, **kwargs):
        with errors.uninterrupted():  # a stop waits for the state file
          return save(*args, **kwargs)
      manager.save = save_whole
    return manager

  def _checkpoint_manager(self):
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
    """Returns the images per replica of training and validation.

    {'train'|'validation': images per replica}, read from the element
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
