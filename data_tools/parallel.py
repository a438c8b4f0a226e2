"""The per-image work of a conversion in worker processes, as Model Garden's
`create_coco_tf_record` does it (`multiprocessing.Pool`, forked), with
results in input order so that the shards are the same bit for bit
whatever the number of processes. Not a command.
"""
import multiprocessing
import signal
from typing import Callable, Iterable, Iterator, TypeVar

from official_projects_backbone_reuse.data_tools.cli import DataError

Item = TypeVar('Item')
Result = TypeVar('Result')
# Items sent to a worker at a time: few enough that the first error (in
# input order) comes soon, enough to amortise the pickling.
CHUNK_SIZE = 8


def check_processes(num_processes: int) -> None:
  if num_processes < 1:
    raise DataError(f'num_processes: expected at least 1, found '
                    f'{num_processes}')


def _worker_signals() -> None:
  # The parent turns Ctrl-C and SIGTERM into its one-line stop and then
  # terminates the pool (SIGTERM): a worker neither prints a traceback for
  # Ctrl-C nor runs the parent's handler.
  signal.signal(signal.SIGINT, signal.SIG_IGN)
  signal.signal(signal.SIGTERM, signal.SIG_DFL)


def imap(func: Callable[[Item], Result], items: Iterable[Item],
         num_processes: int) -> Iterator[Result]:
  """`func(item)` for each item, in order; in `num_processes` forked
  worker processes (1: in this process). An exception of `func` (a
  DataError naming the file) is raised here, at its item; closing the
  iterator early stops the workers."""
  check_processes(num_processes)
  if num_processes == 1:
    yield from map(func, items)
    return
  context = multiprocessing.get_context('fork')
  with context.Pool(num_processes, initializer=_worker_signals) as pool:
    yield from pool.imap(func, items, chunksize=CHUNK_SIZE)
