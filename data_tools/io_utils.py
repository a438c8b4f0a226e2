"""File helpers shared by the data_tools commands: all-or-nothing outputs.

Every output is first written under a hidden temporary name in its final
directory (`.<name>.tmp-<pid>`) and renamed with `os.replace` only when it is
complete; on error the temporaries are removed, so a failed command leaves
nothing behind. Also a `\\r` progress counter for stderr. Not a command.
"""

import contextlib
import os
import shutil
import sys
from typing import Iterable, Iterator

from data_tools.errors import DataError


def temporary_path(final_path: str) -> str:
  """The hidden temporary name, in the same directory, for `final_path`."""
  directory, name = os.path.split(os.path.abspath(final_path))
  return os.path.join(directory, f'.{name}.tmp-{os.getpid()}')


def remove_quietly(paths: Iterable[str]) -> None:
  """Removes the files that exist among `paths`."""
  for path in paths:
    if os.path.lexists(path):
      os.remove(path)


@contextlib.contextmanager
def atomic_directory(output_dir: str, overwrite: bool) -> Iterator[str]:
  """Yields a temporary sibling folder that becomes `output_dir` on success.

  Refuses (DataError) when `output_dir` is a file, or a non-empty folder and
  `overwrite` is False. On any error the temporary folder is deleted and
  `output_dir` is left as it was.
  """
  output_dir = os.path.abspath(output_dir)
  if os.path.exists(output_dir) and not os.path.isdir(output_dir):
    raise DataError(f'{output_dir}: expected a folder to write the dataset '
                    'into, found a file')
  if os.path.isdir(output_dir) and os.listdir(output_dir) and not overwrite:
    raise DataError(f'{output_dir}: expected a new or empty folder, found a '
                    'non-empty one (pass --overwrite to replace it)')
  os.makedirs(os.path.dirname(output_dir), exist_ok=True)
  staging = temporary_path(output_dir)
  shutil.rmtree(staging, ignore_errors=True)
  os.mkdir(staging)
  try:
    yield staging
    if os.path.isdir(output_dir):
      old = staging + '.old'
      os.replace(output_dir, old)
      os.replace(staging, output_dir)
      shutil.rmtree(old)
    else:
      os.replace(staging, output_dir)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise


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
