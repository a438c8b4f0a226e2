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

"""The default job's five steps, end to end, at a tiny scale, run by the
installed package from another working directory; and its re-run."""
import json
import os
import sys

from PIL import Image

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.jobs import default_job
from official_projects_backbone_reuse.jobs import lvis_job
from official_projects_backbone_reuse.jobs import progress_lines
from official_projects_backbone_reuse.jobs import steps
import pytest
from tests.conftest import TINY_JOB

_ALL_STEPS = ['dataset', 'tfrecords', 'upstream', 'detector', 'export',
              'detect']


@pytest.mark.slow
def test_default_job_runs_every_step(tiny_default_job):
  workdir, code, out = tiny_default_job
  assert code == 0, out[-3000:]
  summary = json.loads((workdir / 'summary.json').read_text())
  assert 0.0 <= summary['frozen_detector']['AP'] <= 1.0
  assert 0.0 <= summary['upstream_top1'] <= 1.0
  assert summary['reused_steps'] == []
  assert 'frozen-backbone detector' in out
  # The frozen backbone was restored, not trained from scratch.
  assert 'Restored 152 backbone variables' in out
  # Progress lines carry the loss, and the evaluation its AP.
  lines = out.splitlines()
  assert any('train | step:' in l and 'training_loss ' in l for l in lines)
  assert any('eval | step:' in l and ' AP ' in l for l in lines)
  assert not any(l.rstrip().endswith('output:') for l in lines)
  (drawn,) = os.listdir(summary['drawn_detections'])
  with Image.open(os.path.join(summary['drawn_detections'], drawn)) as image:
    assert min(image.size) >= 256
  assert os.path.exists(os.path.join(summary['saved_model'],
                                     'saved_model.pb'))


@pytest.mark.slow
def test_a_second_run_reuses_every_step(tiny_default_job, monkeypatch,
                                        capsys):
  workdir, code, _ = tiny_default_job
  assert code == 0
  before = json.loads((workdir / 'summary.json').read_text())

  def must_not_run(*args, **kwargs):
    raise AssertionError(f'a finished step ran again: {args[:1]}')

  # Every way a step runs: a command, or the data tools in this process.
  monkeypatch.setattr(steps, 'run_logged', must_not_run)
  monkeypatch.setattr(steps, 'stage', lambda title: 0.0)
  from official_projects_backbone_reuse.data_tools import convert_detection
  from official_projects_backbone_reuse.data_tools import make_procedural_dataset
  monkeypatch.setattr(make_procedural_dataset, 'make_dataset', must_not_run)
  monkeypatch.setattr(convert_detection, 'convert_detection', must_not_run)
  assert default_job.main([f'--workdir={workdir}'] + TINY_JOB) == 0
  again = json.loads((workdir / 'summary.json').read_text())
  assert again['reused_steps'] == _ALL_STEPS
  assert again['frozen_detector'] == before['frozen_detector']
  assert 'reused from an earlier run: ' + ', '.join(_ALL_STEPS) in (
      capsys.readouterr().out)


@pytest.mark.slow
@pytest.mark.parametrize('flag, said', [
    ('--det_train_images=17', "its step 'dataset' was made from other inputs "
     'than this run asks for (det_train_images: 16 -> 17)'),
    ('--detector_steps=5', "its step 'detector' was made from other inputs "
     "than this run asks for (params_override[4]: 'trainer.train_steps=4' -> "
     "'trainer.train_steps=5'; params_override[5]: "
     "'trainer.validation_interval=4' -> 'trainer.validation_interval=5'; "),
])
def test_a_run_with_other_settings_stops_instead_of_reusing(
    tiny_default_job, capsys, flag, said):
  """Reused data or checkpoints made for other sizes would be stale."""
  workdir, code, _ = tiny_default_job
  assert code == 0
  recorded = (workdir / steps.STEPS_FILE).read_text()
  flags = [f for f in TINY_JOB if f.split('=')[0] != flag.split('=')[0]]
  assert default_job.main([f'--workdir={workdir}', flag] + flags) == 2
  err = capsys.readouterr().err
  assert err.count('\n') == 1 and said in err, err
  assert f'use another --workdir, or delete {workdir}' in err
  assert (workdir / steps.STEPS_FILE).read_text() == recorded


def test_a_step_is_reused_only_when_made_from_the_same_inputs(tmp_path):
  world = steps.World(str(tmp_path))
  output = tmp_path / 'made'
  inputs = {'size': 1, 'where': f'{tmp_path}/data'}
  assert not world.done('step', str(output), inputs)  # recorded, to make
  assert not world.done('step', str(output), inputs)  # begun, not finished
  output.write_text('')
  assert world.done('step', str(output), inputs)
  assert world.reused == ['step']
  # Recorded relative to the world: the same world moved is the same.
  recorded = json.loads((tmp_path / steps.STEPS_FILE).read_text())
  assert recorded == {'step': {'size': 1, 'where': '{workdir}/data'}}
  with pytest.raises(errors.UserError, match=r"its step 'step' was made from "
                     r'other inputs than this run asks for \(size: 1 -> 2\)'):
    world.done('step', str(output), dict(inputs, size=2))
  (tmp_path / steps.STEPS_FILE).unlink()  # as a job before the record made it
  with pytest.raises(errors.UserError, match='did not record its inputs'):
    world.done('step', str(output), inputs)


def test_progress_lines_show_the_loss_and_ap():
  log = [
      'I1202 15:00:00.1 1 controller.py:291] train | step:      4 | '
      'steps/sec:    0.3 | output: \n',
      "    {'learning_rate': 0.01,\n",
      "     'training_loss': np.float32(1.8718)}\n",
      'train | step:      4 | steps/sec:    0.3 | output: \n',  # printed too
      "    {'learning_rate': 0.01,\n",
      "     'training_loss': np.float32(1.8718)}\n",
      'I1202 15:00:09.1 1 controller.py:343]  eval | step:      4 | '
      "steps/sec:    1.5 | eval time:    4.0 sec | output: {'AP': 0.1234, "
      "'AP50': np.float32(0.25), 'validation_loss': 2.5}\n",
      'an unrelated line\n',
  ]
  progress = progress_lines.ProgressLines()
  shown = [text for text in map(progress.feed, log) if text]
  assert shown == [
      'train | step:      4 | steps/sec:    0.3 | training_loss 1.872',
      'eval | step:      4 | steps/sec:    1.5 | eval time:    4.0 sec | '
      'validation_loss 2.5, AP 0.1234, AP50 0.25']


def test_a_failed_step_ends_the_job_with_its_error(tmp_path):
  log = tmp_path / 'logs' / 'step.log'
  command = [sys.executable, '-c',
             'import sys; print("working"); '
             'print("error: task.annotation_file=x.json: no such file.", '
             'file=sys.stderr); sys.exit(2)']
  with pytest.raises(steps.StepFailed) as e:
    steps.run_logged(command, str(log))
  assert e.value.exit_code == 1
  assert str(e.value) == (
      f'{command[2]} exited with 2: error: task.annotation_file=x.json: no '
      f'such file. (its whole log: {log})')
  assert 'working' in log.read_text()


@pytest.mark.parametrize('how, exit_code', [
    ('os.kill(os.getpid(), signal.SIGTERM)', 143),  # killed by the signal
    ('sys.exit(130)', 130),  # our commands' exit after Ctrl-C
])
def test_a_stopped_step_stops_what_runs_it(tmp_path, how, exit_code):
  """A step stopped on its own (`kill` of its pid) stops the job or study
  too, with the stop's exit status: a StepFailed would let a study go on
  to its next cell."""
  log = tmp_path / 'step.log'
  command = [sys.executable, '-c',
             f'import os, signal, sys; print("working", flush=True); {how}']
  with pytest.raises(errors.Stopped) as e:
    steps.run_logged(command, str(log))
  assert e.value.exit_code == exit_code
  assert str(e.value).endswith(f'was stopped (its whole log: {log})')
  assert 'working' in log.read_text()


@pytest.mark.parametrize('flag, said', [
    ('--workdir={file}', 'expected a folder to write, found a file'),
    ('--workdir={file}/runs', 'is a file'),
    ('--det_train_images=0', '--det_train_images=0: expected at least 1.'),
])
def test_bad_job_flags_end_before_any_step(tmp_path, capsys, flag, said):
  a_file = tmp_path / 'file'
  a_file.write_text('')
  for main in (default_job.main, lvis_job.main):
    assert main([flag.format(file=a_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and said in err and len(
        err.splitlines()) == 1
  assert os.listdir(tmp_path) == ['file']


def test_a_split_of_one_image_is_converted_to_one_shard():
  scale = steps.Scale(det_train_images=5, det_val_images=1)
  assert [steps.detection_shards(scale, split)
          for split in ('train', 'val')] == [2, 1]
