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

"""Runs the per-image work of a conversion in worker processes.

As Model Garden's `create_coco_tf_record` does it (`multiprocessing.Pool`),
with results in input order so that the shards are the same bit for bit
whatever the number of processes. Not a command.

The workers are forked from a fork server (a fresh process that has only
imported the worker's module), never from the caller: a caller that has run
TensorFlow has threads that may hold a lock at the fork, and a worker forked
then can wait on it forever (seen once, in the test suite: a conversion
worker stuck in futex_wait). The server starts when the workers are first
needed, or sooner (`start_server`: the converter commands start it before
their own imports, so that both import TensorFlow side by side).
"""
import multiprocessing
from multiprocessing import forkserver
import signal
import sys
from typing import Callable, Iterable, Iterator, TypeVar

from official_projects_backbone_reuse.data_tools.cli import DataError

Item = TypeVar('Item')
Result = TypeVar('Result')
# Items sent to a worker at a time: few enough that the first error (in
# input order) comes soon, enough to amortise the pickling.
CHUNK_SIZE = 8


def check_processes(num_processes: int) -> None:
  if num_processes < 1:
    raise DataError(f'--num_processes={num_processes}: expected at least '
                    '1')


def _worker_signals() -> None:
  # The parent turns Ctrl-C and SIGTERM into its one-line stop and then
  # terminates the pool (SIGTERM): a worker neither prints a traceback for
  # Ctrl-C nor runs the parent's handler.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_DFL)


def imap(func: Callable[[Item], Result], items: Iterable[Item],
         num_processes: int) -> Iterator[Result]:
  """Applies `func` to each item, in order, in worker processes.

  `func(item)` for each item, in order; in `num_processes` worker
  processes (1: in this process). An exception of `func` (a
  DataError naming the file) is raised here, at its item; closing the
  iterator early stops the workers."""
  check_processes(num_processes)
  if num_processes == 1:
    yield from map(func, items)
    return
  module = func.__module__
  spec = getattr(sys.modules['__main__'], '__spec__', None)
  if module == '__main__' and spec:  # a converter run as `python -m`
    module = spec.name
  start_server(module)
  context = multiprocessing.get_context('forkserver')
  with context.Pool(num_processes, initializer=_worker_signals) as pool:
    yield from pool.imap(func, items, chunksize=CHUNK_SIZE)


def start_server(module: str) -> None:
  """Starts the workers' fork server, importing `module`, unless it runs.

  Returns at once: the server imports `module` (TensorFlow takes seconds)
  while the caller goes on, and forks each worker from it. Only the first
  call's module counts; the server then lives as long as this process."""
  multiprocessing.get_context('forkserver').set_forkserver_preload(
      [f'{__package__}.fork_server_setup', module])
  forkserver.ensure_running()
