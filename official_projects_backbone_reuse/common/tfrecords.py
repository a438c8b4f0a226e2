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


def read_records(path: str, count: bool = False) -> Iterator[bytes]:
  """The records of `path` in order (with `count`, an empty bytes per
  record, its data skipped); ends early where the file looks damaged."""
  with tf.io.gfile.GFile(path, 'rb') as f:
    while True:
      header = f.read(12)  # length (uint64), its masked CRC (uint32)
      if len(header) < 12:
        return
      length = struct.unpack('<Q', header[:8])[0]
      if length > _MAX_RECORD_BYTES:
        return
      if count:
        f.seek(length + 4, 1)  # the data, its masked CRC
        yield b''
        continue
      data = f.read(length)
      f.read(4)  # the data's masked CRC
      if len(data) < length:
        return
      yield data
