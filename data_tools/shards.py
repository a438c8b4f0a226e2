"""The sharded TFRecord writer shared by the two converters, all or nothing.

Shards (and any companion file, e.g. a label list) are written under hidden
temporary names next to their final names and renamed only when every one of
them is complete; on any error all temporaries are removed, so a failed
conversion leaves no output. Used by `convert_detection` and
`convert_classification`; not a command of its own.
"""

import os
from typing import Dict, Iterable, List, Optional

import tensorflow as tf

from official_projects_backbone_reuse.data_tools.cli import DataError
from official_projects_backbone_reuse.common.files import temporary_path
from official_projects_backbone_reuse.data_tools.io_utils import Progress


def shard_paths(output_prefix: str, num_shards: int) -> List[str]:
  """`{prefix}-{i:05d}-of-{n:05d}.tfrecord` for i in 0..n-1."""
  return [f'{output_prefix}-{i:05d}-of-{num_shards:05d}.tfrecord'
          for i in range(num_shards)]


def write_tfrecord_shards(
    output_prefix: str,
    examples: Iterable[tf.train.Example],
    num_shards: int,
    total: int,
    label: str = 'writing',
    extra_files: Optional[Dict[str, bytes]] = None,
    progress_stream=None,
) -> List[str]:
  """Writes `examples` round-robin into `num_shards` shards, all or nothing.

  Args:
    output_prefix: shards are named `{prefix}-{i:05d}-of-{n:05d}.tfrecord`.
    examples: the tf.train.Example protos; the iterator may raise, in which
      case nothing is left on disk.
    num_shards: number of shards (>= 1).
    total: number of examples expected, for the progress counter.
    label: text shown before the progress counter.
    extra_files: other outputs (path -> content) committed together with the
      shards, e.g. a label map.
    progress_stream: where the progress counter goes (default stderr).

  Returns:
    The shard paths, in order.
  """
  if num_shards < 1:
    raise DataError(f'num_shards must be >= 1, found {num_shards}')
  finals = shard_paths(output_prefix, num_shards)
  directory = os.path.dirname(os.path.abspath(output_prefix))
  os.makedirs(directory, exist_ok=True)
  extra_files = extra_files or {}
  all_finals = finals + list(extra_files)
  temporaries = [temporary_path(path) for path in all_finals]
  writers = []
  progress = Progress(label, total, progress_stream)
  try:
    writers = [tf.io.TFRecordWriter(path) for path in temporaries[:num_shards]]
    for index, example in enumerate(examples):
      writers[index % num_shards].write(example.SerializeToString())
      progress.update(index + 1)
    for writer in writers:
      writer.close()
    writers = []
    for path, content in zip(temporaries[num_shards:], extra_files.values()):
      with open(path, 'wb') as f:
        f.write(content)
    for temporary, final in zip(temporaries, all_finals):
      os.replace(temporary, final)
  except BaseException:
    for writer in writers:
      writer.close()
    for path in temporaries:
      if os.path.lexists(path):
        os.remove(path)
    raise
  finally:
    progress.close()
  return finals
