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

"""Preemption and faults: a killed run resumes; damaged files, non-finite
losses and a full disk stop with an error that names the file or step, and
never leave a poisoned checkpoint or a half-written export behind."""
import errno
import os
import pathlib
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from official.core import task_factory
from official.vision.serving import export_saved_model_lib

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.common.errors import CheckpointError
from official_projects_backbone_reuse.serving import export_saved_model
from official_projects_backbone_reuse.runtime import integrity
from official_projects_backbone_reuse.runtime import checks
from official_projects_backbone_reuse.runtime import nan_guard
from official_projects_backbone_reuse import train
from official_projects_backbone_reuse.tasks import detection
from tests import reuse_helpers as h
from tests import runtime_helpers as rh


def _train_in_process(params, model_dir, mode='train'):
  return train.run_experiment(params, mode, str(model_dir),
                              tf.distribute.get_strategy())


@pytest.fixture(scope='module')
def two_step_run(upstream, tiny_world, tmp_path_factory):
  """A model_dir after 2 training steps (ckpt-2), and its config."""
  params = rh.tiny_params(upstream, tiny_world, steps=2, batch=2,
                          eval_data=False)
  model_dir = tmp_path_factory.mktemp('two_steps') / 'run'
  _train_in_process(params, model_dir)
  return params, model_dir


def _wait_for_checkpoint(model_dir, process, timeout=300):
  deadline = time.time() + timeout
  while time.time() < deadline:
    latest = tf.train.latest_checkpoint(str(model_dir))
    if latest or process.poll() is not None:
      return latest
    time.sleep(0.05)
  return None


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(upstream, tiny_world,
                                                     tmp_path):
  params = rh.tiny_params(upstream, tiny_world, steps=12, batch=2,
                          eval_data=False)
  config = rh.write_config(params, tmp_path / 'resume.yaml')
  model_dir = tmp_path / 'run'
  command = rh.train_command(config, model_dir)
  with open(tmp_path / 'first.log', 'w') as log:
    first = subprocess.Popen(command, cwd=h.REPO, env=rh.environment(),
                             stdout=log, stderr=subprocess.STDOUT)
    latest = _wait_for_checkpoint(model_dir, first)
    still_running = first.poll() is None
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=60)
  assert latest and still_running, (tmp_path / 'first.log').read_text()[-3000:]
  assert first.returncode == -signal.SIGKILL
  before = rh.checkpoint_step(tf.train.latest_checkpoint(str(model_dir)))
  assert 0 < before < 12

  proc = rh.run(command)  # the same command again
  assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
  assert f'restored from checkpoint: {model_dir}/ckpt-{before}' in proc.stdout
  assert f'train | step: {before:6d} | training until step 12' in proc.stdout
  losses = rh.train_losses(proc.stdout)
  assert min(losses) > before and max(losses) == 12
  assert all(np.isfinite(list(losses.values())))
  latest = tf.train.latest_checkpoint(str(model_dir))
  assert rh.checkpoint_step(latest) == 12
  model = rh.restored_detector(params, latest)
  assert restore.backbone_differences(model.backbone, upstream) == []
  print(f'killed at step {before} (its latest checkpoint), resumed there, '
        f'finished at step 12; losses after resuming {losses}')


@pytest.mark.slow
def test_a_run_killed_in_its_final_evaluation_evaluates_when_rerun(
    upstream, tiny_world, tmp_path):
  # Trained to the last step and checkpointed, never evaluated: as a run
  # killed during its final evaluation. Orbit skips the evaluation too when
  # training has nothing left to do, and exited 0 without metrics.
  params = rh.tiny_params(upstream, tiny_world, steps=2, batch=2)
  assert _train_in_process(params, tmp_path, mode='train') is None
  logs = _train_in_process(params, tmp_path, mode='train_and_eval')
  assert logs is not None and logs['global_step'] == 2 and 'AP' in logs


def _damage(path, how):
  data = bytearray(open(path, 'rb').read())
  if how == 'truncate':
    data = data[:len(data) // 2]
  else:  # flip a byte inside the first record's payload
    data[40] ^= 0xFF
  with open(path, 'wb') as f:
    f.write(bytes(data))


@pytest.mark.slow
def test_damaged_tfrecords_are_named(upstream, tiny_world, tmp_path):
  shards = sorted(tf.io.gfile.glob(tiny_world.det_train_pattern))
  data_dir = tmp_path / 'data'
  data_dir.mkdir()
  truncated = str(data_dir / 'train-00000.tfrecord')
  flipped = str(data_dir / 'train-00001.tfrecord')
  shutil.copy(shards[0], truncated)
  shutil.copy(shards[1], flipped)
  _damage(truncated, 'truncate')
  _damage(flipped, 'flip')
  params = rh.tiny_params(upstream, tiny_world, steps=2, batch=2,
                          eval_data=False)
  params.task.train_data.input_path = str(data_dir / 'train-*')
  with pytest.raises(integrity.DamagedInputError) as e:
    _train_in_process(params, tmp_path / 'run')
  message = str(e.value)
  assert f'{truncated}: truncated record at' in message
  assert f'{flipped}: corrupted record at' in message
  assert f'task.train_data.input_path={data_dir}/train-*' in message
  assert tf.train.latest_checkpoint(str(tmp_path / 'run')) is None


def _copy_run(run, tmp_path):
  params, model_dir = run
  copy = tmp_path / 'run'
  shutil.copytree(model_dir, copy)
  return params, copy


@pytest.mark.slow
def test_half_written_checkpoint_stops_the_command(two_step_run, tmp_path):
  # Checked in load_experiment, before anything runs; a command stops there
  # with its one line and exit 2 (test_train_cli).
  params, model_dir = _copy_run(two_step_run, tmp_path)
  os.remove(model_dir / 'ckpt-2.data-00000-of-00001')
  with pytest.raises(CheckpointError) as e:
    checks.check_inputs(params, 'train', str(model_dir))
  assert f'{model_dir}/ckpt-2.data-00000-of-00001 missing' in str(e.value)
  # The index alone missing: TensorFlow would start again from step 0.
  os.remove(model_dir / 'ckpt-2.index')
  with pytest.raises(CheckpointError,
                     match=r'ckpt-2\.index is missing'):
    checks.check_inputs(params, 'train', str(model_dir))


@pytest.mark.slow
def test_truncated_checkpoint_is_named(two_step_run, tmp_path):
  params, model_dir = _copy_run(two_step_run, tmp_path)
  _damage(str(model_dir / 'ckpt-2.data-00000-of-00001'), 'truncate')
  params = params.replace(trainer={'train_steps': 4})
  checks.check_inputs(params, 'train', str(model_dir))  # the files are there
  with pytest.raises(CheckpointError) as e:
    _train_in_process(params, model_dir)
  assert f'--model_dir: checkpoint {model_dir}/ckpt-2 is damaged' in str(
      e.value)


def test_truncated_init_checkpoint_is_named(upstream, tmp_path):
  damaged = tmp_path / 'upstream'
  shutil.copytree(upstream, damaged)
  _damage(str(damaged / 'ckpt-1.data-00000-of-00001'), 'truncate')
  task = task_factory.get_task(h.retinanet_config(str(damaged)).task)
  model = task.build_model()
  before = [v.numpy() for v in model.backbone.weights]
  with pytest.raises(CheckpointError,
                     match=rf'{damaged}/ckpt-1 cannot be read'):
    task.initialize(model)
  # Nothing was assigned.
  for v, value in zip(model.backbone.weights, before):
    np.testing.assert_array_equal(v.numpy(), value)



def test_a_run_that_cannot_restore_writes_nothing(upstream, tiny_world,
                                                  tmp_path):
  """The restore fails after the model is built (the damage is only seen
  when reading): a fresh model_dir is left as it was, absent."""
  damaged = tmp_path / 'upstream'
  shutil.copytree(upstream, damaged)
  _damage(str(damaged / 'ckpt-1.data-00000-of-00001'), 'truncate')
  params = rh.tiny_params(str(damaged), tiny_world, steps=1, batch=2,
                          eval_data=False)
  with pytest.raises(CheckpointError, match='cannot be read'):
    _train_in_process(params, tmp_path / 'run')
  assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('signum, code, said', [
    (signal.SIGTERM, 143, 'error: SIGTERM: stopped\n'),
    (signal.SIGINT, 130, 'error: Ctrl-C: stopped\n')])
def test_every_command_cleans_up_on_sigterm_as_on_ctrl_c(tmp_path, capsys,
                                                          signum, code, said):
  """What export, analyse, report, train ... share (`exits_on_error`): a
  half-written output is removed and the command ends in one line."""
  target = tmp_path / 'export'

  @errors.exits_on_error
  def command():
    with files.atomic_directory(str(target)) as staging:
      (pathlib.Path(staging) / 'saved_model.pb').write_text('half')
      # To this thread: with os.kill (any thread of the process) one full
      # run saw the command finish and return 0; the cause was not found.
      signal.raise_signal(signum)
      time.sleep(5)  # the signal arrives first
    return 0

  handler = signal.getsignal(signal.SIGTERM)
  # Ctrl-C as a terminal delivers it, to Python's default handler.
  interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    assert command() == code, f'SIGINT handler before: {interrupt}'
  finally:
    signal.signal(signal.SIGINT, interrupt)
  assert capsys.readouterr().err == said
  assert os.listdir(tmp_path) == []
  assert signal.getsignal(signal.SIGTERM) is handler  # restored


def _poison_third_step(monkeypatch):
  """The loss of training step 3 (and so its gradients) is NaN."""
  calls = tf.Variable(0, trainable=False)
  build_losses = detection.ReuseRetinaNetTask.build_losses

  def poisoned(self, *args, **kwargs):
    loss, *others = build_losses(self, *args, **kwargs)
    call = calls.assign_add(1)  # only training steps run in these tests
    return (loss * tf.where(call == 3, np.nan, 1.0), *others)

  monkeypatch.setattr(detection.ReuseRetinaNetTask, 'build_losses', poisoned)


def _finite(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return all(np.all(np.isfinite(reader.get_tensor(k)))
             for k, dtype in reader.get_variable_to_dtype_map().items()
             if dtype.is_floating)


@pytest.mark.slow
def test_nan_loss_stops_naming_the_step(upstream, tiny_world, tmp_path,
                                        monkeypatch):
  _poison_third_step(monkeypatch)
  params = rh.tiny_params(upstream, tiny_world, steps=4, batch=2,
                          eval_data=False)
  model_dir = tmp_path / 'run'
  with pytest.raises(nan_guard.NonFiniteLossError) as e:
    _train_in_process(params, model_dir)
  message = str(e.value)
  assert 'The training loss is nan at step 3' in message
  assert f'{model_dir}/ckpt-2, is from before it' in message
  assert 'trainer.recovery_max_trials' in message
  # No checkpoint was written with the NaN in it.
  latest = tf.train.latest_checkpoint(str(model_dir))
  assert latest.endswith('ckpt-2') and _finite(latest)


@pytest.mark.slow
def test_nan_loss_skipped_with_recovery(upstream, tiny_world, tmp_path,
                                        monkeypatch, caplog):
  _poison_third_step(monkeypatch)
  params = rh.tiny_params(upstream, tiny_world, steps=4, batch=2,
                          eval_data=False)
  params.trainer.recovery_max_trials = 1
  model_dir = tmp_path / 'run'
  _train_in_process(params, model_dir)
  assert 'The training loss is nan at step 3. Going back to' in caplog.text
  latest = tf.train.latest_checkpoint(str(model_dir))
  assert rh.checkpoint_step(latest) == 4 and _finite(latest)


@pytest.mark.slow
@pytest.mark.parametrize('existing', [False, True])
def test_full_disk_during_export(two_step_run, tmp_path, monkeypatch,
                                 existing):
  params, model_dir = two_step_run
  export_dir = tmp_path / 'export'
  if existing:  # an earlier export, to be replaced
    export_dir.mkdir()
    (export_dir / 'saved_model.pb').write_text('earlier export')

  def full_disk(export_dir, **unused_kwargs):
    partial = os.path.join(export_dir, 'variables')
    os.makedirs(partial)
    path = os.path.join(partial, 'variables.data-00000-of-00001')
    with open(path, 'wb') as f:
      f.write(b'\0' * 1024)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

  monkeypatch.setattr(export_saved_model_lib, 'export_inference_graph',
                      full_disk)
  with pytest.raises(export_saved_model.ExportError) as e:
    export_saved_model.export(params, str(model_dir), str(export_dir),
                              overwrite=existing)
  message = str(e.value)
  assert f'export_dir {export_dir}: writing the SavedModel failed at ' \
         f'{tmp_path}/.export.tmp-' in message
  assert 'variables.data-00000-of-00001: No space left on device' in message
  assert os.listdir(tmp_path) == (['export'] if existing else [])
  if existing:
    assert (export_dir / 'saved_model.pb').read_text() == 'earlier export'
