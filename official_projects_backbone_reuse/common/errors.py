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
from typing import Callable, Iterator


class UserError(Exception):
  """Bad input, or a run that cannot go on; the message says where."""
  exit_code = 2


class ConfigError(UserError, ValueError):
  """The experiment config cannot be built; the message says which flag,
  file or key."""


class Stopped(UserError):
  """Stopped by Ctrl-C (exit 130) or SIGTERM (143), cleaned up."""

  def __init__(self, message: str, exit_code: int):
    super().__init__(message)
    self.exit_code = exit_code

  @property
  def signal_name(self) -> str:
    return ('Ctrl-C' if self.exit_code == 130 else
            signal.Signals(self.exit_code - 128).name)

  @classmethod
  def of(cls, error: BaseException) -> 'Stopped':
    """A KeyboardInterrupt or Stopped as a Stopped."""
    return error if isinstance(error, Stopped) else cls('Ctrl-C: stopped',
                                                        130)


def _raise_stopped(signum, _):
  raise Stopped(f'{signal.Signals(signum).name}: stopped', 128 + signum)


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
  """Within the block SIGTERM (what `kill`, `timeout` and preemption send)
  raises Stopped, so cleanup runs as it does for Ctrl-C."""
  previous = signal.signal(signal.SIGTERM, _raise_stopped)
  try:
    yield
  finally:
    signal.signal(signal.SIGTERM, previous)


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


def report(error: UserError) -> int:
  """Prints `error: <message>` (one line) to stderr; the exit status."""
  print(f'error: {one_line(error)}', file=sys.stderr, flush=True)
  return error.exit_code


def exits_on_error(main: Callable[..., int]) -> Callable[..., int]:
  """Wraps a command's `main`: a UserError becomes one line on stderr and
  `main` returns its exit status, instead of a traceback; SIGTERM stops it
  as Ctrl-C does (cleanup runs), each with one line, exit 143 or 130."""

  @functools.wraps(main)
  def wrapped(*args, **kwargs):
    try:
      if threading.current_thread() is not threading.main_thread():
        return main(*args, **kwargs)  # signal handlers: main thread only
      with sigterm_raises():
        return main(*args, **kwargs)
    except KeyboardInterrupt as e:
      return report(Stopped.of(e))
    except UserError as e:
      return report(e)

  return wrapped

