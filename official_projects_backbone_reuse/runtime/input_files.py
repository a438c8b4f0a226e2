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

"""What files a DataConfig's `input_path` names: the one place that decides.

Model Garden's input reader takes a string of patterns separated by commas,
a list of such strings, or a Config of named ones (several datasets mixed);
the checks before a run and the search for a damaged file read it the same
way, through `patterns`.
"""
from typing import List

import tensorflow as tf


def patterns(input_path) -> List[str]:
  """The file patterns of an `input_path`, in order."""
  if not input_path:
    return []
  if isinstance(input_path, str):
    return [p.strip() for p in input_path.split(',') if p.strip()]
  if hasattr(input_path, 'as_dict'):
    input_path = list(input_path.as_dict().values())
  return [p for v in input_path for p in patterns(v)]


def files(input_path) -> List[str]:
  """Every file the patterns match, sorted, without repeats."""
  return sorted({f for p in patterns(input_path) for f in tf.io.gfile.glob(p)})


def unmatched(input_path) -> List[str]:
  """The patterns that match no file."""
  return [p for p in patterns(input_path) if not tf.io.gfile.glob(p)]
