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

"""Classification checkpoints as users download them: a directory of
checkpoint files without the `checkpoint` state file (Model Garden's
ResNet-RS tarballs) restores from its checkpoint, the highest step when
there are several; none, or a damaged one, is one clear error. And
`backbone-reuse-inspect-checkpoint`: what a checkpoint holds, in each
format, and whether a detector's backbone restores from it."""
import glob
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from official.core import task_factory

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse import inspect_checkpoint
from official_projects_backbone_reuse.common.errors import CheckpointError
from tests import reuse_helpers as h
from tests import runtime_helpers as rh


def _as_downloaded(upstream_checkpoint, directory, steps):
  """The upstream's checkpoint files as ckpt-STEP, without a state file."""
  os.makedirs(directory, exist_ok=True)
  for step in steps:
    for path in glob.glob(upstream_checkpoint.prefix + '.*'):
      suffix = path[len(upstream_checkpoint.prefix):]
      shutil.copy(path, os.path.join(directory, f'ckpt-{step}{suffix}'))
  return str(directory)


def test_a_directory_without_state_file_restores_its_checkpoint(
    upstream_checkpoint, tmp_path):
  directory = _as_downloaded(upstream_checkpoint, tmp_path / 'rs', [600])
  assert not os.path.exists(os.path.join(directory, 'checkpoint'))
  assert restore.resolve_checkpoint(directory) == os.path.join(
      directory, 'ckpt-600')
  params = h.retinanet_config(upstream_checkpoint.directory)
  model = task_factory.get_task(params.task).build_model()
  report = restore.restore_backbone(model.backbone, directory)
  assert report.checkpoint == os.path.join(directory, 'ckpt-600')
  assert len(report.restored) == len(model.backbone.weights)
  assert restore.backbone_differences(
      model.backbone, upstream_checkpoint.directory) == []


def test_several_take_the_highest_step_and_name_the_others(
    upstream_checkpoint, tmp_path, monkeypatch):
  directory = _as_downloaded(upstream_checkpoint, tmp_path / 'rs',
                             [100, 1200, 600])
  # Recorded at the call, not through a log handler: which handlers and
  # levels the absl logger has depends on what ran earlier in the worker.
  lines = []
  monkeypatch.setattr(restore.logging, 'info',
                      lambda fmt, *args: lines.append(fmt % args))
  chosen = restore.resolve_checkpoint(directory, 'key')
  assert chosen == os.path.join(directory, 'ckpt-1200')
  assert lines == [
      f'key={directory} has no usable `checkpoint` state file: using '
      f'{directory}/ckpt-1200 (the highest step; also there: '
      f'{directory}/ckpt-100, {directory}/ckpt-600).']


def test_no_checkpoint_or_a_damaged_one_is_one_error(upstream_checkpoint,
                                                     tmp_path):
  empty = tmp_path / 'empty'
  empty.mkdir()
  (empty / 'README').write_text('weights')
  with pytest.raises(CheckpointError, match=r'is a directory without any '
                     r'checkpoint in it \(no \*\.index file\)'):
    restore.resolve_checkpoint(str(empty))
  directory = _as_downloaded(upstream_checkpoint, tmp_path / 'rs', [600])
  data, = glob.glob(os.path.join(directory, 'ckpt-600.data-*'))
  with open(data, 'r+b') as f:
    f.truncate(os.path.getsize(data) // 2)
  params = h.retinanet_config(upstream_checkpoint.directory)
  model = task_factory.get_task(params.task).build_model()
  prefix = os.path.join(directory, 'ckpt-600')
  with pytest.raises(CheckpointError, match=(
      f'Checkpoint {prefix} cannot be read.*Its files \\({prefix}.index, '
      f'{prefix}.data-\\*\\) are damaged or incomplete')):
    restore.restore_backbone(model.backbone, directory)


def _save_by_name(prefix, tensors):
  """A TF1 name-based checkpoint (tf.compat.v1.train.Saver's format: names,
  no object graph), as the tensorflow/tpu checkpoints are."""
  names = sorted(tensors)
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                    shape_and_slices=[''] * len(names),
                    tensors=[tf.constant(tensors[n]) for n in names])


def test_inspect_describes_each_format(upstream_checkpoint, tmp_path):
  tf2 = inspect_checkpoint.describe(upstream_checkpoint.directory)
  assert tf2['format'] == 'tf2'
  assert tf2['checkpoint'] == upstream_checkpoint.prefix
  assert tf2['classifier']['classes'] == 24
  assert tf2['pre_training']['backbone']['resnet']['model_id'] == 10
  assert tf2['variables'] == len(upstream_checkpoint.classifier.weights)

  prefix = str(tmp_path / 'tf1' / 'model.ckpt-218949')
  _save_by_name(prefix, {
      'efficientnet-b7/stem/conv2d/kernel': np.zeros([3, 3, 3, 64], 'f'),
      'efficientnet-b7/blocks_0/se/conv2d/kernel': np.zeros([1, 1, 64, 16],
                                                            'f'),
      'efficientnet-b7/head/dense/kernel': np.zeros([2560, 1000], 'f'),
      'efficientnet-b7/head/dense/bias': np.zeros([1000], 'f'),
      'global_step': np.int64(218949)})
  tf1 = inspect_checkpoint.describe(str(tmp_path / 'tf1'))  # no state file
  assert tf1['format'] == 'tf1' and tf1['checkpoint'] == prefix
  assert tf1['looks_like'] == ['efficientnet-b7']
  assert tf1['classifier'] == {
      'variable': 'efficientnet-b7/head/dense/kernel',
      'shape': [2560, 1000], 'classes': 1000}
  assert tf1['variables'] == 4 and tf1['pre_training'] is None

  model = tf_keras.Sequential([tf_keras.layers.Conv2D(4, 3),
                               tf_keras.layers.GlobalAveragePooling2D(),
                               tf_keras.layers.Dense(7)])
  model.build([None, 8, 8, 3])
  model.save_weights(str(tmp_path / 'tiny.h5'))
  h5 = inspect_checkpoint.describe(str(tmp_path / 'tiny.h5'))
  assert h5['format'] == 'keras_h5' and h5['classifier']['classes'] == 7
  assert h5['parameters'] == model.count_params()
  with pytest.raises(CheckpointError, match='none.h5: no such file'):
    inspect_checkpoint.describe(str(tmp_path / 'none.h5'))


@pytest.mark.slow
def test_inspect_checks_a_detectors_restore(upstream_checkpoint, tmp_path,
                                            capsys):
  config = rh.write_config(h.retinanet_config(), tmp_path / 'det.yaml')
  report = inspect_checkpoint.check_restore(
      upstream_checkpoint.directory, 'backbone_reuse_retinanet', [config], '')
  backbone = upstream_checkpoint.classifier.backbone
  assert report == [f'Restored {len(backbone.weights)} backbone variables '
                    f'from {upstream_checkpoint.prefix}; 0 new by design.']
  wrong = rh.write_config(h.retinanet_config(model_id=18),
                          tmp_path / 'r18.yaml')
  proc = rh.run(rh.python_m(
      'official_projects_backbone_reuse.inspect_checkpoint',
      upstream_checkpoint.directory, '--experiment=backbone_reuse_retinanet',
      f'--config_file={wrong}'))
  assert proc.returncode == 2, proc.stderr[-2000:]
  found = json.loads(proc.stdout)
  assert found['format'] == 'tf2'
  assert 'backbone.resnet.model_id: upstream 10, here 18' in found['error']
  # The command's one line, in this process (the one above has its exit).
  capsys.readouterr()
  assert inspect_checkpoint.main(['inspect', str(tmp_path / 'nothing')]) == 2
  out, err = capsys.readouterr()
  assert out == '' and err == (
      f"error: PATH='{tmp_path}/nothing': no such checkpoint (expected "
      f"{tmp_path}/nothing.index, or a directory holding checkpoints).\n")
