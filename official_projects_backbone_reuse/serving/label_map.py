"""The class names an export carries: `<export_dir>/label_map.json`,
{"<class id>": "<name>"}, from a COCO / LVIS annotation file."""
import json
import os
from typing import Dict, Optional

from absl import logging
import tensorflow as tf

LABEL_MAP_FILE = 'label_map.json'


def from_annotations(annotation_file: Optional[str]) -> Optional[dict]:
  """{"<class id>": "<name>"} from an annotation file's categories; None
  when there is no such file."""
  if not annotation_file:
    return None
  if not tf.io.gfile.exists(annotation_file):
    logging.warning('task.annotation_file %s does not exist; exporting '
                    'without %s.', annotation_file, LABEL_MAP_FILE)
    return None
  with tf.io.gfile.GFile(annotation_file) as f:
    categories = json.load(f).get('categories', [])
  return {str(c['id']): c['name'] for c in categories}


def write(export_dir: str, label_map: dict) -> None:
  with tf.io.gfile.GFile(os.path.join(export_dir, LABEL_MAP_FILE), 'w') as f:
    json.dump(label_map, f, indent=1, sort_keys=True)


def read(export_dir: str) -> Dict[int, str]:
  """Class id -> name from an export's label_map.json; {} when absent."""
  path = os.path.join(export_dir, LABEL_MAP_FILE)
  if not tf.io.gfile.exists(path):
    return {}
  with tf.io.gfile.GFile(path) as f:
    return {int(k): v for k, v in json.load(f).items()}
