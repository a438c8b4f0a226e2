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

"""A stop request (SIGTERM, Ctrl-C) is never swallowed, wherever it lands.

Each case raises the signal at one moment of a command, in this process
and deterministically (a scheduler's SIGTERM lands at any moment; these
are the moments where one was lost): the command ends with one line and
exit 143 (130), no output is committed, and a stopped training resumes
from its last checkpoint.
"""
import contextlib
import io
import os
import signal

import pytest
import tensorflow as tf
from tensorflow.python.autograph.impl import api as autograph_api

from official.core import task_factory

from official_projects_backbone_reuse import train
from data_tools import cli
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.runtime import nan_guard
from official_projects_backbone_reuse.serving import export_saved_model
from tests import runtime_helpers as rh


def _stop(signum=signal.SIGTERM, swallowed=False):
  """Raises the signal here, as if it arrived now; `swallowed`: as a
  `__del__` or a bare `except:` it lands in would lose its exception."""
  try:
    signal.raise_signal(signum)
  except BaseException:  # pylint: disable=broad-except
    if not swallowed:
      raise


def _stop_while_converting(monkeypatch, name=None):
  """The signal lands inside AutoGraph's conversion of function `name`
  (any, if None), the first time it is converted; AutoGraph's conversion
  catches `Exception` and would run the function unconverted."""
  convert = autograph_api._convert_actual  # pylint: disable=protected-access
  landed = []

  def converting(entity, program_ctx):
    if not landed and name in (None, getattr(entity, '__name__', None)):
      landed.append(entity)
      _stop()
    return convert(entity, program_ctx)

  monkeypatch.setattr(autograph_api, '_convert_actual', converting)
  return landed


@pytest.mark.parametrize('signum, code, said', [
    (signal.SIGTERM, 143, 'error: SIGTERM: stopped\n'),
    (signal.SIGINT, 130, 'error: Ctrl-C: stopped\n')])
def test_a_stop_while_autograph_converts_is_not_swallowed(
    tmp_path, capsys, monkeypatch, signum, code, said):
  convert = autograph_api._convert_actual  # pylint: disable=protected-access

  def converting(entity, program_ctx):
    _stop(signum)
    return convert(entity, program_ctx)

  monkeypatch.setattr(autograph_api, '_convert_actual', converting)

  def twice(x):  # runs converted or not: a lost stop would go unseen
    return x + x

  ran = []

  @errors.exits_on_error
  def command():
    with files.atomic_directory(str(tmp_path / 'out')) as staging:
      ran.append(int(tf.function(twice)(tf.constant(3))))
      open(os.path.join(staging, 'result'), 'w').close()
    return 0

  interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    assert command() == code
  finally:
    signal.signal(signal.SIGINT, interrupt)
  assert capsys.readouterr().err == said
  assert ran == [] and os.listdir(tmp_path) == []


def _returns(path):
  return 0


def _writes(path):
  files.write_atomically(str(path), 'complete?')
  return 0


def _fails_otherwise(path):
  raise ValueError('an error the lost stop caused')


@pytest.mark.parametrize('then', [_returns, _writes, _fails_otherwise])
def test_a_swallowed_stop_still_ends_the_command_as_a_stop(tmp_path, capsys,
                                                           then):
  """The Stopped is lost (a `__del__` it landed in); the command goes on,
  but commits no output and ends as stopped, not as done or failed."""

  @errors.exits_on_error
  def command():
    _stop(swallowed=True)
    return then(tmp_path / 'output.json')

  assert command() == 143
  assert capsys.readouterr().err == 'error: SIGTERM: stopped\n'
  assert os.listdir(tmp_path) == []
  assert errors.stop_requested() is None  # forgotten when the command ends


@pytest.mark.parametrize('then', [_returns, _fails_otherwise])
def test_a_data_command_says_nothing_was_written_however_the_stop_ends_it(
    tmp_path, capsys, then):
  """data_tools' commands say whether they wrote anything, also when the
  stop was lost or became another error on its way out."""

  def command():
    _stop(swallowed=True)
    return then(tmp_path / 'output.json')

  assert cli.run_main(command) == 143
  assert capsys.readouterr().err == (
      'error: SIGTERM: stopped; nothing was written\n')
  assert os.listdir(tmp_path) == []


def _stop_after_first(monkeypatch, module, name):
  """The signal lands after the first call of `module.name` returns."""
  real = getattr(module, name)
  calls = []

  def then_stop(*args, **kwargs):
    result = real(*args, **kwargs)
    calls.append(args)
    if len(calls) == 1:
      _stop()
    return result

  monkeypatch.setattr(module, name, then_stop)
  return calls


def test_a_stop_between_two_renames_of_a_commit_leaves_it_whole(
    tmp_path, capsys, monkeypatch):
  outputs = {str(tmp_path / name): name for name in ('a.json', 'b.json')}
  renames = _stop_after_first(monkeypatch, tf.io.gfile, 'rename')
  assert cli.run_main(lambda: files.write_all_atomically(outputs)) == 143
  assert len(renames) == 2
  assert capsys.readouterr().err == ('error: SIGTERM: stopped; its outputs '
                                     'were written whole before the stop\n')
  assert sorted(os.listdir(tmp_path)) == ['a.json', 'b.json']


def test_a_stop_while_a_folder_is_replaced_keeps_the_new_one_whole(
    tmp_path, monkeypatch):
  """Replacing a folder moves the old one aside, then the new one in: a
  stop between the two would leave neither."""
  folder = tmp_path / 'out'
  folder.mkdir()
  (folder / 'old').write_text('old')

  @errors.exits_on_error
  def command():
    with files.atomic_directory(str(folder)) as staging:
      with open(os.path.join(staging, 'new'), 'w') as f:
        f.write('new')
      _stop_after_first(monkeypatch, os, 'replace')
    return 0

  assert command() == 143
  assert os.listdir(tmp_path) == ['out']
  assert os.listdir(folder) == ['new']


def _train(params, model_dir):
  """`train` in this process, as its `main` runs it: the exit status."""
  return errors.exits_on_error(train.run_experiment)(
      params, 'train', str(model_dir), tf.distribute.get_strategy())


def _latest_step(model_dir):
  latest = tf.train.latest_checkpoint(str(model_dir))
  return latest and rh.checkpoint_step(latest)


@pytest.fixture(scope='module')
def stopped_runs(upstream, tiny_world, tmp_path_factory):
  """One model_dir per moment of `train` a SIGTERM lands at: (exit status,
  its latest checkpoint step, what stderr said), then the stopped-after-a-
  checkpoint run trained again to its end. 4 steps, 2 per loop, a
  checkpoint every 2."""
  params = rh.tiny_params(upstream, tiny_world, steps=4, batch=2,
                          eval_data=False)
  root = tmp_path_factory.mktemp('stopped')
  results = {}
  get_task = task_factory.get_task
  guard = nan_guard.NonFiniteLossGuard.__call__
  save = tf.train.CheckpointManager.save

  record = tf.train.CheckpointManager._record_state  # pylint: disable=protected-access
  files_written = []

  def stopped_before_the_state(self):
    if not files_written:  # the first save: its files are written, its
      files_written.append(True)  # state file (what a resume reads) not yet
      _stop()
    return record(self)

  def saved_then_stopped(self, *args, **kwargs):
    path = save(self, *args, **kwargs)
    _stop(swallowed=True)  # lost: the run must stop after its next loop
    return path

  moments = {
      'before the build': (task_factory, 'get_task',
                           lambda *a, **k: (_stop(), get_task(*a, **k))[1]),
      'while tracing': None,
      'after the first loop': (nan_guard.NonFiniteLossGuard, '__call__',
                               lambda *a: (_stop(), guard(*a))[1]),
      'after a checkpoint, swallowed': (tf.train.CheckpointManager, 'save',
                                        saved_then_stopped),
      'while a checkpoint is saved': (tf.train.CheckpointManager,
                                      '_record_state',
                                      stopped_before_the_state),
  }
  for moment, patch in moments.items():
    model_dir = root / moment.replace(' ', '_').replace(',', '')
    with pytest.MonkeyPatch.context() as monkeypatch:
      if patch is None:
        landed = _stop_while_converting(monkeypatch, 'train_step')
      else:
        monkeypatch.setattr(*patch)
      stderr = io.StringIO()
      with contextlib.redirect_stderr(stderr):
        status = _train(params, model_dir)
      if patch is None:
        assert landed, 'no train_step was converted'
    results[moment] = (status, _latest_step(model_dir), stderr.getvalue(),
                       model_dir)
  resumed = root / 'after_a_checkpoint_swallowed'
  loops_ended_at = []

  def recording(self, output):
    loops_ended_at.append(int(self._runner.trainer.global_step.numpy()))  # pylint: disable=protected-access
    return guard(self, output)

  with pytest.MonkeyPatch.context() as monkeypatch:
    monkeypatch.setattr(nan_guard.NonFiniteLossGuard, '__call__', recording)
    status = _train(params, resumed)
  results['resumed'] = (status, loops_ended_at, _latest_step(resumed),
                        resumed)
  results['params'] = params
  return results


@pytest.mark.slow
@pytest.mark.parametrize('moment, latest', [
    ('before the build', None), ('while tracing', None),
    ('after the first loop', None), ('after a checkpoint, swallowed', 2),
    ('while a checkpoint is saved', 2)])
def test_sigterm_stops_train_at_every_moment(stopped_runs, moment, latest):
  status, step, said, model_dir = stopped_runs[moment]
  assert (status, said) == (143, 'error: SIGTERM: stopped\n'), moment
  assert step == latest  # the lost stop still ended the run a loop later
  # A new model_dir without a checkpoint is not left behind half-made.
  assert model_dir.exists() == (latest is not None)


@pytest.mark.slow
def test_a_stopped_train_resumes_from_its_last_checkpoint(stopped_runs):
  status, loops_ended_at, latest, _ = stopped_runs['resumed']
  # run_experiment's value in train mode (no evaluation): no error, no stop
  assert status is None
  assert loops_ended_at == [4] and latest == 4  # steps 3-4 only


@pytest.mark.slow
@pytest.mark.parametrize('moment', ['while tracing', 'while saving',
                                    'while saving, swallowed'])
def test_sigterm_stops_export_and_leaves_nothing(stopped_runs, tmp_path,
                                                 capsys, monkeypatch, moment):
  model_dir, params = stopped_runs['resumed'][3], stopped_runs['params']
  if moment == 'while tracing':
    landed = _stop_while_converting(monkeypatch)
  else:
    save = tf.saved_model.save

    def saving(*args, **kwargs):
      save(*args, **kwargs)  # written, into the staging folder
      _stop(swallowed=moment.endswith('swallowed'))

    monkeypatch.setattr(tf.saved_model, 'save', saving)
  status = errors.exits_on_error(export_saved_model.export)(
      params, str(model_dir), str(tmp_path / 'export'))
  assert status == 143
  assert capsys.readouterr().err == 'error: SIGTERM: stopped\n'
  assert os.listdir(tmp_path) == []
  if moment == 'while tracing':
    assert landed  # in a Keras layer's call, traced into the SavedModel
