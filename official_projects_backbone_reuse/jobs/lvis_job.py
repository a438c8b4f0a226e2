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

"""The LVIS job: the paper's LVIS pipeline end to end at laptop scale.

The procedural world of the default job is long-tailed and valid LVIS v1
(frequency groups, federated neg / not-exhaustive category ids), so the LVIS
recipe runs on it with the real code paths:

1-3. the default job's world, TFRecords and upstream classifier (reused
     from the same workdir when the default job already made them);
4. LVIS conversion (`backbone-reuse-convert-lvis`, federated ids kept);
5. stage 1, frozen backbone: Mask R-CNN trained and evaluated with the LVIS
   evaluator (APr/APc/APf, box and mask; detections saved);
6. stage 1, fine-tuned backbone: the reference of the per-class analysis;
7. stage 2 from the frozen run: class-balanced re-tuning of the
   classification layer only;
8. per-class analysis (`backbone-reuse-analyse`): AP relative to the
   fine-tuned run against training annotations, and the tables by frequency
   group and object size.

Each step runs in its own process with its log under `<workdir>/logs/`;
re-running reuses finished steps.

  backbone-reuse-lvis-demo [--workdir runs/default_job] [--sigma 50]
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import os
import sys
import time
from typing import List, Optional

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.evaluation import LVIS_DETECTIONS_FILE
from official_projects_backbone_reuse.data_tools import cli
from official_projects_backbone_reuse.jobs import steps

TOTAL_STEPS = 8
LVIS_YAML = 'lvis_maskrcnn.yaml'  # in experiments/small/
STAGE2_YAML = 'lvis_stage2.yaml'
# run name -> (model dir, what it is); the first is the analysis reference.
RUNS = {
    'finetuned': ('lvis_finetuned', 'stage 1, fine-tuned backbone'),
    'frozen': ('lvis_frozen', 'stage 1, frozen backbone'),
    'frozen_stage2': ('lvis_frozen_stage2',
                      'stage 2 (class-balanced) from the frozen run'),
}
METRICS = ('AP', 'APr', 'APc', 'APf', 'mask_AP', 'mask_APr', 'mask_APc',
           'mask_APf')


def _train(world: steps.World, name: str, configs: List[str],
           overrides: List[str], after: str) -> str:
  """Trains run `name`, reading the output of step `after`.

  The run is reused when done from the same inputs."""
  model_dir = world.path(RUNS[name][0])
  cmd = steps.train_cmd('backbone_reuse_maskrcnn',
                        [steps.small_experiment(c) for c in configs],
                        'train_and_eval', model_dir, overrides)
  if not world.done(name, os.path.join(model_dir, 'metrics.json'),
                    steps.command_inputs(cmd, world.inputs['upstream'],
                                         world.inputs[after])):
    steps.run_logged(cmd, os.path.join(world.logs, f'{RUNS[name][0]}.log'))
  return model_dir


def run_job(workdir: str, scale: steps.Scale, sigma: float) -> dict:
  """Runs the eight steps of the LVIS job.

  Returns the summary also written to lvis_summary.json."""
  world = steps.prepare_world(workdir, scale, TOTAL_STEPS)
  times = world.times

  t = steps.stage(f'4/{TOTAL_STEPS} LVIS TFRecords (federated ids)')
  lvis_records = world.path('tfrecords_lvis')
  if not world.done('lvis_tfrecords', os.path.join(lvis_records, 'done'),
                    {'after': [world.inputs['dataset']]}):
    # Imported only when the step runs: it imports all of official.vision.
    from official_projects_backbone_reuse.data_tools import convert_lvis  # pylint: disable=g-import-not-at-top
    for split in ('train', 'val'):
      convert_lvis.convert_lvis(world.annotations(split), [world.detection],
                                os.path.join(lvis_records, split),
                                num_shards=steps.detection_shards(scale,
                                                                  split),
                                overwrite=True,  # a run killed midway
                                num_processes=cli.default_processes())
    open(os.path.join(lvis_records, 'done'), 'w').close()
  times['lvis_tfrecords'] = time.time() - t

  detector_steps = scale.detector_steps
  stage1 = [
      f'task.init_checkpoint={world.upstream}',
      f'task.train_data.input_path={lvis_records}/train-*.tfrecord',
      f'task.validation_data.input_path={lvis_records}/val-*.tfrecord',
      f'task.annotation_file={world.annotations("val")}',
      f'trainer.train_steps={detector_steps}',
      f'trainer.validation_interval={detector_steps}',
      f'trainer.checkpoint_interval={detector_steps}',
      'trainer.optimizer_config.learning_rate.cosine.decay_steps='
      f'{detector_steps}']

  t = steps.stage(f'5/{TOTAL_STEPS} stage 1: Mask R-CNN on the frozen '
                         'backbone, LVIS evaluation')
  frozen = _train(world, 'frozen', [LVIS_YAML], stage1, 'lvis_tfrecords')
  times['frozen'] = time.time() - t

  t = steps.stage(f'6/{TOTAL_STEPS} stage 1: the same, backbone '
                         'fine-tuned (the reference)')
  _train(world, 'finetuned', [LVIS_YAML],
         stage1 + ['task.freeze_backbone=false'], 'lvis_tfrecords')
  times['finetuned'] = time.time() - t

  t = steps.stage(f'7/{TOTAL_STEPS} stage 2: class-balanced '
                         're-tuning of the classification layer')
  stage2_steps = max(1, detector_steps // 5)
  _train(world, 'frozen_stage2', [LVIS_YAML, STAGE2_YAML], stage1[1:] + [
      f'task.init_checkpoint={frozen}',
      'task.class_balanced_retuning.annotation_file='
      f'{world.annotations("train")}',
      f'trainer.train_steps={stage2_steps}',
      f'trainer.validation_interval={stage2_steps}',
      f'trainer.checkpoint_interval={stage2_steps}',
      'trainer.optimizer_config.learning_rate.cosine.decay_steps='
      f'{stage2_steps}'], 'frozen')
  times['frozen_stage2'] = time.time() - t

  t = steps.stage(f'8/{TOTAL_STEPS} per-class analysis')
  analysis = world.path('lvis_analysis')
  steps.run_logged(
      [sys.executable, '-m',
       'official_projects_backbone_reuse.analysis.class_curves']
      + [f'--run={name}={world.path(model_dir, LVIS_DETECTIONS_FILE)}'
         for name, (model_dir, _) in RUNS.items()]
      + [f'--val_annotations={world.annotations("val")}',
         f'--train_annotations={world.annotations("train")}',
         f'--sigma={sigma}', f'--output_dir={analysis}', '--overwrite'],
      os.path.join(world.logs, 'lvis_analysis.log'))
  times['analysis'] = time.time() - t

  summary = {
      'runs': {name: {k: steps.metrics(world.path(model_dir)).get(k)
                      for k in METRICS}
               for name, (model_dir, _) in RUNS.items()},
      'analysis': analysis,
      'seconds': {k: round(v, 1) for k, v in times.items()},
      'reused_steps': world.reused,
  }
  steps.write_summary(world.path('lvis_summary.json'), summary)
  return summary


@errors.exits_on_error
def main(argv: Optional[List[str]] = None) -> int:
  parser = steps.job_arguments(__doc__.split('\n\n')[0])
  parser.add_argument('--sigma', type=float, default=50.0,
                      help='Gaussian smoothing over training annotation '
                      'counts (the paper: 1000 on LVIS; the small world has '
                      'tens to hundreds of annotations per class)')
  args = parser.parse_args(argv)
  start = time.time()
  summary = run_job(args.workdir, steps.scale_of(args), args.sigma)
  print('\n=== result (LVIS metrics on the val set, x100)')
  print('run            ' + ' '.join(f'{m:>8}' for m in METRICS))
  for name, values in summary['runs'].items():
    print(f'{name:<15}' + ' '.join(
        f'{100 * v:8.1f}' if v is not None and v >= 0 else f'{"-":>8}'
        for v in values.values()))
  print(f"per-class plots, CSV and tables in {summary['analysis']}")
  steps.print_times(start, summary)
  return 0


if __name__ == '__main__':
  sys.exit(main())
