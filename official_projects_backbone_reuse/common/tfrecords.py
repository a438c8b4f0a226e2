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

"""Reading uncompressed TFRecord files without TensorFlow's runtime.

Two kinds of callers need it: the run checks, before a collective strategy
(which must be made before the runtime starts), and the data tools, whose
worker processes are forked (a fork after the runtime's threads started
may hang). CRCs are not checked: a damaged file ends the records early,
and `runtime.integrity` names damaged files.
"""
import struct
from typing import Iterator

import tensorflow as tf

_MAX_RECORD_BYTES = 1 << 30


def read_records(path: str, count: bool = False,
                 strict: bool = False) -> Iterator[bytes]:
  """Reads the records of a TFRecord file in order.

  The records of `path` in order (with `count`, an empty bytes per
  record, its data skipped). Where the file looks damaged they end early,
  or (`strict`) a ValueError names the file and the record."""
  index = 0

  def damaged():
    if strict:
      raise ValueError(f'{path}: record {index} is truncated or damaged')

  with tf.io.gfile.GFile(path, 'rb') as f:
    while True:
      header = f.read(12)  # length (uint64), its masked CRC (uint32)
      if not header:
        return
      if len(header) < 12:
        return damaged()
      length = struct.unpack('<Q', header[:8])[0]
      if length > _MAX_RECORD_BYTES:
        return damaged()
      if count:
        end = f.tell() + length + 4  # the data, its masked CRC
        if end > f.size():
          return damaged()
        f.seek(end)
        index += 1
        yield b''
        continue
      data = f.read(length)
      if len(data) < length or len(f.read(4)) < 4:
        return damaged()
      index += 1
      yield data
