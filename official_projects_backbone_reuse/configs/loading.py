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

"""Loading an experiment config: the one path every command takes.

`load_experiment` is Model Garden's parsing (`train_utils.ExperimentParser`:
the registered experiment, each `--config_file` in order, `--tpu`,
`--tf_data_service`, then `--params_override`, all strict), the gin files and
bindings (as Model Garden's `train.py` applies them), and every check of this
project's tasks (their `validate()`). `train`, `export`, `report`, the jobs
and the studies all load through it (a run through `runtime.checks.load_run`,
which adds the runtime and the files the run reads), so they accept and
refuse the same things; any failure is one ConfigError naming the flag, file
or key.
"""
import types
from typing import Optional, Sequence

import gin
import tensorflow as tf
import yaml

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.core import train_utils
from official.modeling import hyperparams

from official.vision import configs as vision_configs  # pylint: disable=unused-import
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.common.errors import reason
from official_projects_backbone_reuse.configs import detection as detection_cfg
from official_projects_backbone_reuse.configs import validation

# What Model Garden's parsing raises for a bad key or value (yaml: a tab,
# a python/ tag, ...).
_PARSE_ERRORS = (KeyError, ValueError, TypeError, AttributeError,
                 tf.errors.OpError, yaml.YAMLError)


def check_experiment(experiment: Optional[str]) -> None:
  """Fails unless `experiment` is registered, listing this project's."""
  if not experiment:
    raise ConfigError('--experiment is required, e.g. '
                      'backbone_reuse_retinanet.')
  try:
    exp_factory.get_exp_config(experiment)
  except LookupError as e:
    ours = sorted(n for n in exp_factory._REGISTERED_CONFIGS  # pylint: disable=protected-access
                  if n.startswith('backbone_reuse'))
    raise ConfigError(f'unknown experiment --experiment={experiment!r}; this '
                      f'project registers {ours} (and Model Garden its '
                      'own).') from e


class _Flags(types.SimpleNamespace):
  """The flags Model Garden's parser reads; it asks `'name' in flags`."""

  def __contains__(self, name: str) -> bool:
    return hasattr(self, name)


class _Parser(train_utils.ExperimentParser):
  """Model Garden's parser, with errors that name the flag or file."""

  def base_experiment(self):
    check_experiment(self._flags_obj.experiment)
    return super().base_experiment()

  def parse_config_file(self, params):
    for path in self._flags_obj.config_file or []:
      if not tf.io.gfile.exists(path):
        raise ConfigError(f'--config_file={path}: no such file.')
      try:
        params = hyperparams.override_params_dict(params, path,
                                                  is_strict=True)
      except _PARSE_ERRORS as e:
        raise ConfigError(f'--config_file={path}: {reason(e)}') from e
    return params

  def parse_params_override(self, params):
    try:
      return super().parse_params_override(params)
    except _PARSE_ERRORS as e:
      raise ConfigError(f'--params_override: {reason(e)}') from e


def check_types(values: dict, defaults: dict, where: str = '') -> None:
  """Checks that keys whose default is a number or bool hold one.

  Model Garden keeps `num_classes: "twenty"` as a string and fails far
  later."""
  for key, value in values.items():
    default = defaults.get(key)
    name = f'{where}{key}'
    if isinstance(default, dict) and isinstance(value, dict):
      check_types(value, default, name + '.')
    elif (isinstance(default, (bool, int, float)) and value is not None and
          (isinstance(value, bool) != isinstance(default, bool) or
           not isinstance(value, (bool, int, float)))):
      kind = 'true or false' if isinstance(default, bool) else 'a number'
      raise ConfigError(f'{name}={value!r}: expected {kind} (like the '
                        f'default, {default!r}).')


def _apply_gin(gin_files: Sequence[str], gin_params: Sequence[str]) -> None:
  """Model Garden's train.py applies --gin_file / --gin_params first."""
  if not gin_files and not gin_params:
    return
  for path in gin_files or []:
    if not tf.io.gfile.exists(path):
      raise ConfigError(f'--gin_file={path}: no such file.')
  try:
    # Not finalized: a process may load several experiments (the tests).
    gin.parse_config_files_and_bindings(gin_files, gin_params,
                                        finalize_config=False)
  except Exception as e:  # pylint: disable=broad-except
    # gin raises ValueError, NameError, SyntaxError, ImportError, ...
    what = ' '.join(str(e).split())
    raise ConfigError(f'--gin_file/--gin_params: {what}') from e


def load_experiment(experiment: Optional[str],
                    config_files: Sequence[str] = (),
                    params_override: str = '', *,
                    tpu: Optional[str] = None,
                    tf_data_service: Optional[str] = None,
                    gin_files: Sequence[str] = (),
                    gin_params: Sequence[str] = (),
                    for_run: bool = False) -> cfg.ExperimentConfig:
  """The experiment config, parsed, validated and locked.

  Args:
    experiment: a registered experiment (`--experiment`).
    config_files: YAML files that override it, in order (`--config_file`).
    params_override: YAML/JSON string or file applied last.
    tpu: `--tpu`, into `runtime.tpu`.
    tf_data_service: `--tf_data_service`.
    gin_files: `--gin_file`.
    gin_params: `--gin_params`.
    for_run: also the values a run needs that a config alone does not (a
      checkpoint to restore, an annotation file); `runtime.checks.load_run`
      checks the rest of a run.

  Raises:
    ConfigError: one line naming the flag, file or key.
  """
  _apply_gin(gin_files, gin_params)
  flags_obj = _Flags(
      experiment=experiment,
      config_file=[str(path) for path in config_files or []],
      params_override=params_override, tpu=tpu,
      tf_data_service=tf_data_service)
  params = _Parser(flags_obj).parse()
  try:
    params.validate()
  except _PARSE_ERRORS as e:
    raise ConfigError(f'invalid experiment config: {reason(e)}') from e
  check_types(params.as_dict(),
              exp_factory.get_exp_config(experiment).as_dict())
  params.task.validate()  # this project's tasks: their own checks
  if isinstance(params.task, (detection_cfg.ReuseRetinaNetTask,
                              detection_cfg.ReuseMaskRCNNTask)):
    # One freeze_at from here on, written to the run's params.yaml.
    params.task.freeze_at = validation.task_freeze_at(params.task)
  if for_run and isinstance(params.task, (detection_cfg.ReuseRetinaNetTask,
                                          detection_cfg.ReuseMaskRCNNTask)):
    validation.check_task_config(params.task, for_run=True)
  if isinstance(params.task, (detection_cfg.BoxPretrainingRetinaNetTask,
                              detection_cfg.BoxPretrainingFasterRCNNTask)) and (
      params.task.box_pretraining.momentum_steps is None):
    params.task.box_pretraining.momentum_steps = params.trainer.train_steps
  params.lock()
  return params
