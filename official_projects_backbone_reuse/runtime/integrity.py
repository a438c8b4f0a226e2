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

"""Naming the damaged file: TFRecord shards and checkpoints.

TensorFlow reports a damaged TFRecord as "corrupted record at 223016" or
"truncated record at 223004", without the file, and a half-written
checkpoint deep inside a restore. Two kinds of checks, so that the error
names the file:

* cheap ones before a run (`check_model_dir`, `check_checkpoint_files`):
  the files a checkpoint needs exist, the `checkpoint` file of `--model_dir`
  points to a checkpoint that is there (TensorFlow would silently start from
  scratch otherwise);
* thorough ones only after a run failed (`explain_failure`): every record of
  every input file, every tensor of the checkpoint, are read back. They cost
  nothing in a run that works.
"""
import os
import re
from typing import List, Optional, Tuple

from absl import logging
import tensorflow as tf

from official.core import config_definitions as cfg

from official_projects_backbone_reuse.common.errors import CheckpointError
from official_projects_backbone_reuse.common.errors import UserError
from official_projects_backbone_reuse.common.errors import first_line
from official_projects_backbone_reuse.runtime import input_files

_RECORD_DAMAGE = re.compile(r'(corrupted|truncated) record at \d+')
_DATA_SHARD = re.compile(r'\.data-(\d{5})-of-(\d{5})$')


class DamagedInputError(UserError):
  """An input file is damaged; the message names it and its config key."""


def damaged_tfrecords(input_path, compression_type: str = ''
                      ) -> List[Tuple[str, str]]:
  """Finds the damaged TFRecord files of `input_path`.

  (file, what is wrong) for each damaged TFRecord file of `input_path`,
  found by reading every record back (checksums included)."""
  files = input_files.files(input_path)
  logging.info('Reading back %d input files to find the damaged one.',
               len(files))
  damaged = []
  for path in files:
    try:
      tf.data.TFRecordDataset(path, compression_type=compression_type).reduce(
          tf.constant(0, tf.int64), lambda n, _: n + 1)
    except tf.errors.OpError as e:
      found = _RECORD_DAMAGE.search(e.message)
      damaged.append((path, found.group(0) if found else first_line(e)))
  return damaged


def _data_configs(params: cfg.ExperimentConfig, mode: str):
  task = params.task
  if 'train' in mode and getattr(task, 'train_data', None):
    yield 'task.train_data', task.train_data
  if 'eval' in mode and getattr(task, 'validation_data', None):
    yield 'task.validation_data', task.validation_data


def check_input_files(params: cfg.ExperimentConfig, mode: str) -> List[str]:
  """One line per damaged input file of the run, naming file and key."""
  lines = []
  for key, data in _data_configs(params, mode):
    if getattr(data, 'tfds_name', None) or not data.input_path:
      continue
    file_type = getattr(data, 'file_type', 'tfrecord')
    if file_type not in ('tfrecord', 'tfrecord_compressed'):
      continue
    compression = 'GZIP' if file_type == 'tfrecord_compressed' else ''
    for path, reason in damaged_tfrecords(data.input_path, compression):
      lines.append(f'{path}: {reason} (a file of {key}.input_path='
                   f'{data.input_path})')
  return lines


def check_checkpoint_files(prefix: str, key: str) -> List[str]:
  """Checks that a checkpoint's files exist.

  Fails unless the index and every data shard of `prefix` exist; returns
  their paths."""
  index = prefix + '.index'
  if not tf.io.gfile.exists(index):
    raise CheckpointError(f'{key}: checkpoint {prefix} is incomplete: '
                          f'{index} is missing.')
  shards = tf.io.gfile.glob(prefix + '.data-*')
  counts = {int(m.group(2)) for m in map(_DATA_SHARD.search, shards) if m}
  expected = max(counts) if counts else 1
  present = {int(m.group(1)) for m in map(_DATA_SHARD.search, shards) if m}
  missing = [f'{prefix}.data-{i:05d}-of-{expected:05d}'
             for i in range(expected) if i not in present]
  if missing:
    raise CheckpointError(
        f'{key}: checkpoint {prefix} is incomplete (half-written or '
        f'partly deleted): {", ".join(missing)} missing.')
  return [index] + sorted(shards)


def check_model_dir(model_dir: str) -> None:
  """Checks the checkpoint state of `model_dir`.

  Fails when `model_dir`'s `checkpoint` file is unreadable or names a
  checkpoint whose files are missing, instead of starting from step 0."""
  state_file = os.path.join(model_dir, 'checkpoint')
  if not tf.io.gfile.exists(state_file):
    return
  try:
    state = tf.train.get_checkpoint_state(model_dir)
  except Exception as e:  # pylint: disable=broad-except
    raise CheckpointError(
        f'--model_dir: {state_file} cannot be read ({first_line(e)}); '
        'restore it, or delete it to start from step 0.') from e
  if state is None or not state.model_checkpoint_path:
    return
  # get_checkpoint_state has made the path relative to model_dir.
  prefix = state.model_checkpoint_path
  try:
    check_checkpoint_files(prefix, '--model_dir')
  except CheckpointError as e:
    raise CheckpointError(
        f'{e} It is the latest checkpoint named in {state_file}, which the '
        'run would resume from: restore its files, or delete it and its '
        'lines in that file to resume from an earlier one.') from e


def check_checkpoint(prefix: str) -> Optional[str]:
  """What is wrong with checkpoint `prefix` (every tensor read), or None."""
  try:
    check_checkpoint_files(prefix, 'checkpoint')
    reader = tf.train.load_checkpoint(prefix)
    for name in sorted(reader.get_variable_to_shape_map()):
      try:
        reader.get_tensor(name)
      except Exception as e:  # pylint: disable=broad-except
        return (f'tensor {name} cannot be read ({first_line(e)}); the data '
                f'files {prefix}.data-* are damaged or truncated')
  except CheckpointError as e:
    return str(e).split(': ', 1)[-1]
  except Exception as e:  # pylint: disable=broad-except
    return first_line(e)
  return None


def explain_failure(error: Exception, params: cfg.ExperimentConfig,
                    mode: str, model_dir: Optional[str]
                    ) -> Optional[Exception]:
  """An error naming the damaged file behind `error`, or None.

  Called after a run failed with a TensorFlow error: a damaged TFRecord
  message leads to reading back every input file; other read errors to
  reading back the checkpoint the run resumed from and `init_checkpoint`.
  """
  message = getattr(error, 'message', str(error))
  if _RECORD_DAMAGE.search(message):
    lines = check_input_files(params, mode)
    if lines:
      return DamagedInputError(
          'damaged input file(s) (the run stopped when it first read one):\n  '
          + '\n  '.join(lines))
    return None
  if not isinstance(error, (tf.errors.DataLossError, tf.errors.NotFoundError,
                            tf.errors.OutOfRangeError, IndexError)):
    return None
  candidates = []
  latest = tf.train.latest_checkpoint(model_dir) if model_dir else None
  if latest:
    candidates.append(('--model_dir', latest))
  init = getattr(params.task, 'init_checkpoint', None)
  if init:
    init = tf.train.latest_checkpoint(init) if tf.io.gfile.isdir(init) else init
    if init:
      candidates.append(('task.init_checkpoint', init))
  for key, prefix in candidates:
    reason = check_checkpoint(prefix)
    if reason:
      return CheckpointError(f'{key}: checkpoint {prefix} is damaged: '
                             f'{reason}.')
  return None
