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

"""Checks before a run: the runtime asked for, and the files it needs.

Everything here runs before anything is written (`load_run`, the config
path of a run), and fails with a ConfigError (a CheckpointError for a
checkpoint) naming the flag, key or file.
"""
import itertools
from typing import Any, Optional, Sequence, Tuple

from google.protobuf import message
import tensorflow as tf

from official.core import config_definitions as cfg

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.common import tfrecords
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import detection as detection_cfg
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.runtime import input_files
from official_projects_backbone_reuse.runtime import integrity
from official_projects_backbone_reuse.runtime.strategies import strategy_name
from official_projects_backbone_reuse.tasks import detection as detection_tasks

_DETECTION_TASKS = (detection_cfg.ReuseRetinaNetTask,
                    detection_cfg.ReuseMaskRCNNTask)
# --tpu values that mean the TPU of this machine (a TPU VM).
_LOCAL_TPU = ('', 'local')


def _is_remote(path: str) -> bool:
  return '://' in path


def load_run(experiment: Optional[str], config_files: Sequence[str] = (),
             params_override: str = '', *, mode: str,
             model_dir: Optional[str] = None, num_cpu_devices: int = 0,
             **parse) -> cfg.ExperimentConfig:
  """Loads the experiment of a run, with its runtime and files.

  `loading.load_experiment` for a run of `mode` in `model_dir`: also the
  runtime (strategy, TPU, devices) and the files the run reads (inputs,
  checkpoints, annotations). `parse`: load_experiment's other flags."""
  params = loading.load_experiment(experiment, config_files, params_override,
                                   for_run=True, **parse)
  check_runtime(params, mode, model_dir, num_cpu_devices)
  check_inputs(params, mode, model_dir)
  return params


def load_from_flags(flags_obj, num_cpu_devices: int = 0
                    ) -> cfg.ExperimentConfig:
  """`load_run` with Model Garden's flags (`official.common.flags`)."""
  return load_run(
      flags_obj.experiment, flags_obj.config_file or [],
      flags_obj.params_override or '', mode=flags_obj.mode,
      model_dir=flags_obj.model_dir, num_cpu_devices=num_cpu_devices,
      tpu=flags_obj.tpu,
      tf_data_service=getattr(flags_obj, 'tf_data_service', None),
      gin_files=flags_obj.gin_file or [], gin_params=flags_obj.gin_params or [])


def check_runtime(params: cfg.ExperimentConfig, mode: str,
                  model_dir: Optional[str],
                  num_cpu_devices: int = 0) -> None:
  """Fails with a ConfigError when the run cannot work where it is asked to.

  Args:
    params: the experiment config (`runtime.tpu` holds `--tpu`).
    mode: `--mode`.
    model_dir: `--model_dir`.
    num_cpu_devices: `--num_cpu_devices`.
  """
  name = strategy_name(params)
  runtime = params.runtime
  tpu = runtime.tpu
  if name == 'tpu' and tpu is None:
    raise ConfigError(
        'runtime.distribution_strategy=tpu needs --tpu: the Cloud TPU\'s '
        'name, grpc://<address>:8470, or local on a TPU VM.')
  if tpu and name != 'tpu':
    raise ConfigError(
        f'--tpu={tpu} is set but runtime.distribution_strategy is {name!r}, '
        'so the TPU would not be used: set '
        'runtime.distribution_strategy=tpu, or drop --tpu.')
  if name == 'tpu' and tpu not in _LOCAL_TPU:
    # A remote TPU's own hosts read the input and write the checkpoints.
    paths = [('--model_dir', model_dir)]
    for key, data in (('task.train_data', params.task.train_data),
                      ('task.validation_data', params.task.validation_data)):
      if ('train' if key == 'task.train_data' else 'eval') in mode:
        paths += [(f'{key}.input_path', p)
                  for p in input_files.patterns(data.input_path)]
    local = [f'{key}={path}' for key, path in paths
             if path and not _is_remote(path)]
    if local:
      raise ConfigError(
          f'--tpu={tpu}: the TPU\'s hosts cannot read or write local paths; '
          'use Cloud Storage (gs://bucket/...) for ' + ', '.join(local) + '.')
  generator = getattr(getattr(params.task, 'model', None),
                      'detection_generator', None)
  if (name == 'tpu' and 'eval' in mode and generator is not None
      and generator.nms_version == 'batched'):
    raise ConfigError(
        'task.model.detection_generator.nms_version=batched runs '
        'CombinedNonMaxSuppression, which XLA cannot compile, so a TPU '
        'cannot evaluate with it: set nms_version: v2 (the recipes\' own).')
  if runtime.num_gpus < 0:
    raise ConfigError(f'runtime.num_gpus={runtime.num_gpus} is negative.')
  if runtime.num_gpus and name in ('one_device', 'mirrored'):
    found = len(tf.config.list_physical_devices('GPU'))
    if runtime.num_gpus > found:
      raise ConfigError(
          f'runtime.num_gpus={runtime.num_gpus}, but TensorFlow finds '
          f'{found} GPU(s) on this machine.')
  if num_cpu_devices < 0:
    raise ConfigError(f'--num_cpu_devices={num_cpu_devices} is negative.')
  if num_cpu_devices > 1 and (name != 'mirrored' or runtime.num_gpus):
    raise ConfigError(
        f'--num_cpu_devices={num_cpu_devices} makes replicas of CPU devices '
        'for runtime.distribution_strategy=mirrored with runtime.num_gpus=0; '
        f'here the strategy is {name!r} with runtime.num_gpus='
        f'{runtime.num_gpus}.')
  if (name == 'multi_worker_mirrored' and 'eval' in mode
      and params.task.validation_data.sharding):
    raise ConfigError(
        f'--mode={mode} with runtime.distribution_strategy='
        'multi_worker_mirrored: each worker would compute the COCO metrics '
        'on its own part of the validation set only. Set '
        'task.validation_data.sharding=false (every worker evaluates the '
        'whole set), or evaluate with a separate --mode=continuous_eval job.')
  trainer = params.trainer
  if 'train' in mode and trainer.steps_per_loop < 1:
    raise ConfigError(
        f'trainer.steps_per_loop={trainer.steps_per_loop}: at least 1.')
  if ('train' in mode and trainer.summary_interval > 0
      and trainer.summary_interval % trainer.steps_per_loop):
    raise ConfigError(
        f'trainer.summary_interval={trainer.summary_interval} is not a '
        f'multiple of trainer.steps_per_loop={trainer.steps_per_loop}: '
        'summaries are written at the end of a loop of steps.')


def check_inputs(params: cfg.ExperimentConfig, mode: str,
                 model_dir: Optional[str]) -> None:
  """Checks that the files the run needs exist.

  Fails when a file the run needs is absent: every pattern of an
  `input_path`, the checkpoint to resume from, the annotation file, the
  `init_checkpoint`."""
  task = params.task
  if model_dir and tf.io.gfile.exists(model_dir) and not tf.io.gfile.isdir(
      model_dir):
    raise ConfigError(f'--model_dir={model_dir}: a file, not a directory.')
  needed = []
  if 'train' in mode:
    needed.append(('task.train_data.input_path', task.train_data))
  if 'eval' in mode:
    needed.append(('task.validation_data.input_path', task.validation_data))
  check_input_data(task, needed)
  if model_dir and ('train' in mode or mode == 'eval'):
    # A checkpoint to resume from (or to evaluate) must be complete.
    integrity.check_model_dir(model_dir)
  annotation_file = getattr(task, 'annotation_file', None)
  if 'eval' in mode and annotation_file and not tf.io.gfile.exists(
      annotation_file):
    raise ConfigError(f'task.annotation_file={annotation_file!r}: no such '
                      'file.')
  sources = [('task.init_checkpoint', getattr(task, 'init_checkpoint', None))]
  sources += [(f'task.init_checkpoints[{i}].checkpoint', entry.checkpoint)
              for i, entry in enumerate(
                  getattr(task, 'init_checkpoints', None) or [])]
  read = [(key, path) for key, checkpoint in sources if checkpoint
          for path in integrity.check_checkpoint_files(
              restore.resolve_checkpoint(checkpoint, key), key)]
  if model_dir:  # it is resumed from, never replaced: only the inputs rule
    read += [('task.annotation_file', annotation_file)] + [
        (key, path) for key, data in needed
        if not getattr(data, 'tfds_name', None)
        for path in input_files.files(data.input_path)]
    files.check_outputs([files.Output('--model_dir', model_dir, True)],
                        read, overwrite=True)
  if 'train' in mode and isinstance(task, _DETECTION_TASKS):
    # Before anything is written, not when the model is built (a minute).
    detection_tasks.check_upstream_config(task)


def check_input_data(task, needed: Sequence[Tuple[str, Any]]) -> None:
  """Checks the data configs the task reads.

  Fails when a data config of `needed` ((its input_path key, the data
  config), ...) has no batch, a pattern that matches no file, or (for
  detection) first records that are not what the task reads."""
  for key, data in needed:
    batch = getattr(data, 'global_batch_size', 1)
    if batch < 1:
      raise ConfigError(f'{key.rpartition(".")[0]}.global_batch_size={batch}:'
                        ' expected at least 1.')
    if getattr(data, 'tfds_name', None):
      continue
    if not input_files.patterns(data.input_path):
      raise ConfigError(f'{key} is empty.')
    missing = input_files.unmatched(data.input_path)
    if missing:
      raise ConfigError(f'{key}: {", ".join(map(repr, missing))} matches no '
                        'file.')
  if isinstance(task, _DETECTION_TASKS):
    for key, data in needed:
      if (not getattr(data, 'tfds_name', None) and
          getattr(data, 'file_type', 'tfrecord') == 'tfrecord'):
        check_detection_records(key, data.input_path, task.model.num_classes,
                                getattr(task.model, 'include_mask', False))


# Features every Model Garden detection example has (TfExampleDecoder).
DETECTION_FEATURES = ('image/encoded', 'image/object/bbox/xmin',
                      'image/object/class/label')
SAMPLED_RECORDS = 64


def check_detection_records(key: str, input_path, num_classes: int,
                            masks: bool = False) -> None:
  """Checks the first records of a detection input.

  The first SAMPLED_RECORDS records of `input_path` are detection
  examples, with boxes among them, of classes the model has (and, `masks`,
  a mask per box): classification records or labels beyond num_classes
  would train on nothing, silently, and a mask head on records without
  masks fails a minute later inside the input pipeline. (A damaged file is
  left to `integrity`, which names every one.)"""
  seen, boxes = 0, 0
  paths = input_files.files(input_path)
  for path in paths:
    for record in itertools.islice(tfrecords.read_records(path),
                                   SAMPLED_RECORDS - seen):
      try:
        feature = tf.train.Example.FromString(record).features.feature
      except message.DecodeError:
        break  # damaged (CRCs are not checked here): integrity's report
      missing = [f for f in DETECTION_FEATURES if f not in feature]
      if missing:
        raise ConfigError(
            f'{key}: {path} holds records without {missing[0]!r}: not '
            'Model Garden detection examples (classification TFRecords?).')
      labels = feature['image/object/class/label'].int64_list.value
      outside = [l for l in labels if not 0 < l < num_classes]
      if outside:
        raise ConfigError(
            f'{key}: {path}: a box of class {outside[0]} is not a class of '
            f'the model (task.model.num_classes={num_classes}: classes '
            f'1..{num_classes - 1}).')
      found = len(feature['image/object/mask'].bytes_list.value)
      if masks and found != len(labels):
        raise ConfigError(
            f'{key}: {path} holds a record with {len(labels)} box(es) and '
            f'{found} instance mask(s) (image/object/mask), but the model '
            'has a mask head (task.model.include_mask: true): convert the '
            'data with masks (not --no_masks), or use a model without one.')
      boxes, seen = boxes + len(labels), seen + 1
    if seen >= SAMPLED_RECORDS:
      break
  if seen and not boxes:
    raise ConfigError(f'{key}: the first {seen} records hold no boxes at '
                      'all: nothing to learn from.')
  if paths and not seen and all(tf.io.gfile.stat(p).length == 0
                                for p in paths):
    raise ConfigError(f'{key}: its {len(paths)} file(s) ({paths[0]}, ...) '
                      'hold no records at all.')
