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

"""The LVIS job end to end at a tiny scale: LVIS conversion, stage 1 frozen
and fine-tuned, stage 2, LVIS evaluation, per-class analysis."""
import contextlib
import csv
import io
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.jobs import lvis_job
from official_projects_backbone_reuse.jobs import steps
from official_projects_backbone_reuse.modeling import detector_parts
from official_projects_backbone_reuse.common.errors import ConfigError
from tests import lvis_reference
from official_projects_backbone_reuse.evaluation import (
    LVIS_DETECTIONS_FILE)
from tests import reuse_helpers as h
from tests.conftest import TINY_JOB


@pytest.mark.slow
def test_lvis_job_runs_every_step(tiny_default_job):
  workdir, code, _ = tiny_default_job
  assert code == 0
  upstream_log = workdir / 'logs' / 'upstream.log'
  upstream_time = os.path.getmtime(upstream_log)
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    code = lvis_job.main([f'--workdir={workdir}', '--sigma=5'] + TINY_JOB)
  assert code == 0, out.getvalue()[-3000:]
  # The default job's world and upstream classifier were reused.
  assert os.path.getmtime(upstream_log) == upstream_time

  summary = json.loads((workdir / 'lvis_summary.json').read_text())
  assert set(summary['runs']) == set(lvis_job.RUNS)
  with open(workdir / 'data' / 'detection' / 'annotations' / 'val.json') as f:
    gt = json.load(f)
  for name, (model_dir, _) in lvis_job.RUNS.items():
    metrics = json.loads((workdir / model_dir / 'metrics.json').read_text())
    # What validation reported is what the LVIS API computes from the
    # detections the run saved.
    with open(workdir / model_dir / LVIS_DETECTIONS_FILE) as f:
      detections = json.load(f)
    for iou_type, prefix in (('bbox', ''), ('segm', 'mask_')):
      reference = lvis_reference.reference_evaluate(gt, detections, iou_type)
      for key in ('AP', 'APr', 'APc', 'APf', 'APs', 'APm', 'APl'):
        np.testing.assert_allclose(metrics[prefix + key], reference[key],
                                   atol=1e-4, err_msg=f'{name} {key}')
    assert summary['runs'][name]['AP'] == metrics['AP']

  stage2_log = (workdir / 'logs' / 'lvis_frozen_stage2.log').read_text()
  assert 'Class-balanced re-tuning' in stage2_log
  # Stage 2 moved the classification layer of the stage-1 detector and
  # nothing else of it, batch-norm statistics included.
  stage1, stage2 = (
      tf.train.load_checkpoint(str(workdir / lvis_job.RUNS[name][0]))
      for name in ('frozen', 'frozen_stage2'))
  # The detector's parts (not the optimizer) of Model Garden's checkpoints.
  parts = detector_parts.part_names(loading.load_experiment(
      'backbone_reuse_maskrcnn', [steps.small_experiment(lvis_job.LVIS_YAML)],
      '').task.model)
  weights = [k for k in stage1.get_variable_to_shape_map()
             if k.split('/')[0] in parts and 'OPTIMIZER_SLOT' not in k]
  assert len(weights) > 200
  assert {k for k in weights if not np.array_equal(
      stage1.get_tensor(k), stage2.get_tensor(k))} == {
          f'detection_head/0/_classifier/{v}/.ATTRIBUTES/VARIABLE_VALUE'
          for v in ('kernel', 'bias')}

  analysis = workdir / 'lvis_analysis'
  with open(analysis / 'class_ap.csv') as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == len(gt['categories'])
  for iou_type in ('bbox', 'segm'):
    png = (analysis / f'relative_ap_{iou_type}.png').read_bytes()
    assert png.startswith(b'\x89PNG')
  tables = (analysis / 'tables.md').read_text()
  assert 'APr' in tables and 'APs' in tables and 'frozen_stage2' in tables


def test_lvis_evaluation_config_is_checked_before_the_run():
  params = h.maskrcnn_config()
  params.task.evaluation.type = 'lvis'
  with pytest.raises(ConfigError,
                     match=r'task\.evaluation\.type=lvis needs '
                           r'task\.annotation_file'):
    validation.check_task_config(params.task)
  params.task.annotation_file = '/data/lvis_v1_val.json'
  validation.check_task_config(params.task)
  params.task.evaluation.type = 'pascal'
  with pytest.raises(ConfigError, match=r"task\.evaluation\.type='pascal': "
                                        r'expected "coco", "lvis" or "voc"'):
    validation.check_task_config(params.task)
  params.task.evaluation.type = 'voc'
  params.task.annotation_file = None
  with pytest.raises(ConfigError, match=r'task\.evaluation\.type=voc needs '
                                        r'task\.annotation_file'):
    validation.check_task_config(params.task)
