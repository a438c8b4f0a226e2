"""The default job's six steps, end to end, at a tiny scale."""
import json
import os

from PIL import Image

from official_projects_backbone_reuse import default_job


def test_default_job_runs_every_step(tiny_default_job):
  workdir, code, out = tiny_default_job
  assert code == 0, out[-3000:]
  summary = json.loads((workdir / 'summary.json').read_text())
  for run in ('untrained', 'frozen_detector'):
    assert 0.0 <= summary[run]['AP'] <= 1.0
  assert 0.0 <= summary['upstream_top1'] <= 1.0
  assert 'frozen-backbone detector' in out
  # The frozen backbone was restored, not trained from scratch.
  assert 'Restored 152 backbone variables' in out
  (drawn,) = os.listdir(summary['drawn_detections'])
  with Image.open(os.path.join(summary['drawn_detections'], drawn)) as image:
    assert min(image.size) >= 256
  assert os.path.exists(os.path.join(summary['saved_model'],
                                     'saved_model.pb'))

  # A second run reuses every finished step and gives the same summary.
  assert default_job.main([f'--workdir={workdir}']) == 0
  again = json.loads((workdir / 'summary.json').read_text())
  assert again['frozen_detector'] == summary['frozen_detector']
