"""The one error type of data_tools: a problem with the user's data or paths.

Its message names the file, JSON key or record id concerned and says what was
expected and what was found. Every command line entry point catches it, prints
`error: <message>` to stderr and exits with status 2.
"""

import sys
from typing import Callable


class DataError(Exception):
  """Invalid dataset input, or an output location that cannot be used."""


def run_main(main_fn: Callable[[], int]) -> int:
  """Runs `main_fn`; a DataError becomes `error: ...` on stderr and status 2."""
  try:
    return main_fn()
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
