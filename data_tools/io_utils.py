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

"""Helpers shared by the data_tools commands. Not a command.

The output folder check, the removal of the folders a failed command
made, and a progress counter. Outputs are written all or nothing through
`official_projects_backbone_reuse.common.files`.
"""

import contextlib
import os
import sys
from typing import Iterator, List, Sequence

from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.data_tools.cli import DataError


def path_inside(root: str, name, where: str) -> str:
  """Returns `root`/`name`, refusing a name that leaves `root`.

  `root`/`name` for a file name read from an annotation file; DataError
  (naming `where`) unless `name` is a relative path that stays inside
  `root` (no absolute path, no `..` above it), so a dataset cannot make a
  converter read and embed a file from elsewhere. Symbolic links inside
  the root are followed on purpose (datasets are often linked in)."""
  if not isinstance(name, str) or not name.strip():
    raise DataError(f'{where}: expected a file name (a non-empty string), '
                    f'found {name!r}')
  normal = os.path.normpath(name)
  if os.path.isabs(name) or normal == '..' or normal.startswith(
      '..' + os.sep):
    raise DataError(f'{where}: file name {name!r} leads outside the image '
                    f'folder {root} (expected a path relative to it)')
  return os.path.join(root, normal)


def missing_folders(directory: str) -> List[str]:
  """The folders of `directory`'s path that do not exist, deepest first."""
  missing, path = [], os.path.abspath(directory)
  while not os.path.lexists(path):
    missing.append(path)
    path = os.path.dirname(path)
  return missing


@contextlib.contextmanager
def removed_on_error(folders: Sequence[str]) -> Iterator[None]:
  """Removes the empty output folders of a failed block.

  On an error (or Ctrl-C, SIGTERM) in the block, removes `folders`
  (deepest first, from `missing_folders`) that are empty, so that a failed
  command leaves no empty output folder behind."""
  try:
    yield
  except BaseException:
    for folder in folders:
      with contextlib.suppress(OSError):  # not empty, or already gone
        os.rmdir(folder)
    raise


def check_output_dir(output_dir: str, overwrite: bool) -> None:
  """Checks the output folder of a command (--output_dir).

  Refuses an `output_dir` (--output_dir) that is a file, lies below one
  or in a folder without write permission (`files.check_output_path`), or
  is a non-empty folder when `overwrite` is False (DataError)."""
  files.check_output_path(output_dir, '--output_dir', folder=True)
  output_dir = os.path.abspath(output_dir)
  if os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
    raise DataError(f'{output_dir}: expected a new or empty folder, found a '
                    'non-empty one (pass --overwrite to replace it)')


class Progress:
  """A `\\r` counter with percentage on stderr: `label 120/500 (24%)`.

  On a terminal it redraws one line at every percent; in a log file (not a
  terminal) it writes a line every 25 percent instead.
  """

  def __init__(self, label: str, total: int, stream=None):
    self._label = label
    self._total = max(total, 1)
    self._stream = stream or sys.stderr
    self._shown = None
    isatty = getattr(self._stream, 'isatty', lambda: False)()
    self._step, self._start = (1, '\r') if isatty else (25, '\n')

  def update(self, done: int) -> None:
    percent = 100 * done // self._total // self._step * self._step
    if percent != self._shown:
      start = '' if self._shown is None else self._start
      self._shown = percent
      self._stream.write(
          f'{start}{self._label} {done}/{self._total} ({percent}%)')
      self._stream.flush()

  def close(self) -> None:
    """Ends the counter's line, if one was started."""
    if self._shown is not None:
      self._stream.write('\n')
      self._stream.flush()
      self._shown = None
