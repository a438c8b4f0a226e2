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

"""What a study's cells left in their model dirs: metrics and costs."""
import json
import os
import re
import statistics
from typing import Dict, Optional

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.study import grid

_RATE = re.compile(r'train \| step: +(\d+) \| steps/sec: +([\d.]+)')
COST_FILE = 'study_cost.json'  # in a cell's model dir, written by `run`


def _read_json(cell: grid.Cell, path: str) -> Optional[dict]:
  """Reads a cell's JSON output.

  A cell's JSON output (None if absent); a damaged one is an error
  naming the cell and the file."""
  if not os.path.exists(path):
    return None
  remove = 'remove it to run the cell again'
  try:
    with open(path) as f:
      found = json.load(f)
  except (ValueError, OSError) as e:  # JSONDecodeError, UnicodeDecodeError
    raise errors.UserError(f'cell {cell.name}: {path} cannot be read as '
                           f'JSON ({errors.one_line(e)}); {remove}.') from e
  if not isinstance(found, dict):
    raise errors.UserError(f'cell {cell.name}: {path} holds a '
                           f'{type(found).__name__}, not a JSON object; '
                           f'{remove}.')
  return found


def metrics(study: grid.Study, workdir: str) -> Dict[grid.Cell, Optional[dict]]:
  """Each cell's metrics.json (None where its run has not written one)."""
  return {cell: _read_json(cell, os.path.join(cell.model_dir(workdir),
                                               'metrics.json'))
          for cell in study.cells()}


def costs(study: grid.Study, workdir: str) -> Dict[grid.Cell, Optional[dict]]:
  """Returns each cell's cost and seconds per step.

  Each cell's cost as `run` recorded it, with its seconds per step
  (the median of its log's rates after the first, which holds tracing)."""
  found = {}
  for cell in study.cells():
    cost = _read_json(cell, os.path.join(cell.model_dir(workdir), COST_FILE))
    if cost is None:
      found[cell] = None
      continue
    with open(cell.log_path(workdir)) as f:
      rates = {int(step): float(rate) for step, rate in _RATE.findall(f.read())}
    steady = [rate for _, rate in sorted(rates.items())[1:] if rate > 0]
    if steady:
      cost['s_per_step'] = 1 / statistics.median(steady)
    if rates:
      cost['train_steps'] = max(rates)
    found[cell] = cost
  return found
