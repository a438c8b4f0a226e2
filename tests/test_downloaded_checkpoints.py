"""Classification checkpoints as users download them: a directory of
checkpoint files without the `checkpoint` state file (Model Garden's
ResNet-RS tarballs) restores from its checkpoint, the highest step when
there are several; none, or a damaged one, is one clear error."""
import glob
import logging
import os
import shutil

import pytest

from official.core import task_factory

from official_projects_backbone_reuse import checkpoints
from official_projects_backbone_reuse.checkpoints import CheckpointError
from tests import reuse_helpers as h


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
  assert checkpoints.resolve_checkpoint(directory) == os.path.join(
      directory, 'ckpt-600')
  params = h.retinanet_config(upstream_checkpoint.directory)
  model = task_factory.get_task(params.task).build_model()
  report = checkpoints.restore_backbone(model.backbone, directory)
  assert report.checkpoint == os.path.join(directory, 'ckpt-600')
  assert len(report.restored) == len(model.backbone.weights)
  assert checkpoints.backbone_differences(
      model.backbone, upstream_checkpoint.directory) == []


def test_several_take_the_highest_step_and_name_the_others(
    upstream_checkpoint, tmp_path, caplog):
  directory = _as_downloaded(upstream_checkpoint, tmp_path / 'rs',
                             [100, 1200, 600])
  with caplog.at_level(logging.INFO):
    chosen = checkpoints.resolve_checkpoint(directory, 'key')
  assert chosen == os.path.join(directory, 'ckpt-1200')
  assert (f'key={directory} has no usable `checkpoint` state file: using '
          f'{directory}/ckpt-1200 (the highest step; also there: '
          f'{directory}/ckpt-100, {directory}/ckpt-600).') in caplog.text


def test_no_checkpoint_or_a_damaged_one_is_one_error(upstream_checkpoint,
                                                     tmp_path):
  empty = tmp_path / 'empty'
  empty.mkdir()
  (empty / 'README').write_text('weights')
  with pytest.raises(CheckpointError, match=r'is a directory without any '
                     r'checkpoint in it \(no \*\.index file\)'):
    checkpoints.resolve_checkpoint(str(empty))
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
    checkpoints.restore_backbone(model.backbone, directory)
