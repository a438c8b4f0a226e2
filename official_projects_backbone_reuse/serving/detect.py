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

r"""Runs an exported detector on image files and draws its detections.

Loads a SavedModel written by `backbone-reuse-export` (or Model Garden's own
detection export) in this process and runs its `serving_default` signature
(uint8 images) on each image. Resizing and padding are the serving module's
job; images go in as they are, in batches of the exported batch size.

Images: any format Pillow reads, by content, as 8-bit RGB in their stored
layout, the pixels the converters store (`common.images`: 16-bit samples >>
8, alpha dropped; 32-bit integer or float pixels refused). EXIF orientation
is not applied, as the converters and COCO's boxes do not: the boxes and
the drawing are in the stored layout, and a note says so for a tagged image.

Box coordinates. The serving outputs are in the resized model-input frame
(Mask R-CNN, and RetinaNet by default) or normalised to [0, 1] of the original
image (RetinaNet with `task.export_config.output_normalized_coordinates`).
Which one is read from the export's `params.yaml`; either way the boxes
returned and written here are [ymin, xmin, ymax, xmax] in pixels of the
original image, clipped to it.

Outputs, each written under a temporary name and renamed when complete:
  <output_dir>/<image name>_detections.png   boxes, class names and scores
  --output_json                              detections of every image
Class names come from `<saved_model>/label_map.json` when present, else ids.

Example:
  backbone-reuse-detect --saved_model=/tmp/run/export \
    --image=a.jpg --image=b.png --output_dir=/tmp/detections
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import io
import json
import os
import sys
from typing import Dict, Iterator, List, Optional, Sequence

from absl import flags
import numpy as np
from PIL import Image
import tensorflow as tf
import yaml

from official.modeling.hyperparams import params_dict
from official.vision.utils.object_detection import visualization_utils

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.common import images
from official_projects_backbone_reuse.common.errors import UserError
from official_projects_backbone_reuse.common.errors import exits_on_error
from official_projects_backbone_reuse.serving import label_map as label_maps

_SIGNATURE = 'serving_default'


class DetectError(UserError):
  """The detection cannot run as asked; the message says why and where."""


def boxes_are_normalized(saved_model_dir: str) -> bool:
  """Whether the export's boxes are normalised, from its params.yaml.

  Our exports hold params.yaml beside the SavedModel; Model Garden's CLI puts
  the SavedModel in a `saved_model` subdirectory, so its parent is read too.
  """
  for directory in (saved_model_dir, os.path.dirname(
      os.path.normpath(saved_model_dir))):
    path = os.path.join(directory, 'params.yaml')
    if tf.io.gfile.exists(path):
      try:
        task = params_dict.read_yaml_to_params_dict(path).as_dict()['task']
        export_config = task.get('export_config') or {}
        return bool(export_config.get('output_normalized_coordinates',
                                      False))
      except (yaml.YAMLError, KeyError, TypeError, AttributeError) as e:
        raise DetectError(
            f'--saved_model {saved_model_dir}: {path} is not the params.yaml '
            'of an export (a `task:` mapping; plain YAML, no Python tags): '
            f'{errors.one_line(e)}') from e
  raise DetectError(
      f'--saved_model {saved_model_dir}: no params.yaml in it or its parent, '
      'so the coordinate frame of its boxes is unknown.')


def read_image(path: str) -> np.ndarray:
  """Reads an image file as uint8 RGB [height, width, 3].

  In its stored layout: the pixels the converters store of it
  (`common.images`)."""
  try:
    return images.read_rgb(path)[0]
  except (OSError, ValueError) as e:
    raise DetectError(f'--image {path}: cannot be read as an image '
                      f'({e}).') from e


def orientation_note(path: str) -> Optional[str]:
  """Returns the note on an image whose EXIF orientation is ignored.

  What detect says of an image whose EXIF orientation it ignores (from
  the header; `read_image` names a file it cannot read)."""
  try:
    with images.open_image(path) as image:
      orientation, (width, height) = images.orientation(image), image.size
  except (OSError, SyntaxError, ValueError):
    return None
  if orientation == 1:
    return None
  return (f'note: {path}: EXIF orientation {orientation} is not applied: '
          f'boxes are in the stored {width}x{height} pixel layout, as the '
          'converters store images and as COCO\'s boxes are, and the drawing '
          'shows that layout')


def _batches(images: Sequence[np.ndarray], batch_size: int
             ) -> Iterator[List[int]]:
  """Runs of consecutive image indices of one shape, at most batch_size."""
  batch = []
  for i, image in enumerate(images):
    if batch and (len(batch) == batch_size
                  or image.shape != images[batch[0]].shape):
      yield batch
      batch = []
    batch.append(i)
  if batch:
    yield batch


def _to_pixels(boxes: np.ndarray, image_info: np.ndarray,
               normalized: bool) -> np.ndarray:
  """[N, 4] serving boxes -> pixels of the original image, clipped to it."""
  height, width = image_info[0]
  if normalized:
    boxes = boxes * np.array([height, width, height, width])
  else:
    # image_info rows: original size, resized size, scale, offset.
    scale = np.tile(image_info[2], 2)
    offset = np.tile(image_info[3], 2)
    boxes = (boxes + offset) / scale
  return np.clip(boxes, 0.0, np.array([height, width, height, width]))


def _detections(outputs: Dict[str, np.ndarray], row: int, normalized: bool,
                min_score: float, label_map: Dict[int, str]) -> dict:
  count = int(outputs['num_detections'][row])
  scores = outputs['detection_scores'][row, :count]
  keep = scores >= min_score
  boxes = _to_pixels(outputs['detection_boxes'][row, :count],
                     outputs['image_info'][row], normalized)[keep]
  classes = outputs['detection_classes'][row, :count][keep].astype(int)
  return {
      'num_detections': int(keep.sum()),
      'boxes': boxes.tolist(),
      'classes': classes.tolist(),
      'class_names': [label_map.get(c, str(c)) for c in classes.tolist()],
      'scores': scores[keep].tolist(),
  }


def detect(saved_model_dir: str, image_paths: Sequence[str],
           min_score: float = 0.0) -> List[dict]:
  """Detections of an exported detector on image files.

  Args:
    saved_model_dir: the export directory (SavedModel).
    image_paths: image files (any format Pillow reads; as 8-bit RGB in
      the stored layout, `read_image`).
    min_score: detections scoring lower are dropped.

  Returns:
    Per image, in order: {'image', 'height', 'width', 'num_detections',
    'boxes' ([ymin, xmin, ymax, xmax] in pixels of the image), 'classes',
    'class_names', 'scores'}.

  Raises:
    DetectError: the SavedModel or an image cannot be used.
  """
  if not tf.saved_model.contains_saved_model(saved_model_dir):
    raise DetectError(f'--saved_model {saved_model_dir}: no SavedModel there.')
  normalized = boxes_are_normalized(saved_model_dir)
  label_map = label_maps.read(saved_model_dir)
  images = [read_image(path) for path in image_paths]
  try:
    serving = tf.saved_model.load(saved_model_dir).signatures.get(_SIGNATURE)
  except (OSError, ValueError, tf.errors.OpError) as e:
    raise DetectError(f'--saved_model {saved_model_dir}: cannot be loaded, '
                      f'the export is damaged ({errors.first_line(e)}).') from e
  if serving is None or 'detection_boxes' not in serving.structured_outputs:
    raise DetectError(f'--saved_model {saved_model_dir}: no `{_SIGNATURE}` '
                      'signature with detection_boxes (export with NMS).')
  (input_name, input_spec), = serving.structured_input_signature[1].items()
  batch_size = input_spec.shape[0] or 1
  results = []
  for batch in _batches(images, batch_size):
    # A fixed batch size is filled up by repeating the last image.
    fill = [batch[-1]] * (batch_size - len(batch))
    inputs = np.stack([images[i] for i in batch + fill])
    outputs = {k: v.numpy() for k, v in serving(
        **{input_name: tf.constant(inputs)}).items()}
    for row, i in enumerate(batch):
      height, width = images[i].shape[:2]
      results.append(dict(
          image=image_paths[i], height=height, width=width,
          **_detections(outputs, row, normalized, min_score, label_map)))
  return results


def draw(image: np.ndarray, detection: dict) -> np.ndarray:
  """The image with the detection's boxes, class names and scores."""
  category_index = {
      c: {'id': c, 'name': name}
      for c, name in zip(detection['classes'], detection['class_names'])}
  return visualization_utils.visualize_boxes_and_labels_on_image_array(
      image.copy(), np.array(detection['boxes']).reshape(-1, 4),
      np.array(detection['classes'], dtype=int),
      np.array(detection['scores']), category_index,
      use_normalized_coordinates=False, max_boxes_to_draw=None,
      min_score_thresh=0.0, line_thickness=2)


def output_png_path(output_dir: str, image_path: str) -> str:
  stem = os.path.splitext(os.path.basename(image_path))[0]
  return os.path.join(output_dir, stem + '_detections.png')


def run_cli(saved_model_dir: str, image_paths: Sequence[str], output_dir: str,
            min_score: float, output_json: str,
            overwrite: bool = False) -> None:
  """What the command does; DetectError says what is wrong."""
  if not image_paths:
    raise DetectError('--image is required (repeat it for several images).')
  if not 0.0 <= min_score <= 1.0:
    raise DetectError(f'--min_score={min_score}: expected a value in [0, 1].')
  files.check_output_path(output_dir, '--output_dir', folder=True)
  png_paths = [output_png_path(output_dir, p) for p in image_paths]
  if len(set(png_paths)) != len(png_paths):
    raise DetectError('--image: two images share a file name, so their '
                      f'outputs in {output_dir} would collide.')
  outputs = [files.Output('--output_dir', path) for path in png_paths]
  if output_json:
    outputs.append(files.Output('--output_json', output_json))
  files.check_outputs(outputs, [('--saved_model', saved_model_dir)]
                      + [('--image', path) for path in image_paths],
                      overwrite)
  for path in image_paths:
    note = orientation_note(path)
    if note:
      print(note, file=sys.stderr)
  results = detect(saved_model_dir, image_paths, min_score)
  os.makedirs(output_dir, exist_ok=True)
  for result, png_path in zip(results, png_paths):
    picture = Image.fromarray(draw(read_image(result['image']), result))
    buffer = io.BytesIO()
    picture.save(buffer, format='PNG')
    files.write_atomically(png_path, buffer.getvalue())
    print(f'{result["image"]}: {result["num_detections"]} detections -> '
          f'{png_path}')
  if output_json:
    text = json.dumps(results, indent=1).encode()
    files.write_atomically(output_json, text)


def define_flags() -> None:
  """The command's flags."""
  flags.DEFINE_string('saved_model', None,
                      'Export directory written by backbone-reuse-export.')
  flags.DEFINE_multi_string('image', None, 'Image file; repeatable.')
  flags.DEFINE_string('output_dir', None,
                      'Where <image name>_detections.png files go.')
  flags.DEFINE_float('min_score', 0.3, 'Detections scoring lower are neither '
                     'drawn nor listed.')
  flags.DEFINE_string('output_json', None, 'Optional JSON file listing the '
                      'detections of each image (boxes [ymin, xmin, ymax, '
                      'xmax] in pixels of the image).')
  flags.DEFINE_bool('overwrite', False, 'Replace output files that exist.')


@exits_on_error
def main(_) -> int:
  f = flags.FLAGS
  for name in ('saved_model', 'output_dir'):
    if not f[name].value:
      raise DetectError(f'--{name} is required.')
  run_cli(f.saved_model, f.image or [], f.output_dir, f.min_score,
          f.output_json, f.overwrite)
  return 0


run = errors.absl_entry_point(define_flags, main)


if __name__ == '__main__':
  run()
