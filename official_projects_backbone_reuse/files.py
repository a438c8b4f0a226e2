"""Writing outputs so that no half-written file is ever left behind."""
import uuid
from typing import Union

import tensorflow as tf


def write_atomically(path: str, data: Union[bytes, str]) -> None:
  """Writes `data` to a temporary sibling of `path`, then renames it.

  Uses tf.io.gfile, so local paths and bucket paths (gs://) both work.
  """
  tmp = f'{path}.tmp-{uuid.uuid4().hex[:8]}'
  try:
    with tf.io.gfile.GFile(tmp, 'wb' if isinstance(data, bytes) else 'w') as f:
      f.write(data)
    tf.io.gfile.rename(tmp, path, overwrite=True)
  except BaseException:
    if tf.io.gfile.exists(tmp):
      tf.io.gfile.remove(tmp)
    raise
