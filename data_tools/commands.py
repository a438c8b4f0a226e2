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

"""The entry points of the commands that convert in worker processes.

Each starts its workers' fork server (`parallel`) before it imports its
converter, so that the server's import of TensorFlow runs beside the
command's own instead of after it (about 10 s of a conversion's start on
2 cores). This module imports no TensorFlow; `python -m` on a converter
runs the same command, its workers started when they are first needed.
"""
import importlib
import sys

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.data_tools import cli
from official_projects_backbone_reuse.data_tools import parallel

# The converters started here, each its module's `main`.
CONVERTERS = ('convert_detection', 'convert_lvis', 'convert_voc',
              'convert_classification', 'proposals')


def asks_one_process(argv) -> bool:
  """Whether `argv` sets --num_processes to 1 (the last one counts)."""
  value = None
  for flag, following in zip(argv, argv[1:] + ['']):
    if flag == '--num_processes':
      value = following
    elif flag.startswith('--num_processes='):
      value = flag.split('=', 1)[1]
  return value == '1' or (value is None and cli.default_processes() == 1)


def _run(name: str) -> int:
  """Runs converter `name`'s `main`, its fork server started first."""
  module = f'{__package__}.{name}'
  if not asks_one_process(sys.argv[1:]):  # a bad value is main's to report
    parallel.start_server(module)
  return _import(module) or sys.modules[module].main()


@errors.exits_on_error  # a stop during the imports (seconds): one line too
def _import(module: str) -> int:
  try:
    importlib.import_module(module)
  except (KeyboardInterrupt, errors.Stopped) as e:
    stopped = errors.Stopped.of(e)
    raise errors.Stopped(f'{stopped.signal_name}: stopped; nothing was '
                         'written', stopped.exit_code) from e
  return 0


def convert_detection() -> int:
  return _run('convert_detection')


def convert_lvis() -> int:
  return _run('convert_lvis')


def convert_voc() -> int:
  return _run('convert_voc')


def convert_classification() -> int:
  return _run('convert_classification')


def proposals() -> int:
  return _run('proposals')
