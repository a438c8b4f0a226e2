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

"""What both jobs share: steps, sizes and the small world.

Running a step as its own logged process, the sizes of the small world,
and the world itself (steps 1-3).

A job launches the project's commands, each step what a user would run; it
registers nothing with Model Garden and builds no model itself.
"""
import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import List, Sequence

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.common.errors import UserError
from official_projects_backbone_reuse.configs import recipes
from official_projects_backbone_reuse.data_tools import cli
from official_projects_backbone_reuse.jobs import progress_lines


def small_experiment(name: str) -> str:
  """A YAML of `experiments/small/`."""
  return recipes.experiment_file('small', name)


@dataclasses.dataclass
class Scale:
  """Sizes of the small world; the defaults are the issue's minimums."""
  cls_images_per_class: int = 100
  cls_val_per_class: int = 20
  det_train_images: int = 500
  det_val_images: int = 100
  upstream_steps: int = 600
  detector_steps: int = 600


# A step's exit status when Ctrl-C or SIGTERM stopped it (our commands exit
# 128 + signal; a program killed by the signal, -signal): the exit status
# of the stop.
_STOPPED = {-signal.SIGINT: 130, 130: 130, -signal.SIGTERM: 143, 143: 143}


class StepFailed(UserError):
  """A step's process exited non-zero; the message holds its last error."""
  exit_code = 1


def stage(title: str) -> float:
  print(f'\n=== {title}', flush=True)
  return time.time()


def run_logged(cmd: List[str], log_path: str) -> dict:
  """Runs a command, logging its output.

  Full output goes to `log_path`, progress lines to stdout; returns what it
  cost: wall and CPU seconds, peak resident memory."""
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  print('$ ' + ' '.join(cmd), flush=True)
  progress = progress_lines.ProgressLines()
  start = time.time()
  proc = None
  with open(log_path, 'w', buffering=1) as log:
    try:
      # A stop landing inside Popen would leave its child running unseen.
      with errors.uninterrupted():
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                bufsize=1)
      for line in proc.stdout:
        log.write(line)
        shown = progress.feed(line)
        if shown:
          print('  ' + shown, flush=True)
      _, status, usage = os.wait4(proc.pid, 0)  # this child's own usage
      code = proc.returncode = os.waitstatus_to_exitcode(status)
    finally:  # Ctrl-C, or SIGTERM raised as an exception: stop the step too
      if proc is not None and proc.poll() is None:
        proc.terminate()
        proc.wait()
  # `python -m MODULE` is named by its module, a program by its name.
  name = (cmd[2] if len(cmd) > 2 and cmd[1].startswith('-')
          else os.path.basename(cmd[0]))
  if code in _STOPPED:  # the step alone was stopped: so is what runs it
    exit_code = _STOPPED[code]
    raise errors.Stopped(f'{errors.Stopped.name_of(exit_code)}: {name} was '
                         f'stopped (its whole log: {log_path})', exit_code)
  if code:
    with open(log_path) as f:
      lines = [line.strip() for line in f if line.strip()]
    # The step's own one-line error, else its last line.
    said = ([l for l in lines if l.startswith('error: ')] or lines or [''])[-1]
    raise StepFailed(f'{name} exited with {code}: {said} (its whole log: '
                     f'{log_path})')
  return {'wall_s': round(time.time() - start, 1),
          'cpu_s': round(usage.ru_utime + usage.ru_stime, 1),
          'peak_rss_mb': round(usage.ru_maxrss / 1024)}  # Linux: kB


def train_cmd(experiment: str, configs: List[str], mode: str,
              model_dir: str, overrides: List[str]) -> List[str]:
  return ([sys.executable, '-m', 'official_projects_backbone_reuse.train',
           f'--experiment={experiment}']
          + [f'--config_file={config}' for config in configs]
          + [f'--mode={mode}', f'--model_dir={model_dir}',
             '--params_override=' + ','.join(overrides)])


def write_summary(path: str, summary: dict) -> None:
  files.write_atomically(path, json.dumps(summary, indent=2))


def metrics(model_dir: str) -> dict:
  with open(os.path.join(model_dir, 'metrics.json')) as f:
    return json.load(f)


def command_inputs(cmd: List[str], *after: dict) -> dict:
  """Returns the inputs of a step that runs `cmd`.

  Its arguments (not the Python that runs them), the contents of its config
  files (a recipe edited since makes another step) and `after`, the inputs
  of the steps it reads."""
  arguments, configs, overrides = [], {}, []
  for arg in cmd[1:]:
    flag, _, value = arg.partition('=')
    if flag == '--config_file':  # where the package is installed aside
      with open(value, 'rb') as f:
        configs[os.path.basename(value)] = hashlib.sha256(
            f.read()).hexdigest()
      arg = f'{flag}={os.path.basename(value)}'
    elif flag == '--params_override':  # one by one: a change names its key
      overrides = value.split(',')
      continue
    arguments.append(arg)
  return {'arguments': arguments, 'config_files': configs,
          'params_override': overrides, 'after': list(after)}


def _differences(old, new, key: str = '') -> List[str]:
  """`key: old -> new` for each value that differs between two inputs."""
  if isinstance(old, dict) and isinstance(new, dict):
    return [d for k in sorted(set(old) | set(new))
            for d in _differences(old.get(k), new.get(k),
                                  f'{key}.{k}' if key else k)]
  if (isinstance(old, list) and isinstance(new, list)
      and len(old) == len(new)):
    return [d for i, (a, b) in enumerate(zip(old, new))
            for d in _differences(a, b, f'{key}[{i}]')]
  return [] if old == new else [f'{key}: {old!r} -> {new!r}']


STEPS_FILE = 'steps.json'  # what each step of a world was asked to make


@dataclasses.dataclass
class World:
  """Where the small world and the upstream classifier are in a workdir.

  A step is reused only when an earlier run made it from the same inputs
  (`done`): the inputs of each step are recorded in `steps.json` as it
  starts, so a re-run with other sizes or an edited recipe stops instead of
  reusing data or checkpoints made for other settings."""
  root: str
  times: dict = dataclasses.field(default_factory=dict)
  reused: List[str] = dataclasses.field(default_factory=list)
  inputs: dict = dataclasses.field(default_factory=dict)  # by step, this run

  def done(self, step: str, output: str, inputs: dict) -> bool:
    """Says whether `step` can be reused from an earlier run.

    Whether `step` finished in an earlier run from the same `inputs`
    (its last output, `output`, exists); then it is reused, and said so.
    Otherwise records `inputs` and returns False: the caller makes it.
    Raises a UserError when the step was begun or made from other inputs
    (or by a job too old to record them)."""
    # Portable: the same world moved elsewhere is the same world.
    inputs = json.loads(json.dumps(inputs).replace(self.root, '{workdir}'))
    self.inputs[step] = inputs
    path = self.path(STEPS_FILE)
    recorded = {}
    if os.path.exists(path):
      with open(path) as f:
        recorded = json.load(f)
    again = (f'use another --workdir, or delete {self.root} to make the '
             'world again.')
    if step in recorded and recorded[step] != inputs:
      changed = '; '.join(_differences(recorded[step], inputs)) or 'its order'
      raise UserError(f'--workdir={self.root}: its step {step!r} was made '
                      f'from other inputs than this run asks for ({changed}): '
                      + again)
    if os.path.exists(output):
      if step not in recorded:
        raise UserError(f'--workdir={self.root}: {output} was made by a job '
                        'that did not record its inputs (before '
                        f'{STEPS_FILE}), so it cannot be known to fit this '
                        'run: ' + again)
      print(f'  done before, reused: {output}', flush=True)
      self.reused.append(step)
      return True
    recorded[step] = inputs
    os.makedirs(self.root, exist_ok=True)
    files.write_atomically(path, json.dumps(recorded, indent=1,
                                            sort_keys=True))
    return False

  def path(self, *parts: str) -> str:
    return os.path.join(self.root, *parts)

  @property
  def records(self) -> str:
    return self.path('tfrecords')

  @property
  def logs(self) -> str:
    return self.path('logs')

  @property
  def upstream(self) -> str:
    return self.path('upstream')

  @property
  def detection(self) -> str:
    return self.path('data', 'detection')

  def annotations(self, split: str) -> str:
    """The COCO + LVIS v1 JSON of a detection split."""
    return os.path.join(self.detection, 'annotations', f'{split}.json')


def prepare_world(workdir: str, scale: Scale, total_steps: int) -> World:
  """Makes steps 1-3, shared by the default job and the LVIS job.

  The procedural dataset, its TFRecords and the upstream classifier (each
  reused when already done)."""
  # The data tools are imported only when a step runs: Model Garden's
  # converters import all of official.vision.
  # pylint: disable=g-import-not-at-top
  os.makedirs(workdir, exist_ok=True)
  world = World(os.path.abspath(workdir))
  data, records = world.path('data'), world.records

  t = stage(f'1/{total_steps} procedural dataset')
  dataset = dict(dataclasses.asdict(scale), seed=0)
  del dataset['upstream_steps'], dataset['detector_steps']
  if not world.done('dataset', os.path.join(data, 'dataset.json'), dataset):
    from official_projects_backbone_reuse.data_tools import make_procedural_dataset
    from official_projects_backbone_reuse.data_tools import parallel
    if cli.default_processes() > 1:
      # Step 2 converts in worker processes: their fork server imports
      # TensorFlow (seconds) beside this step, which draws on one core.
      parallel.start_server(
          'official_projects_backbone_reuse.data_tools.convert_detection')
    make_procedural_dataset.make_dataset(
        data, seed=0, cls_images_per_class=scale.cls_images_per_class,
        cls_val_per_class=scale.cls_val_per_class,
        det_train_images=scale.det_train_images,
        det_val_images=scale.det_val_images)
  world.times['dataset'] = time.time() - t

  t = stage(f'2/{total_steps} TFRecords')
  with open(os.path.join(data, 'dataset.json')) as f:
    class_names = json.load(f)['class_names']  # label = category id - 1
  if not world.done('tfrecords', os.path.join(records, 'done'),
                    {'after': [world.inputs['dataset']]}):
    from official_projects_backbone_reuse.data_tools import convert_classification
    from official_projects_backbone_reuse.data_tools import convert_detection
    shutil.rmtree(records, ignore_errors=True)
    for split in ('train', 'val'):
      convert_detection.convert_detection(
          world.annotations(split),
          os.path.join(world.detection, split, 'images'),
          os.path.join(records, f'det_{split}'),
          num_shards=detection_shards(scale, split),
          num_processes=cli.default_processes())
      convert_classification.convert_classification(
          os.path.join(data, 'classification', split),
          os.path.join(records, f'cls_{split}'), num_shards=2,
          class_names=class_names, num_processes=cli.default_processes())
    open(os.path.join(records, 'done'), 'w').close()
  world.times['tfrecords'] = time.time() - t

  t = stage(f'3/{total_steps} upstream: classification pre-training '
             '(Model Garden)')
  _pretrain(world, world.upstream, 'cls', scale.upstream_steps,
            len(class_names), 'upstream.log', world.inputs['tfrecords'])
  world.times['upstream'] = time.time() - t
  return world


def pretrain_cmd(world: World, model_dir: str, records: str,
                 train_steps: int, num_classes: int,
                 extra_overrides: Sequence[str] = ()) -> List[str]:
  """The upstream pre-training's command.

  Model Garden's classification task on `records`_{train,val}."""
  prefix = os.path.join(world.records, records)
  return train_cmd(
      'resnet_imagenet', [small_experiment('upstream_classification.yaml')],
      'train_and_eval', model_dir,
      [f'task.train_data.input_path={prefix}_train-*.tfrecord',
       f'task.validation_data.input_path={prefix}_val-*.tfrecord',
       f'task.model.num_classes={num_classes}',
       f'trainer.train_steps={train_steps}',
       f'trainer.validation_interval={train_steps}',
       f'trainer.checkpoint_interval={train_steps}',
       'trainer.optimizer_config.learning_rate.cosine.decay_steps='
       f'{train_steps}', *extra_overrides])


def _pretrain(world: World, model_dir: str, records: str, train_steps: int,
              num_classes: int, log: str, records_inputs: dict) -> None:
  cmd = pretrain_cmd(world, model_dir, records, train_steps, num_classes)
  if not world.done(os.path.basename(model_dir),
                    os.path.join(model_dir, 'metrics.json'),
                    command_inputs(cmd, records_inputs)):
    run_logged(cmd, os.path.join(world.logs, log))


def detection_shards(scale: Scale, split: str) -> int:
  """2 shards, or 1 for a split of one image (a shard may not be empty)."""
  return min(2, scale.det_train_images if split == 'train' else
             scale.det_val_images)


def job_arguments(description: str) -> argparse.ArgumentParser:
  """The flags of a job: --workdir and the sizes of the small world."""
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument('--workdir', default=os.path.join('runs', 'default_job'))
  for field in dataclasses.fields(Scale):
    parser.add_argument('--' + field.name, type=int, default=field.default)
  return parser


def scale_of(args: argparse.Namespace) -> Scale:
  """Returns the sizes the job's flags give, each at least 1.

  --workdir is checked too (before any step runs)."""
  files.check_output_path(args.workdir, '--workdir', folder=True)
  for field in dataclasses.fields(Scale):
    if getattr(args, field.name) < 1:
      raise UserError(f'--{field.name}={getattr(args, field.name)}: '
                      'expected at least 1.')
  return Scale(**{f.name: getattr(args, f.name)
                  for f in dataclasses.fields(Scale)})


def print_times(start: float, summary: dict) -> None:
  """The closing line of a job: wall time, each step's, what was reused."""
  print(f'wall time {time.time() - start:.0f} s; per step '
        f"{summary['seconds']}")
  if summary['reused_steps']:
    print(f"reused from an earlier run: {', '.join(summary['reused_steps'])}")
