"""The one error type of data_tools: a problem with the user's data or paths.

Its message names the file, JSON key or record id concerned and says what was
expected and what was found. Every command line entry point catches it, prints
`error: <message>` to stderr and exits with status 2.
"""

import json
import sys
from typing import Callable, Sequence


class DataError(Exception):
  """Invalid dataset input, or an output location that cannot be used."""


def run_main(main_fn: Callable[[], dict]) -> int:
  """Runs `main_fn` and prints the summary it returns as JSON on stdout
  (status 0); a DataError becomes `error: ...` on stderr and status 2."""
  try:
    summary = main_fn()
  except DataError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(json.dumps(summary, indent=1))
  return 0


def console_script(main: Callable[[Sequence[str]], int]) -> None:
  """Runs a command's `main(argv)` with the process arguments and exits
  with its status."""
  sys.exit(main(sys.argv[1:]))
