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

"""Running `train.py` in subprocesses, and reading what it logged and wrote.

The tests write the whole tiny experiment config to a YAML file (Model
Garden's `params.yaml` form) and pass it with `--config_file`, so that a
subprocess trains exactly the config the test built.
"""
import ast
import os
import re
import socket
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

import tensorflow as tf

from official.core import task_factory
from official.modeling import hyperparams

from tests import reuse_helpers as h

TRAIN_MODULE = 'official_projects_backbone_reuse.train'
_TRAIN_LOG = (r"train \| step:\s+(\d+) \| steps/sec.*?'{key}': "
              r'np\.float32\(([^)]+)\)')


def tiny_params(upstream_dir, world, steps=4, batch=4, eval_data=True):
  """The tiny frozen RetinaNet: 128x128 images, a checkpoint every 2 steps."""
  params = h.set_data(h.retinanet_config(upstream_dir),
                      world.det_train_pattern,
                      world.det_val_pattern if eval_data else None,
                      batch=batch, steps=steps)
  params.trainer.steps_per_loop = 2
  params.trainer.summary_interval = 2
  params.trainer.checkpoint_interval = 2
  params.trainer.validation_interval = steps
  if eval_data:
    params.task.annotation_file = world.det_val_json
  return params


def write_config(params, path) -> str:
  hyperparams.save_params_dict_to_yaml(params, str(path))
  return str(path)


def train_command(config_file, model_dir, *args, mode='train',
                  module=TRAIN_MODULE) -> List[str]:
  return python_m(module, '--experiment=backbone_reuse_retinanet',
                  f'--config_file={config_file}', f'--mode={mode}',
                  f'--model_dir={model_dir}', *args)


def environment(**extra) -> Dict[str, str]:
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  env.pop('TF_CONFIG', None)
  env.update(extra)
  return env


def python_m(module: str, *args: str) -> List[str]:
  """The command line that runs `python -m module args...` in this venv."""
  return [sys.executable, '-m', module, *args]


def run(command, timeout=300, cwd=h.REPO,
        **extra_env) -> subprocess.CompletedProcess:
  """Runs a command to its end (the tests' one way to run one), output
  captured, TensorFlow's C++ logs quiet, no TF_CONFIG inherited."""
  return subprocess.run(command, cwd=cwd, env=environment(**extra_env),
                        capture_output=True, text=True, timeout=timeout,
                        check=False)


def modules_imported(statements: str, prefixes: Tuple[str, ...]
                     ) -> Tuple[str, List[str]]:
  """Runs `statements` in a fresh Python: (its stdout, the modules whose
  names start with one of `prefixes` that it imported)."""
  code = (f'{statements}\nimport sys\nprint(sorted(m for m in sys.modules '
          f'if m.startswith({prefixes!r})), file=sys.stderr)')
  proc = run([sys.executable, '-c', code])
  assert proc.returncode == 0, proc.stderr[-2000:]
  return proc.stdout, ast.literal_eval(proc.stderr.strip().splitlines()[-1])


def train_losses(log: str, key: str = 'training_loss') -> Dict[int, float]:
  """{global step: the loss `key`} from Model Garden's controller log."""
  pattern = re.compile(_TRAIN_LOG.format(key=re.escape(key)), re.S)
  return {int(s): float(v) for s, v in pattern.findall(log)}


def free_ports(count: int) -> List[int]:
  sockets = []
  for _ in range(count):
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    sockets.append(s)
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def checkpoint_step(prefix: str) -> int:
  return int(tf.train.load_checkpoint(prefix).get_tensor(
      'global_step/.ATTRIBUTES/VARIABLE_VALUE'))


def restored_detector(params, checkpoint: Optional[str]):
  """The detector of `params` with the weights of a training checkpoint."""
  model = task_factory.get_task(params.task).build_model()
  tf.train.Checkpoint(model=model).read(checkpoint).expect_partial()
  return model
