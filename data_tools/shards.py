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

"""The sharded TFRecord writer shared by the converters, all or nothing.

Shards (and any companion file, e.g. a label list) are written under hidden
temporary names next to their final names and renamed only when every one of
them is complete; on any error, Ctrl-C or SIGTERM all temporaries are
removed, so a failed conversion leaves no output (and the temporaries of a
conversion killed outright are removed by the next one). An output prefix
owns its shards: existing shards and companion files, and shards of an
earlier conversion to it under other names (another --num_shards), are an
error unless `overwrite`, which removes the latter once the new ones are in
place (`check_outputs`, which the converters call before their work); a second conversion to the same prefix
while one runs is refused (a lock file beside the shards). Used by the
converters; not a command of its own.
"""

import contextlib
import glob
import os
import resource
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import tensorflow as tf

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.data_tools import io_utils
from official_projects_backbone_reuse.data_tools.cli import DataError
from official_projects_backbone_reuse.data_tools.io_utils import Progress


def max_shards() -> int:
  """Returns the most shards a conversion may write at once.

  Every shard is open while writing: the process's open-file limit
  (`ulimit -n`), less room for everything else it has open."""
  return max(1, resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 64)


def check_num_shards(num_shards: int, total: Optional[int] = None) -> None:
  """Checks --num_shards.

  A DataError unless 1 <= num_shards <= max_shards() and, given the
  number of records, at most that (a shard with none would be written)."""
  if not 1 <= num_shards <= max_shards():
    raise DataError(f'--num_shards={num_shards}: expected 1 to '
                    f'{max_shards()} (each shard is an open file while '
                    'writing; see ulimit -n)')
  if total is not None and num_shards > total:
    raise DataError(f'--num_shards={num_shards}: expected at most the number '
                    f'of records, {total} (a shard would be empty)')


def shard_paths(output_prefix: str, num_shards: int) -> List[str]:
  """`{prefix}-{i:05d}-of-{n:05d}.tfrecord` for i in 0..n-1."""
  return [f'{output_prefix}-{i:05d}-of-{num_shards:05d}.tfrecord'
          for i in range(num_shards)]


def existing_shards(output_prefix: str) -> List[str]:
  """The shards of any conversion to `output_prefix`, sorted."""
  return sorted(glob.glob(glob.escape(output_prefix) +
                          '-[0-9]*-of-[0-9]*.tfrecord'))


@contextlib.contextmanager
def _lock(output_prefix: str) -> Iterator[None]:
  """Holds `.<name>.lock` beside the shards (its content: the pid)."""
  directory, name = os.path.split(os.path.abspath(output_prefix))
  path = os.path.join(directory, f'.{name}.lock')
  for _ in range(2):
    try:
      fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
      break
    except FileExistsError:
      with open(path) as f:
        owner = f.read().strip()
      if owner.isdigit() and files.running(int(owner)):
        raise DataError(f'{output_prefix}: another conversion (pid {owner}) '
                        'is writing to this prefix; wait for it to end')
      os.remove(path)  # left by a killed conversion
  else:
    raise DataError(f'{output_prefix}: cannot take the lock {path}')
  try:
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    yield
  finally:
    os.remove(path)


def check_outputs(output_prefix: str, num_shards: int,
                  inputs: Iterable[Tuple[str, str]] = (),
                  extra_files: Iterable[str] = (),
                  overwrite: bool = False) -> None:
  """Checks what a conversion to `output_prefix` will write.

  What a conversion to `output_prefix` will write, checked before its
  work (`files.check_outputs`): the shards and `extra_files`, against the
  conversion's `inputs` ((flag, path) pairs); shards of an earlier
  conversion to the prefix under other names need `overwrite` too, since
  input_path patterns would mix them with the new ones.

  Raises:
    DataError: naming --num_shards, --output_prefix or the file.
  """
  check_num_shards(num_shards)
  finals = shard_paths(output_prefix, num_shards)
  try:
    files.check_outputs([files.Output('--output_prefix', path)
                         for path in finals + list(extra_files)],
                        inputs, overwrite)
  except errors.UserError as e:
    raise DataError(str(e)) from e
  stale = [p for p in existing_shards(output_prefix) if p not in finals]
  if stale and not overwrite:
    raise DataError(f'{output_prefix}: {len(stale)} shard(s) of an earlier '
                    f'conversion to this prefix are there ({stale[0]}, ...), '
                    'which input_path patterns would mix with these; '
                    'remove them or pass --overwrite')


def write_tfrecord_shards(
    output_prefix: str,
    records: Iterable[bytes],
    num_shards: int,
    total: int,
    label: str = 'writing',
    extra_files: Optional[Dict[str, bytes]] = None,
    progress_stream=None,
    overwrite: bool = False,
) -> List[str]:
  """Writes `records` round-robin into `num_shards` shards, all or nothing.

  Args:
    output_prefix: shards are named `{prefix}-{i:05d}-of-{n:05d}.tfrecord`.
    records: the serialized tf.train.Examples; the iterator may raise, in
      which case nothing is left on disk (and it is closed, which stops the
      worker processes of `parallel.imap`).
    num_shards: number of shards (`check_num_shards`: 1 to max_shards(),
      at most `total`).
    total: number of examples expected, for the progress counter.
    label: text shown before the progress counter.
    extra_files: other outputs (path -> content) committed together with the
      shards, e.g. a label map.
    progress_stream: where the progress counter goes (default stderr).
    overwrite: replace existing shards and extra files, and remove the
      shards of an earlier conversion to the prefix under other names.

  Returns:
    The shard paths, in order.
  """
  check_num_shards(num_shards, total)
  check_outputs(output_prefix, num_shards, extra_files=extra_files or {},
                overwrite=overwrite)
  directory = os.path.dirname(os.path.abspath(output_prefix))
  made = io_utils.missing_folders(directory)  # removed again on an error
  try:
    os.makedirs(directory, exist_ok=True)
    if not os.access(directory, os.W_OK):
      raise PermissionError('not writable')
  except OSError as e:
    raise DataError(f'{output_prefix}: cannot write shards in {directory} '
                    f'({e.strerror or e})') from e
  with io_utils.removed_on_error(made), _lock(output_prefix):
    files.remove_stale_temporaries(directory, os.path.basename(output_prefix))
    return _write(output_prefix, records, num_shards, total, label,
                  extra_files or {}, progress_stream, overwrite)


def _write(output_prefix, records, num_shards, total, label, extra_files,
           progress_stream, overwrite) -> List[str]:
  finals = shard_paths(output_prefix, num_shards)
  stale = [p for p in existing_shards(output_prefix) if p not in finals]
  all_finals = finals + list(extra_files)
  temporaries = [files.temporary_path(path) for path in all_finals]
  writers = []
  progress = Progress(label, total, progress_stream)
  try:
    writers = [tf.io.TFRecordWriter(path) for path in temporaries[:num_shards]]
    for index, record in enumerate(records):
      writers[index % num_shards].write(record)
      progress.update(index + 1)
    for writer in writers:
      writer.close()
    writers = []
    for path, content in zip(temporaries[num_shards:], extra_files.values()):
      with open(path, 'wb') as f:
        f.write(content)
    with files.committing():
      for temporary, final in zip(temporaries, all_finals):
        os.replace(temporary, final)
      for path in stale:
        os.remove(path)
  except BaseException:
    getattr(records, 'close', lambda: None)()
    for writer in writers:
      writer.close()
    for path in temporaries:
      if os.path.lexists(path):
        os.remove(path)
    raise
  finally:
    progress.close()
  return finals
