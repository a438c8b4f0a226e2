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

"""The command-line plumbing of data_tools and its one error type.

A DataError is a problem with the user's data or paths: its message names the
file, JSON key or record id concerned and says what was expected and what was
found. Every data_tools command prints it as `error: <message>` on stderr and
exits with status 2 (`common.errors`, as every command of the project).
"""

import argparse
import json
import os
from typing import Callable

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import files


class DataError(errors.UserError):
  """Invalid dataset input, or an output location that cannot be used."""


@errors.exits_on_error
def run_main(main_fn: Callable[[], dict]) -> int:
  """Runs a command's main function and prints its summary as JSON.

  Runs `main_fn` and prints the summary it returns as JSON on stdout
  (status 0); a DataError becomes `error: ...` on stderr and status 2,
  Ctrl-C (130) and SIGTERM (143) one line too, after the cleanup."""
  commits = files.commits()
  try:
    summary = main_fn()
    errors.raise_if_stopped()
  except BaseException as e:
    # A stop may have become another error on its way out.
    stopped = errors.stop_requested()
    if stopped is None and not isinstance(e, (KeyboardInterrupt,
                                              errors.Stopped)):
      raise
    stopped = stopped or errors.Stopped.of(e)
    wrote = ('nothing was written' if files.commits() == commits else
             'its outputs were written whole before the stop')
    raise errors.Stopped(f'{stopped.signal_name}: stopped; {wrote}',
                         stopped.exit_code) from e
  print(json.dumps(summary, indent=1))
  return 0


def numbers(text: str, flag: str, kind: type = int) -> list:
  """`1,2,5` (or, of integers, `0-9`) -> numbers of `kind`.

  Anything else is a DataError naming `flag`."""
  try:
    if kind is int and '-' in text:
      first, last = (int(v) for v in text.split('-'))
      return list(range(first, last + 1))
    return [kind(v) for v in text.split(',') if v.strip()]
  except ValueError as e:
    expected = 'N-M or N,N,...' if kind is int else 'N,N,...'
    raise DataError(f'{flag}: expected {expected}, found {text!r}') from e


def default_processes() -> int:
  """The CPU cores this process may run on: the default --num_processes."""
  return len(os.sched_getaffinity(0))


def command_parser(prog: str, description: str,
                   tfrecord_output: bool = False) -> argparse.ArgumentParser:
  """Returns the argument parser of a data_tools command.

  A command's parser; with `tfrecord_output`, the flags of sharded
  TFRecord output (--output_prefix, --num_shards, --overwrite,
  --num_processes)."""
  parser = argparse.ArgumentParser(prog=prog, description=description)
  if tfrecord_output:
    parser.add_argument('--output_prefix', required=True,
                        help='shards are <prefix>-00000-of-0000N.tfrecord')
    parser.add_argument('--num_shards', type=int, default=4)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace the shards of an earlier conversion '
                        'to the same prefix')
    parser.add_argument('--num_processes', type=int,
                        default=default_processes(),
                        help='worker processes reading and encoding the '
                        'images (default: every core, here '
                        f'{default_processes()}); the output does not '
                        'depend on it')
  return parser
