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

r"""Exports a trained backbone-reuse detector as one SavedModel.

Model Garden's export (`official/vision/serving`) with one change: the model
is built by `modeling.detector.build_detector`, so the exported network is the
one that was trained (backbone with its own `backbone_norm_activation`),
not the one `factory.build_retinanet/build_maskrcnn` would build from the
same config. Preprocessing, postprocessing and the serving signatures are
Model Garden's `DetectionModule`'s. One SavedModel carries three signatures:

  serving_default    uint8 images [batch, height, width, 3]
  serve_image_bytes  encoded images (JPEG/PNG) [batch]
  serve_tf_example   serialized tf.Example with `image/encoded` [batch]

The export directory also holds Model Garden's `params.yaml` and, when the
config's `task.annotation_file` exists, `label_map.json`
({"<class id>": "<name>"}), so `backbone-reuse-detect` needs nothing else.
It is written under a hidden temporary sibling name and renamed when
complete.

Example:
  backbone-reuse-export --experiment=backbone_reuse_retinanet \
    --config_file=experiments/small/retinanet_frozen.yaml \
    --checkpoint_path=/tmp/run --export_dir=/tmp/run/export
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import os
from typing import List, Optional, Sequence

from absl import flags
from absl import logging
import tensorflow as tf
import tf_keras
from tf_keras.src.saving.legacy.saved_model import utils as keras_saved_model_utils

from official.core import config_definitions as cfg
from official.vision.configs import maskrcnn as maskrcnn_cfg
from official.vision.configs import retinanet as retinanet_cfg
from official.vision.serving import detection
from official.vision.serving import export_saved_model_lib

from official_projects_backbone_reuse import registry_imports  # pylint: disable=unused-import
from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.common.errors import absl_entry_point
from official_projects_backbone_reuse.common.errors import UserError
from official_projects_backbone_reuse.common.errors import exits_on_error
from official_projects_backbone_reuse.common.errors import first_line
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.runtime import integrity
from official_projects_backbone_reuse.modeling import detector
from official_projects_backbone_reuse.serving import label_map as label_maps

# Model Garden input type -> signature name.
FUNCTION_KEYS = {
    'image_tensor': 'serving_default',
    'image_bytes': 'serve_image_bytes',
    'tf_example': 'serve_tf_example',
}
# nms versions whose detection generator accepts a dynamic batch size.
_DYNAMIC_BATCH_NMS_VERSIONS = ('batched', 'v2', 'v3')


class ExportError(UserError):
  """The export cannot be done as asked; the message says why and where."""


class BackboneReuseDetectionModule(detection.DetectionModule):
  """Model Garden's detection serving module around `build_detector`."""

  def _build_model(self) -> tf_keras.Model:
    generator = self.params.task.model.detection_generator
    if (self._batch_size is None
        and generator.nms_version not in _DYNAMIC_BATCH_NMS_VERSIONS):
      logging.info('nms_version %s does not support a dynamic batch size; '
                   'exporting with `batched`.', generator.nms_version)
      # A copy: the caller's (possibly locked) config stays as it was.
      self.params = self.params.replace(
          task={'model': {'detection_generator': {'nms_version': 'batched'}}})
    input_specs = tf_keras.layers.InputSpec(
        shape=[self._batch_size, *self._padded_size, 3])
    return detector.build_detector(
        self.params.task.model, input_specs, l2_weight_decay=0.0,
        freeze_at=validation.task_freeze_at(self.params.task))


def build_export_module(params: cfg.ExperimentConfig,
                        batch_size: Optional[int] = 1,
                        input_image_size: Optional[Sequence[int]] = None
                        ) -> BackboneReuseDetectionModule:
  """The serving module (untrained weights) for a detection experiment."""
  return BackboneReuseDetectionModule(
      params=params, batch_size=batch_size,
      input_image_size=_image_size(params, input_image_size),
      input_type='image_tensor')


def _check_detection_task(params: cfg.ExperimentConfig) -> None:
  if not isinstance(params.task, (retinanet_cfg.RetinaNetTask,
                                  maskrcnn_cfg.MaskRCNNTask)):
    raise ExportError(
        f'--experiment: exports detection experiments (RetinaNet or Mask '
        f'R-CNN tasks), got a {type(params.task).__name__}.')


def _image_size(params: cfg.ExperimentConfig,
                input_image_size: Optional[Sequence[int]]) -> List[int]:
  size = list(input_image_size or params.task.model.input_size[:2])
  if len(size) != 2 or min(size) <= 0:
    raise ExportError(
        f'input_image_size must be two positive integers (height, width), '
        f'got {size}.')
  return size


def _check_export_dir(export_dir: str, checkpoint: str,
                      annotation_file: str, overwrite: bool) -> None:
  """Checks that the export may replace `export_dir`.

  The export replaces `export_dir` whole: it must not hold (or be, or
  lie in) the checkpoint's files or the annotation file it reads."""
  inputs = [('--checkpoint_path', path) for path in
            integrity.check_checkpoint_files(checkpoint, '--checkpoint_path')]
  try:
    files.check_outputs([files.Output('--export_dir', export_dir, True)],
                        inputs + [('task.annotation_file', annotation_file)],
                        overwrite)
  except UserError as e:
    raise ExportError(str(e)) from e


def _write_export(module: BackboneReuseDetectionModule,
                  batch_size: Optional[int], image_size: List[int],
                  label_map: Optional[dict], tmp_dir: str) -> None:
  """Writes the SavedModel, params.yaml and label_map.json into tmp_dir."""
  # build_detector calls Mask R-CNN once to create its variables, and
  # Keras would then trace every layer's training-mode call into the
  # SavedModel, which fails without groundtruth. Only the serving
  # signatures are needed, so layer traces are off, as for an unbuilt model.
  with keras_saved_model_utils.keras_option_scope(save_traces=False):
    export_saved_model_lib.export_inference_graph(
        input_type='image_tensor', batch_size=batch_size,
        input_image_size=image_size, params=module.params,
        checkpoint_path=None, export_dir=tmp_dir, export_module=module,
        function_keys=dict(FUNCTION_KEYS))
  if label_map is not None:
    label_maps.write(tmp_dir, label_map)


def export(params: cfg.ExperimentConfig, checkpoint_path: str,
           export_dir: str, batch_size: Optional[int] = 1,
           input_image_size: Optional[Sequence[int]] = None,
           overwrite: bool = False) -> str:
  """Exports the detector of `params` restored from `checkpoint_path`.

  Args:
    params: the experiment config (RetinaNet or Mask R-CNN task).
    checkpoint_path: a checkpoint prefix, or a directory (its latest).
    export_dir: where the SavedModel goes (created; must be empty or absent
      unless `overwrite`).
    batch_size: the serving batch size; None exports a dynamic batch size.
    input_image_size: [height, width] images are resized and padded to;
      default `task.model.input_size[:2]`.
    overwrite: replace a non-empty `export_dir`.

  Returns:
    `export_dir`, holding the SavedModel, `params.yaml` and, when
    `task.annotation_file` exists, `label_map.json`.

  Raises:
    ExportError: the checkpoint or export_dir is not usable, the
      checkpoint does not fit the model of `params`, or writing failed (a
      full disk: the message names the path; nothing half-written is left
      and an existing export_dir is unchanged).
  """
  _check_detection_task(params)
  checkpoint = restore.resolve_checkpoint(checkpoint_path,
                                              key='checkpoint_path')
  export_dir = os.path.abspath(export_dir)
  _check_export_dir(export_dir, checkpoint, params.task.annotation_file,
                    overwrite)
  image_size = _image_size(params, input_image_size)
  label_map = label_maps.from_annotations(params.task.annotation_file)
  module = build_export_module(params, batch_size, image_size)
  restore.restore_model(module.model, checkpoint)
  try:
    with files.atomic_directory(export_dir) as tmp_dir:
      _write_export(module, batch_size, image_size, label_map, tmp_dir)
  except (OSError, tf.errors.OpError) as e:
    # A full disk, a quota, a lost mount: nothing half-written is kept, and
    # an export_dir that was there before is left as it was.
    reason = (e.strerror if isinstance(e, OSError) and e.strerror
              else first_line(e))
    where = getattr(e, 'filename', None) or export_dir
    raise ExportError(
        f'export_dir {export_dir}: writing the SavedModel failed at '
        f'{where}: {reason}. The partial export was removed'
        + (f'; {export_dir} was not changed.' if os.path.exists(export_dir)
           else '.')) from e
  logging.info('Exported %s to %s', checkpoint, export_dir)
  return export_dir


def define_flags() -> None:
  """The command's flags, named as in Model Garden's export_saved_model."""
  flags.DEFINE_string('experiment', None,
                      'Registered experiment, e.g. backbone_reuse_retinanet.')
  flags.DEFINE_multi_string(
      'config_file', None, 'YAML files overriding the experiment, in order.')
  flags.DEFINE_string('params_override', '', 'YAML/JSON string or file '
                      'applied after --config_file.')
  flags.DEFINE_string(
      'checkpoint_path', None,
      'Trained checkpoint prefix, or a directory (its latest checkpoint).')
  flags.DEFINE_string('export_dir', None,
                      'Directory the SavedModel is written to.')
  flags.DEFINE_integer(
      'batch_size', 1, 'Serving batch size; 0 exports a dynamic batch size.')
  flags.DEFINE_list('input_image_size', None, 'height,width images are '
                    'resized and padded to; default task.model.input_size[:2].')
  flags.DEFINE_bool('overwrite', False, 'Replace a non-empty --export_dir.')


@exits_on_error
def main(_) -> int:
  f = flags.FLAGS
  if not f.export_dir:
    raise ExportError('--export_dir is required.')
  if f.batch_size < 0:
    raise ExportError(f'--batch_size={f.batch_size}: expected a positive '
                      'size, or 0 for a dynamic one.')
  try:
    image_size = [int(v) for v in f.input_image_size or []]
  except ValueError as e:
    raise ExportError(f'--input_image_size={f.input_image_size}: expected '
                      'height,width.') from e
  params = loading.load_experiment(f.experiment, f.config_file or [],
                                   f.params_override)
  export(params, f.checkpoint_path, f.export_dir,
         batch_size=f.batch_size or None,
         input_image_size=image_size or None, overwrite=f.overwrite)
  print(f.export_dir)
  return 0


run = absl_entry_point(define_flags, main)


if __name__ == '__main__':
  run()
