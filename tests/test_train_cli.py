"""train.py refuses bad experiments with one readable line, writing nothing."""
import os
import subprocess
import sys

import pytest

from tests import reuse_helpers as h


def _train(tmp_path, *args):
  model_dir = tmp_path / 'run'
  proc = subprocess.run(
      [sys.executable, '-m', 'official_projects_backbone_reuse.train',
       '--mode=train', f'--model_dir={model_dir}', *args],
      capture_output=True, text=True, timeout=300, check=False)
  return proc, model_dir


@pytest.mark.parametrize('case', ['experiment', 'yaml_key', 'input_path',
                                  'checkpoint'])
def test_bad_config_fails_clearly(case, tmp_path):
  base = ['--experiment=backbone_reuse_retinanet',
          f'--config_file={h.RETINANET_YAML}']
  if case == 'experiment':
    args, expected = ['--experiment=retinanet_froze'], "'retinanet_froze'"
  elif case == 'yaml_key':
    bad = tmp_path / 'bad.yaml'
    bad.write_text('task:\n  model:\n    num_clases: 3\n')
    args, expected = base + [f'--config_file={bad}'], "'num_clases'"
  elif case == 'input_path':
    args = base + ['--params_override=task.train_data.input_path='
                   f'{tmp_path}/none*']
    expected = 'task.train_data.input_path'
  else:
    args = base + [f'--params_override=task.init_checkpoint={tmp_path}/x,'
                   f'task.train_data.input_path={__file__}']
    expected = 'task.init_checkpoint'
  proc, model_dir = _train(tmp_path, *args)
  assert proc.returncode == 2, proc.stderr[-2000:]
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith('error: ') and expected in last, last
  assert not os.path.exists(model_dir)
