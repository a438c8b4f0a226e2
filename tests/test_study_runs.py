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

"""The study runner running: `before` commands, a failed cell, the world
made first, and a tiny study end to end (printed commands + collect, a cell
killed by SIGTERM and resumed, the tables equal to the cells'
metrics.json)."""
import csv
import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest

from official_projects_backbone_reuse.jobs import steps
from official_projects_backbone_reuse.modeling import parameters
from official_projects_backbone_reuse.study import runner
from official_projects_backbone_reuse.study import spec
from official_projects_backbone_reuse.study import tables
from tests import reuse_helpers as h
from tests import runtime_helpers as rh
from tests.test_study import RUNNER
from tests.test_study import _study
from tests.test_study import _write


def test_before_commands_run_once_in_order_and_a_failure_stops(
    tmp_path, monkeypatch, capsys):
  """What the cells need (data, a pre-training run) as commands of the
  study: each runs once, while its command is unchanged, before any cell."""
  def writes(name):
    return (f'{shlex.quote(sys.executable)} -c "open(\'{{workdir}}/{name}\', '
            f'\'w\').close()"')
  study_file = _write(tmp_path, _study(
      rows=[_study()['rows'][1]], initialisations=['frozen'],
      upstreams={'imagenet': '/c'}, seeds=[0], before=[
          {'name': 'first', 'command': writes('a')},
          {'name': 'then', 'command': writes('b')},
          {'name': 'pre-training', 'command':
           'backbone-reuse-train --model_dir={workdir}/pre --config_file='
           '{experiments}/small/retinanet_frozen.yaml'}]))
  study = spec.load(study_file)
  workdir = str(tmp_path / 'w')
  os.makedirs(workdir)
  train = study.before_command(study.before[2], workdir)
  assert train[0] == os.path.join(os.path.dirname(sys.executable),
                                  'backbone-reuse-train')  # this venv's
  assert train[2] == ('--config_file=' + os.path.join(
      h.REPO, 'experiments', 'small', 'retinanet_frozen.yaml'))
  # Printed first, as a user would launch them, then the cell.
  assert runner.main(['run', study_file, f'--workdir={workdir}',
                      '--print_commands']) == 0
  printed = capsys.readouterr().out.splitlines()
  assert len(printed) == 4 and printed[2].startswith(
      'backbone-reuse-train --model_dir=')
  assert printed[3].startswith('backbone-reuse-train --experiment=')

  ran = []
  real = steps.run_logged
  def record(command, log):
    ran.append(command)
    if 'backbone-reuse-train' in command[0]:
      raise steps.StepFailed('backbone-reuse-train exited with 2: error: x')
    return real(command, log)

  monkeypatch.setattr(steps, 'run_logged', record)
  with pytest.raises(steps.StepFailed, match='exited with 2: error: x'):
    runner.run_before(study, workdir)
  assert len(ran) == 3 and sorted(os.listdir(workdir)) == ['a', 'b', 'before']
  assert sorted(os.listdir(os.path.join(workdir, 'before'))) == [
      'first.done', 'first.log', 'then.done', 'then.log']
  capsys.readouterr()
  assert runner.main(['run', study_file, f'--workdir={workdir}']) == 1
  assert capsys.readouterr().err == (
      'error: the study stopped before its cells: backbone-reuse-train '
      'exited with 2: error: x\n')
  assert not os.path.exists(os.path.join(workdir, 'cells'))
  # Run again: the finished ones are reused; a changed command runs again.
  ran.clear()
  changed = dataclasses.replace(study, before=(
      study.before[0], dataclasses.replace(study.before[1],
                                           command=writes('c'))))
  runner.run_before(changed, workdir)
  assert [c[-1] for c in ran] == [
      f"open('{workdir}/c', 'w').close()"]
  assert 'done before, reused' in capsys.readouterr().out
  shipped = os.path.join(h.REPO, 'experiments', 'studies')
  assert len(spec.load(os.path.join(shipped, 'small_upstreams.yaml')
                       ).before) == 10


def test_a_failed_cell_is_reported_and_the_others_go_on(tmp_path, monkeypatch,
                                                        capsys):
  study = spec.load(_write(tmp_path, _study(
      rows=[_study()['rows'][1]], initialisations=['finetune', 'frozen'],
      upstreams={'imagenet': '/c'}, seeds=[0])))
  workdir = str(tmp_path / 'w')
  ran = []

  def fake_run(command, log_path):
    model_dir = next(a for a in command if a.startswith('--model_dir='))
    model_dir = model_dir.split('=', 1)[1]
    ran.append(model_dir)
    if 'finetune' in model_dir:
      raise steps.StepFailed('train.py exited with 2: error: bad data')
    os.makedirs(model_dir)
    with open(os.path.join(model_dir, 'metrics.json'), 'w') as f:
      json.dump({'AP': 0.25, 'AP50': 0.5}, f)
    with open(log_path, 'w') as f:  # orbit's rates: the first is tracing
      f.write(''.join(f'train | step: {s:6d} | steps/sec: {r:6.1f} | x\n'
                      for s, r in ((50, 0.1), (100, 2.0),
                                   (150, 2.5), (200, 4.0))))
    return {'wall_s': 90.0, 'cpu_s': 150.0, 'peak_rss_mb': 2048}

  monkeypatch.setattr(steps, 'run_logged', fake_run)
  # Its data are not there: this test is of a cell failing while it runs.
  monkeypatch.setattr(runner, 'check_cells', lambda *a, **k: None)
  monkeypatch.setattr(runner, 'parameter_counts', lambda study, workdir: {
      'small': {'total': parameters.ParameterCount(10, 4)}})
  monkeypatch.setattr(runner, 'step_gflops', lambda study, workdir, cells: {
      tables.flops_key(c): 12.5 for c in cells})
  assert runner.run(study, workdir) == 1
  assert len(ran) == 2
  said = capsys.readouterr()
  assert ('error: small | imagenet/finetune | seed 0: train.py exited with 2:'
          ' error: bad data') in said.err
  assert '| small | - | 25.0/50.0 |' in open(f'{workdir}/table1.md').read()
  cost = open(f'{workdir}/cost.md').read().splitlines()
  assert cost[2] == ('| small | imagenet/frozen | 0 | 200 | 12.5 | 0.400 | '
                     '1.5 | 2.5 | 2,048 |')
  assert len(cost) == 5  # the failed cell has no cost
  assert runner.run(study, workdir) == 1  # only the failed cell runs again
  assert len(ran) == 3 and 'finetune' in ran[-1]


def test_a_study_makes_its_world_first_and_reads_it(tmp_path, monkeypatch):
  study = spec.load(_write(tmp_path, _study(
      world=str(tmp_path / 'world'), rows=[_study()['rows'][1]],
      initialisations=['scratch', 'frozen'], seeds=[0],
      initialisation_overrides={'scratch': {
          'params_override': 'trainer.train_steps=6',
          'reason': 'a random backbone needs longer'}},
      upstreams={'large': '{world}/upstream_large'},
      params_override='task.annotation_file={world}/val.json')))
  scratch, cell = study.cells()
  assert study.command(cell, 'w')[-1] == (
      f'--params_override=task.annotation_file={tmp_path}/world/val.json,'
      f'trainer.train_steps=3,task.init_checkpoint={tmp_path}/world/'
      'upstream_large,task.train_data.seed=0')
  assert study.command(scratch, 'w')[-1] == (  # its own schedule wins
      f'--params_override=task.annotation_file={tmp_path}/world/val.json,'
      'trainer.train_steps=3,trainer.train_steps=6,task.train_data.seed=0')
  # What the tables build (parameters, FLOPs): the cells' own config.
  files, overrides = study.config(cell.row, 'frozen', 'w')
  assert files[-1].endswith('experiments/init/freeze.yaml')
  assert overrides == [f'task.annotation_file={tmp_path}/world/val.json',
                       'trainer.train_steps=3']
  made = []
  monkeypatch.setattr(steps, 'prepare_world', lambda root, scale, total_steps:
                      made.append((root, total_steps)) or root)
  assert runner.main(['prepare', study.path, '--workdir=w']) == 0
  assert made == [(f'{tmp_path}/world', 3)]


def _wait_for(path, proc, timeout=300):
  end = time.time() + timeout
  while time.time() < end and proc.poll() is None:
    if os.path.exists(path):
      return True
    time.sleep(0.1)
  return False


@pytest.mark.slow
def test_a_tiny_study_end_to_end(upstream, tiny_world, tmp_path, capsys):
  params = rh.tiny_params(upstream, tiny_world, steps=2, batch=2)
  params.trainer.override({'steps_per_loop': 1, 'summary_interval': 1,
                           'checkpoint_interval': 1})  # to resume from
  config = rh.write_config(params, tmp_path / 'tiny.yaml')
  # One row, two cells (the smallest grid with a Figure 4 curve): the
  # tables of several rows are tested on made-up metrics above.
  study = _write(tmp_path, {
      'rows': [{'name': 'FPN', 'experiment': 'backbone_reuse_retinanet',
                'config_files': [config]}],
      'initialisations': ['finetune', 'frozen'],
      'upstreams': {'tiny': upstream}, 'seeds': [0],
      'params_override': 'task.evaluation.type=lvis',  # saves detections
      'class_curves': {'val_annotations': tiny_world.det_val_json,
                       'train_annotations': tiny_world.det_train_json,
                       'sigma': 5}})
  workdir = tmp_path / 'study'
  command = rh.python_m(RUNNER, 'run', study, f'--workdir={workdir}')

  # Launched by the user, cell by cell: the printed commands, then collect.
  printed = rh.run(command + ['--print_commands'])
  lines = printed.stdout.splitlines()
  assert printed.returncode == 0 and len(lines) == 2, printed.stderr[-2000:]
  path = os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH']
  first = rh.run(shlex.split(lines[0]), PATH=path)
  assert first.returncode == 0, first.stderr[-3000:]
  assert runner.main(['collect', study, f'--workdir={workdir}']) == 0
  assert '1 of 2 cells finished' in capsys.readouterr().out
  assert len(list(csv.DictReader(open(workdir / 'table1.csv')))) == 2
  assert rh.run(command + ['--print_commands']).stdout.splitlines() == lines[1:]

  # `run` stopped by SIGTERM inside the second cell, then run again.
  second = workdir / 'cells' / 'FPN' / 'tiny_frozen' / 'seed0'
  with open(tmp_path / 'stopped.log', 'w') as log:
    proc = subprocess.Popen(command, cwd=h.REPO, env=rh.environment(),
                            stdout=log, stderr=subprocess.PIPE, text=True)
    assert _wait_for(second / 'ckpt-1.index', proc), (
        (tmp_path / 'stopped.log').read_text()[-3000:])
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
  assert proc.returncode == 143, err[-3000:]
  assert err.strip().splitlines()[-1] == (
      'error: SIGTERM: the study stopped at cell 2/2 (FPN | tiny/frozen | '
      'seed 0); run the same command again to go on from its last '
      'checkpoint.')
  assert not (second / 'metrics.json').exists()
  time.sleep(1)
  assert subprocess.run(['pgrep', '-f', '--', f'--model_dir={second}'],
                        check=False).returncode == 1  # the cell stopped too

  capsys.readouterr()
  # In this process: the runner's own import of TensorFlow is paid once.
  code = runner.main(['run', study, f'--workdir={workdir}'])
  again = capsys.readouterr()
  assert code == 0, (again.out + again.err)[-3000:]
  assert again.out.count('done before, reused') == 1
  assert f'restored from checkpoint: {second}/ckpt-' in (
      second / 'train.log').read_text()
  rows = list(csv.DictReader(open(workdir / 'table1.csv')))
  assert len(rows) == 2
  for cell in rows:
    column = cell['column'].replace('/', '_')
    with open(workdir / 'cells' / 'FPN' / column / 'seed0' /
              'metrics.json') as f:
      metrics = json.load(f)
    assert float(cell['mAP']) == pytest.approx(100 * metrics['AP'], abs=0.006)
    assert float(cell['AP50']) == pytest.approx(100 * metrics['AP50'],
                                                abs=0.006)
  assert '| FPN |' in (workdir / 'table3.md').read_text()
  assert (workdir / 'capacity.png').read_bytes()[:4] == b'\x89PNG'
  cost = (workdir / 'cost.md').read_text()
  assert cost.count(' | tiny/') == 1  # the cell launched by hand has none
  flops = json.loads((workdir / 'flops.json').read_text())
  assert list(flops) == ['FPN|frozen'] and flops['FPN|frozen'] > 0
  assert f' | {flops["FPN|frozen"]:,.1f} | ' in cost
  curves = workdir / 'curves' / 'FPN'  # Figure 4: frozen against fine-tuned
  assert (curves / 'relative_ap_bbox.png').read_bytes()[:4] == b'\x89PNG'
  assert next(csv.reader(open(curves / 'relative_ap_bbox.csv'))) == [
      'train_annotations', 'tiny/frozen']
