"""Loading experiment configs, with errors that say which flag or file.

Used by `train.py` and `export_saved_model.py`, so both accept and refuse the
same experiments, YAML files and overrides.
"""
from typing import Sequence

import tensorflow as tf

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import hyperparams


class ConfigError(ValueError):
  """The experiment config cannot be built; the message says where."""


def reason(error: Exception) -> str:
  """The readable part of a config error (KeyError quotes its message)."""
  return str(error.args[0] if isinstance(error, KeyError) and error.args
             else error)


def check_experiment(experiment: str) -> None:
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


def check_config_files(config_files: Sequence[str]) -> None:
  for path in config_files or []:
    if not tf.io.gfile.exists(path):
      raise ConfigError(f'--config_file={path}: no such file.')


def load_experiment(experiment: str, config_files: Sequence[str],
                    params_override: str = '') -> cfg.ExperimentConfig:
  """The registered experiment, overridden strictly by the YAML files in
  order and then by `params_override`; validated and locked."""
  check_experiment(experiment)
  check_config_files(config_files)
  params = exp_factory.get_exp_config(experiment)
  for path in config_files or []:
    try:
      params = hyperparams.override_params_dict(params, path, is_strict=True)
    except (KeyError, ValueError, TypeError, AttributeError) as e:
      raise ConfigError(f'--config_file={path}: {reason(e)}') from e
  try:
    params = hyperparams.override_params_dict(params, params_override,
                                              is_strict=True)
    params.validate()
  except (KeyError, ValueError, TypeError, AttributeError) as e:
    raise ConfigError(f'--params_override: {reason(e)}') from e
  params.lock()
  return params
