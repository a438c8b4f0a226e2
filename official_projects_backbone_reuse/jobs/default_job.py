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

"""The default job: the paper's pipeline end to end at laptop scale, on a CPU.

No checkpoint or dataset can be downloaded on the build machines, so the job
makes its own small world and then runs the real code paths on it:

1. a procedural dataset (object-centric classification set; long-tailed
   multi-object detection set with masks, COCO + LVIS JSON);
2. conversion of both into sharded TFRecords (Model Garden formats);
3. upstream: Model Garden's image-classification task pre-trains a ResNet-18
   (ResNet-RS form) on the classification set;
4. downstream: `train.py` trains RetinaNet + FPN on the restored, frozen
   backbone and evaluates COCO box metrics once, at the end
   (`<run>/metrics.json`);
5. export to a SavedModel, and detection on a val image in a fresh process,
   drawn to a PNG.

Every step runs in its own process, exactly as a user would run it, with its
full log under `<workdir>/logs/`. Re-running the job reuses the steps it
finished from the same inputs (and says so); asked for other sizes, or after
a recipe changed, it stops with one line rather than reuse them.

  backbone-reuse-demo [--workdir runs/default_job]
"""

# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import json
import os
import sys
import time
from typing import List, Optional

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.jobs import steps


DETECTOR_EXPERIMENT = 'backbone_reuse_retinanet'
DETECTOR_YAML = 'retinanet_frozen.yaml'  # in experiments/small/


def detector_overrides(world: steps.World, scale: steps.Scale) -> List[str]:
  """Returns the detector's overrides in `world`.

  Its paths and schedule (steps 4 and 5: train, export)."""
  return [
      f'task.init_checkpoint={world.upstream}',
      f'task.train_data.input_path={world.records}/det_train-*.tfrecord',
      f'task.validation_data.input_path={world.records}/det_val-*.tfrecord',
      f'task.annotation_file={world.annotations("val")}',
      f'trainer.train_steps={scale.detector_steps}',
      f'trainer.validation_interval={scale.detector_steps}',
      'trainer.optimizer_config.learning_rate.cosine.decay_steps='
      f'{scale.detector_steps}']


def run_job(workdir: str, scale: steps.Scale) -> dict:
  """Runs the five steps; returns the summary also written to summary.json."""
  world = steps.prepare_world(workdir, scale, total_steps=5)
  times = world.times
  val_json = world.annotations('val')
  overrides = detector_overrides(world, scale)
  detector_yaml = steps.small_experiment(DETECTOR_YAML)

  t = steps.stage('4/5 downstream: RetinaNet on the frozen backbone')
  detector = world.path('detector')
  cmd = steps.train_cmd(DETECTOR_EXPERIMENT, [detector_yaml],
                        'train_and_eval', detector, overrides)
  if not world.done('detector', os.path.join(detector, 'metrics.json'),
                    steps.command_inputs(cmd, world.inputs['upstream'])):
    steps.run_logged(cmd, os.path.join(world.logs, 'detector.log'))
  times['detector'] = time.time() - t

  t = steps.stage('5/5 export SavedModel, detect in a fresh process')
  export_dir = world.path('export')
  cmd = [sys.executable, '-m',
         'official_projects_backbone_reuse.serving.export_saved_model',
         f'--experiment={DETECTOR_EXPERIMENT}',
         f'--config_file={detector_yaml}',
         '--params_override=' + ','.join(overrides),
         f'--checkpoint_path={detector}', f'--export_dir={export_dir}']
  if not world.done('export', export_dir,
                    steps.command_inputs(cmd, world.inputs['detector'])):
    steps.run_logged(cmd, os.path.join(world.logs, 'export.log'))
  with open(val_json) as f:
    first_image = json.load(f)['images'][0]['file_name']
  image = os.path.join(world.detection, 'val', 'images', first_image)
  drawn = world.path('detections')
  drawn_png = os.path.join(
      drawn, os.path.splitext(first_image)[0] + '_detections.png')
  cmd = [sys.executable, '-m',
         'official_projects_backbone_reuse.serving.detect',
         f'--saved_model={export_dir}', f'--image={image}',
         f'--output_dir={drawn}']
  if not world.done('detect', drawn_png,
                    steps.command_inputs(cmd, world.inputs['export'])):
    steps.run_logged(cmd, os.path.join(world.logs, 'detect.log'))
  times['export_and_detect'] = time.time() - t

  summary = {
      'upstream_top1': steps.metrics(world.upstream).get('accuracy'),
      'frozen_detector': {k: steps.metrics(detector)[k]
                          for k in ('AP', 'AP50')},
      'seconds': {k: round(v, 1) for k, v in times.items()},
      'reused_steps': world.reused,
      'drawn_detections': drawn,
      'saved_model': export_dir,
  }
  steps.write_summary(world.path('summary.json'), summary)
  return summary


@errors.exits_on_error
def main(argv: Optional[List[str]] = None) -> int:
  args = steps.job_arguments(__doc__.split('\n\n')[0]).parse_args(argv)
  start = time.time()
  summary = run_job(args.workdir, steps.scale_of(args))
  print('\n=== result')
  print(f"upstream classifier top-1 (val): {summary['upstream_top1']:.3f}")
  print('val box AP / AP50, frozen-backbone detector: '
        f"{summary['frozen_detector']['AP']:.3f} / "
        f"{summary['frozen_detector']['AP50']:.3f}")
  print(f"detections drawn in {summary['drawn_detections']}")
  steps.print_times(start, summary)
  return 0


if __name__ == '__main__':
  sys.exit(main())
