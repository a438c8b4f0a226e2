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

"""Writing outputs so that no half-written file or folder is ever left.

Everything is first written under a hidden temporary name beside its final
name and renamed when complete; on any error (or Ctrl-C, or SIGTERM turned
into an exception) the temporaries are removed. Files go through
tf.io.gfile, so local and bucket (gs://) paths both work.
"""
import contextlib
import glob
import os
import posixpath
import re
import shutil
import uuid
from typing import Iterable, Iterator, Mapping, NamedTuple, Tuple, Union

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common.errors import UserError


_commits = 0  # outputs this process has renamed into place


def commits() -> int:
  """How many commits of outputs this process has made (`committing`).

  What a stopped command may say: it wrote nothing if this did not move
  while it ran."""
  return _commits


@contextlib.contextmanager
def committing() -> Iterator[None]:
  """The block that renames finished temporaries to their final names.

  A stop asked for before it is raised, so nothing is committed after a
  stop; one that comes during it is held back to its end, since a stop
  between two renames would leave half the outputs (or a replaced folder
  moved aside and lost)."""
  global _commits
  errors.raise_if_stopped()
  with errors.uninterrupted():
    yield
    _commits += 1


def temporary_path(path: str) -> str:
  """A hidden, unique temporary sibling of `path`."""
  directory, name = posixpath.split(path.rstrip('/'))
  return posixpath.join(directory, f'.{name}.tmp-{os.getpid()}-'
                        f'{uuid.uuid4().hex[:8]}')


_TEMPORARY = re.compile(r'\.tmp-(\d+)-[0-9a-f]{8}$')


def running(pid: int) -> bool:
  """Whether a process of this id runs (on this machine)."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # someone else's process
    return True
  return True


def remove_stale_temporaries(directory: str, name_prefix: str) -> None:
  """Removes temporaries that killed processes left beside outputs.

  Removes the temporaries beside outputs named `name_prefix`* that a
  process killed without cleanup (SIGKILL, power loss) left behind: those
  whose pid no longer runs. Local paths only."""
  for path in glob.glob(os.path.join(glob.escape(directory),
                                     glob.escape('.' + name_prefix) + '*')):
    found = _TEMPORARY.search(path)
    if found and not running(int(found.group(1))):
      if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
      else:
        os.remove(path)


def check_output_path(path: str, flag: str, folder: bool = False) -> None:
  """Checks that an output can be written at `path`.

  Fails (a UserError naming `flag`) when an output cannot be written at
  `path`: a folder where a file goes (or, `folder`, a file where a folder
  goes), a file where a folder above it should be, or no permission to
  write in the nearest existing folder above. Folders above that do not
  exist yet are fine (they are made when writing). Called before a
  command's work, so a bad path costs no time. A bucket (gs://) path is
  only checked by writing."""
  if '://' in path:
    return
  path = os.path.abspath(path)
  if os.path.isdir(path) != folder and os.path.exists(path):
    raise UserError(f'{flag}={path}: expected a {"folder" if folder else "file"}'
                    f' to write, found a {"file" if folder else "folder"}.')
  above = os.path.dirname(path)
  while not os.path.exists(above):
    above = os.path.dirname(above)
  if not os.path.isdir(above):
    raise UserError(f'{flag}={path}: cannot be written, {above} is a file.')
  if not os.access(above, os.W_OK | os.X_OK):
    raise UserError(f'{flag}={path}: cannot be written, no permission to '
                    f'write in {above}.')


class Output(NamedTuple):
  """A path a command writes, named by the flag it comes from.

  `folder`: a folder the command replaces whole (else a file)."""
  flag: str
  path: str
  folder: bool = False


def _local(path: str) -> str:
  return os.path.realpath(path) if '://' not in path else path.rstrip('/')


def _inside(path: str, folder: str) -> bool:
  return path.startswith(folder.rstrip('/') + '/')


def check_outputs(outputs: Iterable[Output],
                  inputs: Iterable[Tuple[str, str]] = (),
                  overwrite: bool = False) -> None:
  """The one rule for what a command writes, checked before its work.

  Each output can be written where it is (`check_output_path`); one that
  exists (a file, or a folder that is not empty) is replaced only with
  `overwrite` (the command's --overwrite); and one that is, contains or
  lies inside one of the command's `inputs` ((flag, path) pairs: data,
  checkpoints, annotation files) is refused, `overwrite` or not, so that
  no command can write over what it reads.

  Raises:
    UserError: naming the output's flag and path (and the input's).
  """
  inputs = [(flag, path, _local(path)) for flag, path in inputs if path]
  for output in outputs:
    check_output_path(output.path, output.flag, folder=output.folder)
    path = _local(output.path)
    for flag, given, real in inputs:
      relation = ('is' if path == real else
                  'contains' if _inside(real, path) else
                  'lies inside' if _inside(path, real) else None)
      if relation:
        raise UserError(
            f'{output.flag}={output.path}: the output {relation} the input '
            f'{flag}={given}; write it elsewhere (--overwrite does not '
            'change this).')
    if '://' in path or overwrite or not os.path.exists(path):
      continue
    if not output.folder:
      raise UserError(f'{output.flag}={output.path}: the file exists; pass '
                      '--overwrite to replace it.')
    if os.listdir(path):
      raise UserError(f'{output.flag}={output.path}: the folder exists and '
                      'is not empty; pass --overwrite to replace it.')


def write_all_atomically(outputs: Mapping[str, Union[bytes, str]]) -> None:
  """Writes several files, all or none.

  Writes {path: data}: every file to a temporary name first, then all
  renamed; on an error none of them is written. Missing folders above are
  made."""
  # Here, not at the top: commands that only check paths (a study printing
  # its commands) then start without TensorFlow's 20 s import.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  staged = []
  try:
    for path, data in outputs.items():
      tf.io.gfile.makedirs(posixpath.dirname(path) or '.')
      tmp = temporary_path(path)
      staged.append((tmp, path))
      with tf.io.gfile.GFile(tmp, 'wb' if isinstance(data, bytes) else 'w'
                             ) as f:
        f.write(data)
    with committing():
      for tmp, path in staged:
        tf.io.gfile.rename(tmp, path, overwrite=True)
  except BaseException:
    for tmp, _ in staged:
      if tf.io.gfile.exists(tmp):
        tf.io.gfile.remove(tmp)
    raise


def write_atomically(path: str, data: Union[bytes, str]) -> None:
  """Writes one file through a temporary name."""
  write_all_atomically({path: data})


@contextlib.contextmanager
def atomic_directory(directory: str) -> Iterator[str]:
  """Replaces a folder whole, or not at all.

  Yields a temporary sibling folder that replaces `directory` when the
  block ends without error; on an error it is deleted and `directory` is
  left as it was. Local paths only."""
  directory = os.path.abspath(directory)
  os.makedirs(os.path.dirname(directory), exist_ok=True)
  remove_stale_temporaries(os.path.dirname(directory),
                           os.path.basename(directory))
  staging = temporary_path(directory)
  os.mkdir(staging)
  try:
    yield staging
    with committing():
      if os.path.lexists(directory):
        old = temporary_path(directory)
        os.replace(directory, old)
        os.replace(staging, directory)
        shutil.rmtree(old)
      else:
        os.replace(staging, directory)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
