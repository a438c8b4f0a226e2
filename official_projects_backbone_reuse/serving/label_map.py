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

"""The class names an export carries.

`<export_dir>/label_map.json`, {"<class id>": "<name>"}, from a COCO /
LVIS annotation file."""
import json
import os
from typing import Dict, Optional

from absl import logging
import tensorflow as tf

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common.errors import UserError

LABEL_MAP_FILE = 'label_map.json'


def from_annotations(annotation_file: Optional[str]) -> Optional[dict]:
  """Reads the label map from an annotation file.

  {"<class id>": "<name>"} from an annotation file's categories; None
  when there is no such file."""
  if not annotation_file:
    return None
  if not tf.io.gfile.exists(annotation_file):
    logging.warning('task.annotation_file %s does not exist; exporting '
                    'without %s.', annotation_file, LABEL_MAP_FILE)
    return None
  try:
    with tf.io.gfile.GFile(annotation_file) as f:
      categories = json.load(f)['categories']
    return {str(c['id']): str(c['name']) for c in categories}
  except (ValueError, KeyError, TypeError) as e:  # JSON, keys, not a dict
    raise UserError(f'task.annotation_file={annotation_file}: cannot read '
                    f'the class names of a COCO / LVIS JSON from it '
                    f'({errors.one_line(e)}).') from e


def write(export_dir: str, label_map: dict) -> None:
  with tf.io.gfile.GFile(os.path.join(export_dir, LABEL_MAP_FILE), 'w') as f:
    json.dump(label_map, f, indent=1, sort_keys=True)


def read(export_dir: str) -> Dict[int, str]:
  """Class id -> name from an export's label_map.json; {} when absent."""
  path = os.path.join(export_dir, LABEL_MAP_FILE)
  if not tf.io.gfile.exists(path):
    return {}
  try:
    with tf.io.gfile.GFile(path) as f:
      content = json.load(f)
    label_map = {int(k): v for k, v in content.items()}
  except (ValueError, AttributeError, TypeError) as e:  # JSON, int(), .items
    raise UserError(f'{path}: expected {{"<class id>": "<name>", ...}} '
                    f'(written by backbone-reuse-export), found a damaged '
                    f'file ({errors.one_line(e)}).') from e
  if not all(isinstance(v, str) for v in label_map.values()):
    raise UserError(f'{path}: expected class names (strings) as values.')
  return label_map
