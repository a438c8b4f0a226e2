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

"""Orbit's progress logs, as the one line each that a job shows."""
import re
from typing import Optional

# Orbit's progress and what else a person watching a step wants to see.
_PROGRESS_MARKERS = ('train | step', 'eval | step', 'Restored ', 'total:',
                     'Error:', 'error:')
# Shown from a step's output dict, in this order, when present.
_SHOWN_VALUES = ('training_loss', 'validation_loss', 'AP', 'AP50', 'APr',
                 'accuracy')
_VALUE = re.compile(r"'(\w+)': (?:np\.float\d+\()?(-?[\d.]+(?:e-?\d+)?|nan|inf)")


class ProgressLines:
  """Turns orbit's progress logs into one line each.

  Each line has the loss (and AP, accuracy) that orbit prints on the lines
  after `output:`."""

  def __init__(self):
    self._pending = None
    self._shown = None

  def feed(self, line: str) -> Optional[str]:
    """The line to show for this log line, if any."""
    if self._pending is not None:
      self._pending += line
      return self._finish() if '}' in line else None
    if not any(m in line for m in _PROGRESS_MARKERS) or 'cuInit' in line:
      return None  # ('cuInit': TensorFlow looking for a GPU)
    text = line.split('] ', 1)[-1].strip()
    if 'output:' not in text:
      return self._once(text)
    self._pending = text
    return self._finish() if '}' in text else None

  def _finish(self) -> Optional[str]:
    head, _, output = self._pending.partition('output:')
    self._pending = None
    values = dict(_VALUE.findall(output))
    shown = ', '.join(f'{k} {float(values[k]):.4g}' for k in _SHOWN_VALUES
                      if k in values)
    return self._once(head.rstrip(' |') + (' | ' + shown if shown else ''))

  def _once(self, text: str) -> Optional[str]:
    # Orbit both logs and prints its progress: show it once.
    if text == self._shown:
      return None
    self._shown = text
    return text[:200]
