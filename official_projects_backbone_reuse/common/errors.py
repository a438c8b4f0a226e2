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

"""Errors a user can act on, and the one way a command reports them.

Every error that comes from the user's input (a config key, a file, a
checkpoint, a dataset) is a `UserError`: its message names the file, key or
variable and says what was expected. A command turns it into one line on
stderr, `error: <message>`, and its exit status (2; 1 for a run that failed
while running, such as a NaN loss).
"""
import contextlib
import functools
import signal
import sys
import threading
from typing import Callable, Iterator, Optional, Union


class UserError(Exception):
  """Bad input, or a run that cannot go on; the message says where."""
  exit_code = 2


class ConfigError(UserError, ValueError):
  """The experiment config cannot be built.

  The message says which flag, file or key."""


class CheckpointError(UserError, ValueError):
  """The checkpoint is missing or does not provide every variable asked."""


class Stopped(BaseException):
  """Stopped by Ctrl-C (exit 130) or SIGTERM (143), cleaned up.

  A BaseException, as KeyboardInterrupt is: the `except Exception` of
  AutoGraph's conversion, Keras, Model Garden or our own code lets it
  through. Where it is swallowed all the same (a bare `except:`, a
  `__del__` it lands in), the request is remembered: `raise_if_stopped`
  raises it again at the next commit of an output or train loop, and the
  command ends as stopped whatever happened after it.
  """

  def __init__(self, message: str, exit_code: int):
    super().__init__(message)
    self.exit_code = exit_code

  @staticmethod
  def name_of(exit_code: int) -> str:
    """What a person calls the signal of this exit status."""
    return ('Ctrl-C' if exit_code == 130 else
            signal.Signals(exit_code - 128).name)

  @property
  def signal_name(self) -> str:
    return self.name_of(self.exit_code)

  @classmethod
  def of(cls, error: BaseException) -> 'Stopped':
    """A KeyboardInterrupt or Stopped as a Stopped."""
    return error if isinstance(error, Stopped) else cls('Ctrl-C: stopped',
                                                        130)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_requested: Optional[Stopped] = None  # the first stop request, if any
_deferring = 0  # > 0 inside `uninterrupted` blocks


def _stop(signum, _):
  global _requested
  stopped = Stopped(f'{Stopped.name_of(128 + signum)}: stopped', 128 + signum)
  _requested = _requested or stopped
  if not _deferring:
    raise stopped


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
  """Holds back stop requests until the block ends.

  Within the block a stop request is remembered but not raised, and
  raised when the block ends: for a checkpoint's save, which a stop landing
  between its files and its state file would lose (the next run would
  start over)."""
  global _deferring
  _deferring += 1
  try:
    yield
  finally:
    _deferring -= 1
  raise_if_stopped()


def stop_requested() -> Optional[Stopped]:
  """The stop asked for by a signal since the command began, if any."""
  return _requested


def raise_if_stopped() -> None:
  """Raises the stop asked for, if any.

  It raises even when the Stopped its signal raised was swallowed. It is
  called before an output is committed (renamed to its final name) and
  after each train loop."""
  if _requested is not None:
    raise Stopped(str(_requested), _requested.exit_code)


@contextlib.contextmanager
def stop_requests() -> Iterator[None]:
  """Turns Ctrl-C and SIGTERM into Stopped within the block.

  Within the block Ctrl-C and SIGTERM (what `kill`, `timeout` and a
  scheduler's preemption send) raise Stopped, so cleanup runs, and are
  remembered (`raise_if_stopped`). Nested blocks share the outer one's."""
  global _requested
  previous = {s: signal.signal(s, _stop) for s in _STOP_SIGNALS}
  outermost = previous[signal.SIGTERM] is not _stop
  if outermost:
    _requested = None
  try:
    yield
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
    if outermost:
      _requested = None


def first_line(error: BaseException) -> str:
  """The first line of an error's message (TensorFlow's span many)."""
  text = str(getattr(error, 'message', None) or error).strip()
  return (text.splitlines() or [type(error).__name__])[0]


def reason(error: BaseException) -> str:
  """The readable part of a config error (KeyError quotes its message)."""
  return str(error.args[0] if isinstance(error, KeyError) and error.args
             else error)


def one_line(error: BaseException) -> str:
  """The whole message folded onto one line."""
  return ' '.join(str(error).split())


def report(error: Union[UserError, Stopped]) -> int:
  """Prints `error: <message>` (one line) to stderr; the exit status."""
  print(f'error: {one_line(error)}', file=sys.stderr, flush=True)
  return error.exit_code


def absl_entry_point(define_flags: Callable[[], None],
                     main: Callable[..., int]) -> Callable[[], None]:
  """The console-script entry point of an absl command.

  It defines the command's flags, then runs `main` under `absl.app.run`,
  refusing positional arguments (`--overwrite true` leaves `true` one:
  absl would drop it)."""
  from absl import app  # pylint: disable=g-import-not-at-top

  def no_arguments(argv) -> int:
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    return main(argv)

  def run() -> None:
    define_flags()
    app.run(no_arguments)

  return run


def exits_on_error(main: Callable[..., int]) -> Callable[..., int]:
  """Wraps a command's `main` to end with one line, not a traceback.

  Wraps a command's `main`: a UserError becomes one line on stderr and
  `main` returns its exit status, instead of a traceback; Ctrl-C and
  SIGTERM stop it (cleanup runs) with one line, exit 130 or 143, also when
  the Stopped they raised was swallowed or turned into another error on
  its way out."""

  @functools.wraps(main)
  def wrapped(*args, **kwargs):
    if threading.current_thread() is not threading.main_thread():
      try:  # signal handlers: main thread only
        return main(*args, **kwargs)
      except UserError as e:
        return report(e)
    with stop_requests():
      try:
        status = main(*args, **kwargs)
        raise_if_stopped()
        return status
      except (KeyboardInterrupt, Stopped) as e:
        return report(Stopped.of(e))
      except BaseException as e:
        stopped = stop_requested()
        if stopped is not None:  # an error the stop caused on its way out
          return report(stopped)
        if isinstance(e, UserError):
          return report(e)
        raise

  return wrapped
