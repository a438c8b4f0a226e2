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

"""Inspects a classification checkpoint before any training starts.

backbone-reuse-inspect-checkpoint: what a classification checkpoint
holds, and whether a detector's backbone would restore from it.

  backbone-reuse-inspect-checkpoint PATH \
      [--experiment=E --config_file=F ... --params_override=...]

PATH is a checkpoint prefix, a directory of checkpoints (with or without
its `checkpoint` state file) or a Keras `.h5` / `.keras` weights file.
Prints, as JSON:
* `format`: `tf2` (a `tf.train.Checkpoint`, variables by object path, as
  Model Garden's trainer writes), `tf1` (variables by name, no object
  graph: TF1's `tf.train.Saver`, as the tensorflow/tpu checkpoints), or
  `keras_h5` / `keras_zip`;
* `variables` and `parameters`: how many, in all;
* `classifier`: the rank-2 kernel that ends the network (its name and
  shape) and so the label-space size, when there is one;
* `pre_training`: the backbone, normalisation and classes of the
  `params.yaml` beside it (Model Garden's trainer writes one), which say
  the architecture;
* `looks_like`: the architecture by the variable names where they say it
  (`efficientnet-b7/...`);
* with a detector config (`--experiment`, as `backbone-reuse-train`): the
  restore report the training restore would give (`restore`), or the one
  line that would stop it (`error`), the backbone checked as at run start;
  a Keras file is checked as the `weights` of the config's
  `keras_application` backbone.
Exit status 0 when the checkpoint reads (and, given a config, restores);
2 with one line naming the file otherwise.
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import json
import os
import re
import sys
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

from absl import app
from absl import flags
import h5py
import numpy as np
import tensorflow as tf

from official.core import task_factory
from official.modeling import hyperparams

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse import registry_imports  # pylint: disable=unused-import
from official_projects_backbone_reuse.checkpoints import tf1
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common.errors import CheckpointError
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.modeling import adapters
from official_projects_backbone_reuse.tasks import detection

_EXPERIMENT = flags.DEFINE_string('experiment', None, 'a detector experiment '
                                  'to check the restore against')
_CONFIG_FILE = flags.DEFINE_multi_string('config_file', [], 'as train.py')
_PARAMS_OVERRIDE = flags.DEFINE_string('params_override', '', 'as train.py')

# What of a pre-training's model config says what the backbone computes.
_PRE_TRAINING_KEYS = ('backbone', 'norm_activation', 'num_classes',
                      'input_size')


def _classifier(shapes: Dict[str, List[int]]) -> Optional[dict]:
  """Finds the classifier kernel among the shapes.

  The rank-2 kernel with the most outputs (classifiers end in one;
  convolutions, squeeze-excitation included, are rank 4)."""
  kernels = [(name, shape) for name, shape in shapes.items()
             if len(shape) == 2 and not _is_slot(name)
             and re.search(r'(kernel|weights|w)(:\d+)?(/\.ATTRIBUTES.*)?$',
                           name)]
  if not kernels:
    return None
  name, shape = max(kernels, key=lambda item: (item[1][1], item[0]))
  return {'variable': name, 'shape': shape, 'classes': shape[1]}


def _is_slot(name: str) -> bool:
  """An optimizer's slot or step, not a model weight."""
  return ('OPTIMIZER_SLOT' in name or name.startswith('optimizer/')
          or '/Momentum' in name or '/ExponentialMovingAverage' in name
          or name in ('global_step', 'save_counter/.ATTRIBUTES/VARIABLE_VALUE',
                      'global_step/.ATTRIBUTES/VARIABLE_VALUE'))


def _checkpoint_shapes(prefix: str) -> Tuple[str, Dict[str, List[int]]]:
  try:
    reader = tf.train.load_checkpoint(prefix)
  except (tf.errors.OpError, ValueError) as e:
    raise restore.unreadable(prefix, e) from e
  shapes = reader.get_variable_to_shape_map()
  fmt = 'tf2' if restore.GRAPH_KEY in shapes else 'tf1'
  return fmt, {k: list(v) for k, v in shapes.items()
               if k != restore.GRAPH_KEY and not _is_slot(k)}


def _keras_shapes(path: str) -> Tuple[str, Dict[str, List[int]]]:
  """Reads the weight shapes of a Keras weights file.

  Weight shapes by name of a Keras weights file (`.h5`, or the h5 inside
  a `.keras` zip)."""
  fmt = 'keras_zip' if zipfile.is_zipfile(path) else 'keras_h5'
  shapes = {}

  def visit(name, obj):
    if isinstance(obj, h5py.Dataset):
      shapes[name] = list(obj.shape)

  try:
    if fmt == 'keras_zip':
      with zipfile.ZipFile(path) as archive, archive.open(
          'model.weights.h5') as data, h5py.File(data, 'r') as f:
        f.visititems(visit)
    else:
      with h5py.File(path, 'r') as f:
        f.visititems(visit)
  except (OSError, KeyError) as e:
    raise CheckpointError(
        f'{path}: not a readable Keras weights file: {e}') from e
  return fmt, shapes


def _pre_training(prefix: str) -> Optional[dict]:
  path = os.path.join(os.path.dirname(prefix), 'params.yaml')
  if not tf.io.gfile.exists(path):
    return None
  model = hyperparams.read_yaml_to_params_dict(path).as_dict().get(
      'task', {}).get('model', {})
  return {'file': path, **{key: model[key] for key in _PRE_TRAINING_KEYS
                           if key in model}}


def describe(path: str) -> dict:
  """The description of the module docstring, without a detector."""
  if _is_keras_file(path):
    if not tf.io.gfile.exists(path):
      raise CheckpointError(f'{path}: no such file')
    source, pre_training = path, None
    fmt, shapes = _keras_shapes(path)
  else:
    source = restore.resolve_checkpoint(path, 'PATH')
    fmt, shapes = _checkpoint_shapes(source)
    pre_training = _pre_training(source)
  families = tf1.families(shapes)
  return {
      'checkpoint': source,
      'format': fmt,
      'variables': len(shapes),
      'parameters': int(sum(np.prod(s) for s in shapes.values())),
      'classifier': _classifier(shapes),
      'pre_training': pre_training,
      'looks_like': families or None,
  }


def _is_keras_file(path: str) -> bool:
  return path.endswith(('.h5', '.keras'))


def check_restore(path: str, experiment: str, config_files: Sequence[str],
                  params_override: str) -> List[str]:
  """Checks that the detector's backbone restores from `path`.

  The restore report of the detector's backbone from `path`, as the
  training restore gives it (upstream config checked first). A Keras
  weights file is a `keras_application` backbone's `weights`, loaded and
  checked layer by layer as the backbone is built."""
  keras_file = _is_keras_file(path)
  override = (f'task.model.backbone.keras_application.weights={path},'
              'task.init_checkpoint=' if keras_file
              else f'task.init_checkpoint={path}')
  params = loading.load_experiment(
      experiment, config_files,
      ','.join(o for o in (params_override, override) if o))
  if keras_file:
    if params.task.model.backbone.type != 'keras_application':
      raise CheckpointError(
          f'{path} is a Keras weights file, which a backbone of type '
          'keras_application loads (task.model.backbone.keras_application.'
          f'weights); this config\'s backbone is '
          f'{params.task.model.backbone.type!r}.')
    backbone = task_factory.get_task(params.task).build_model().backbone
    name = params.task.model.backbone.keras_application.model_name
    new = len(adapters.adapter_variables(backbone))
    return [f'Loaded {len(backbone.weights) - new} backbone variables of '
            f'tf_keras.applications.{name} from {path}, layer by layer; '
            f'{new} new by design.']
  detection.check_upstream_config(params.task)
  model = task_factory.get_task(params.task).build_model()
  report = restore.restore_backbone(
      model.backbone, path,
      new_by_design=adapters.adapter_variables(model.backbone))
  return report.details().splitlines()


@errors.exits_on_error
def main(argv: Sequence[str]) -> int:
  if len(argv) != 2:
    print('usage: backbone-reuse-inspect-checkpoint PATH [--experiment=E '
          '--config_file=F ...]', file=sys.stderr)
    return 2
  path = argv[1]
  try:
    found = describe(path)
  except errors.UserError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  status = 0
  if _EXPERIMENT.value:
    try:
      found['restore'] = check_restore(path, _EXPERIMENT.value,
                                       _CONFIG_FILE.value,
                                       _PARAMS_OVERRIDE.value)
    except errors.UserError as e:
      found['error'] = str(e)
      status = 2
  print(json.dumps(found, indent=1))
  return status


def run() -> None:
  """Console-script entry point."""
  app.run(lambda argv: sys.exit(main(argv)))


if __name__ == '__main__':
  run()
