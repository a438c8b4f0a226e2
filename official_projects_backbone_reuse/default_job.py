"""The default job: the paper's pipeline end to end at laptop scale, on a CPU.

No checkpoint or dataset can be downloaded on the build machines, so the job
makes its own small world and then runs the real code paths on it:

1. a procedural dataset (object-centric classification set; long-tailed
   multi-object detection set with masks, COCO + LVIS JSON);
2. conversion of both into sharded TFRecords (Model Garden formats);
3. upstream: Model Garden's image-classification task pre-trains a ResNet-18
   (ResNet-RS form) on the classification set;
4. the untrained detector (restored frozen backbone, fresh heads) is
   evaluated, for reference;
5. downstream: `train.py` trains RetinaNet + FPN on the restored, frozen
   backbone and evaluates COCO box metrics (`<run>/metrics.json`);
6. export to a SavedModel, and detection on a val image in a fresh process,
   drawn to a PNG.

Every step runs in its own process, exactly as a user would run it, with its
full log under `<workdir>/logs/`. Re-running the job reuses finished steps.

  backbone-reuse-demo [--workdir runs/default_job]
"""
import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from typing import List, Optional

from official_projects_backbone_reuse import files

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = os.path.join(REPO, 'experiments', 'small')
_PROGRESS_MARKERS = ('train | step', 'eval | step', 'Restored ', 'total:',
                     'Error:', 'error:')


@dataclasses.dataclass
class Scale:
  """Sizes of the small world; the defaults are the issue's minimums."""
  cls_images_per_class: int = 100
  cls_val_per_class: int = 20
  det_train_images: int = 500
  det_val_images: int = 100
  upstream_steps: int = 600
  detector_steps: int = 600


class StepFailed(RuntimeError):
  """A step's process exited non-zero; the message holds its log's tail."""


def stage(title: str) -> float:
  print(f'\n=== {title}', flush=True)
  return time.time()


def run_logged(cmd: List[str], log_path: str) -> None:
  """Runs a command, full output to `log_path`, progress lines to stdout."""
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  print('$ ' + ' '.join(cmd), flush=True)
  shown = None
  with open(log_path, 'w', buffering=1) as log:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in proc.stdout:
      log.write(line)
      if (any(m in line for m in _PROGRESS_MARKERS)
          and 'cuInit' not in line):  # TensorFlow looking for a GPU
        # Orbit both logs and prints its progress: show it once.
        text = line.split('] ', 1)[-1].rstrip()[:160]
        if text != shown:
          print('  ' + text, flush=True)
          shown = text
    code = proc.wait()
  if code:
    with open(log_path) as f:
      tail = f.readlines()[-30:]
    raise StepFailed(f'{cmd[2] if len(cmd) > 2 else cmd[0]} exited with '
                     f'{code}; last lines of {log_path}:\n' + ''.join(tail))


def train_cmd(experiment: str, configs: List[str], mode: str,
              model_dir: str, overrides: List[str]) -> List[str]:
  return ([sys.executable, '-m', 'official_projects_backbone_reuse.train',
           f'--experiment={experiment}']
          + [f'--config_file={config}' for config in configs]
          + [f'--mode={mode}', f'--model_dir={model_dir}',
             '--params_override=' + ','.join(overrides)])


def write_summary(path: str, summary: dict) -> None:
  files.write_atomically(path, json.dumps(summary, indent=2))


def metrics(model_dir: str) -> dict:
  with open(os.path.join(model_dir, 'metrics.json')) as f:
    return json.load(f)


@dataclasses.dataclass
class World:
  """Where the small world and the upstream classifier are in a workdir."""
  root: str
  times: dict

  def path(self, *parts: str) -> str:
    return os.path.join(self.root, *parts)

  @property
  def records(self) -> str:
    return self.path('tfrecords')

  @property
  def logs(self) -> str:
    return self.path('logs')

  @property
  def upstream(self) -> str:
    return self.path('upstream')

  @property
  def detection(self) -> str:
    return self.path('data', 'detection')

  def annotations(self, split: str) -> str:
    """The COCO + LVIS v1 JSON of a detection split."""
    return os.path.join(self.detection, 'annotations', f'{split}.json')


def prepare_world(workdir: str, scale: Scale, total_steps: int) -> World:
  """Steps 1-3, shared by the default job and the LVIS job: the procedural
  dataset, its TFRecords and the upstream classifier (each reused when
  already done)."""
  from data_tools import convert_classification  # pylint: disable=g-import-not-at-top
  from data_tools import convert_detection  # pylint: disable=g-import-not-at-top
  from data_tools import make_procedural_dataset  # pylint: disable=g-import-not-at-top

  os.makedirs(workdir, exist_ok=True)
  world = World(os.path.abspath(workdir), {})
  data, records = world.path('data'), world.records

  t = stage(f'1/{total_steps} procedural dataset')
  if not os.path.exists(os.path.join(data, 'dataset.json')):
    make_procedural_dataset.make_dataset(
        data, seed=0, cls_images_per_class=scale.cls_images_per_class,
        cls_val_per_class=scale.cls_val_per_class,
        det_train_images=scale.det_train_images,
        det_val_images=scale.det_val_images)
  world.times['dataset'] = time.time() - t

  t = stage(f'2/{total_steps} TFRecords')
  with open(os.path.join(data, 'dataset.json')) as f:
    class_names = json.load(f)['class_names']  # label = category id - 1
  if not os.path.exists(os.path.join(records, 'done')):
    shutil.rmtree(records, ignore_errors=True)
    for split in ('train', 'val'):
      convert_detection.convert_detection(
          world.annotations(split),
          os.path.join(world.detection, split, 'images'),
          os.path.join(records, f'det_{split}'), num_shards=2)
      convert_classification.convert_classification(
          os.path.join(data, 'classification', split),
          os.path.join(records, f'cls_{split}'), num_shards=2,
          class_names=class_names)
    open(os.path.join(records, 'done'), 'w').close()
  world.times['tfrecords'] = time.time() - t

  t = stage(f'3/{total_steps} upstream: classification pre-training '
             '(Model Garden)')
  if not os.path.exists(os.path.join(world.upstream, 'metrics.json')):
    run_logged(train_cmd(
        'resnet_imagenet',
        [os.path.join(EXPERIMENTS, 'upstream_classification.yaml')],
        'train_and_eval', world.upstream,
        [f'task.train_data.input_path={records}/cls_train-*.tfrecord',
         f'task.validation_data.input_path={records}/cls_val-*.tfrecord',
         f'trainer.train_steps={scale.upstream_steps}',
         f'trainer.validation_interval={scale.upstream_steps}',
         f'trainer.checkpoint_interval={scale.upstream_steps}',
         'trainer.optimizer_config.learning_rate.cosine.decay_steps='
         f'{scale.upstream_steps}']),
        os.path.join(world.logs, 'upstream.log'))
  world.times['upstream'] = time.time() - t
  return world


def run_job(workdir: str, scale: Scale) -> dict:
  """Runs the six steps; returns the summary also written to summary.json."""
  world = prepare_world(workdir, scale, total_steps=6)
  workdir, records, logs, upstream = (world.root, world.records, world.logs,
                                      world.upstream)
  times = world.times
  det, val_json = world.detection, world.annotations('val')

  detector_overrides = [
      f'task.init_checkpoint={upstream}',
      f'task.train_data.input_path={records}/det_train-*.tfrecord',
      f'task.validation_data.input_path={records}/det_val-*.tfrecord',
      f'task.annotation_file={val_json}',
      f'trainer.train_steps={scale.detector_steps}',
      f'trainer.validation_interval={scale.detector_steps}',
      'trainer.optimizer_config.learning_rate.cosine.decay_steps='
      f'{scale.detector_steps}']
  detector_yaml = os.path.join(EXPERIMENTS, 'retinanet_frozen.yaml')

  t = stage('4/6 untrained detector (frozen backbone restored, fresh heads)')
  untrained = os.path.join(workdir, 'detector_untrained')
  if not os.path.exists(os.path.join(untrained, 'metrics.json')):
    run_logged(train_cmd('backbone_reuse_retinanet', [detector_yaml], 'eval',
                         untrained, detector_overrides),
               os.path.join(logs, 'detector_untrained.log'))
  times['untrained_eval'] = time.time() - t

  t = stage('5/6 downstream: RetinaNet on the frozen backbone')
  detector = os.path.join(workdir, 'detector')
  if not os.path.exists(os.path.join(detector, 'metrics.json')):
    run_logged(train_cmd('backbone_reuse_retinanet', [detector_yaml],
                         'train_and_eval', detector, detector_overrides),
               os.path.join(logs, 'detector.log'))
  times['detector'] = time.time() - t

  t = stage('6/6 export SavedModel, detect in a fresh process')
  export_dir = os.path.join(workdir, 'export')
  if not os.path.exists(export_dir):
    run_logged([sys.executable, '-m',
                'official_projects_backbone_reuse.export_saved_model',
                '--experiment=backbone_reuse_retinanet',
                f'--config_file={detector_yaml}',
                '--params_override=' + ','.join(detector_overrides),
                f'--checkpoint_path={detector}', f'--export_dir={export_dir}'],
               os.path.join(logs, 'export.log'))
  with open(val_json) as f:
    first_image = json.load(f)['images'][0]['file_name']
  image = os.path.join(det, 'val', 'images', first_image)
  drawn = os.path.join(workdir, 'detections')
  run_logged([sys.executable, '-m', 'official_projects_backbone_reuse.detect',
              f'--saved_model={export_dir}', f'--image={image}',
              f'--output_dir={drawn}'], os.path.join(logs, 'detect.log'))
  times['export_and_detect'] = time.time() - t

  summary = {
      'upstream_top1': metrics(upstream).get('accuracy'),
      'untrained': {k: metrics(untrained)[k] for k in ('AP', 'AP50')},
      'frozen_detector': {k: metrics(detector)[k] for k in ('AP', 'AP50')},
      'seconds': {k: round(v, 1) for k, v in times.items()},
      'drawn_detections': drawn,
      'saved_model': export_dir,
  }
  write_summary(os.path.join(workdir, 'summary.json'), summary)
  return summary


def job_arguments(description: str) -> argparse.ArgumentParser:
  """The flags of a job: --workdir and the sizes of the small world."""
  parser = argparse.ArgumentParser(description=description)
  parser.add_argument('--workdir', default=os.path.join('runs', 'default_job'))
  for field in dataclasses.fields(Scale):
    parser.add_argument('--' + field.name, type=int, default=field.default)
  return parser


def scale_of(args: argparse.Namespace) -> Scale:
  return Scale(**{f.name: getattr(args, f.name)
                  for f in dataclasses.fields(Scale)})


def main(argv: Optional[List[str]] = None) -> int:
  args = job_arguments(__doc__.split('\n\n')[0]).parse_args(argv)
  start = time.time()
  try:
    summary = run_job(args.workdir, scale_of(args))
  except StepFailed as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print('\n=== result')
  print(f"upstream classifier top-1 (val): {summary['upstream_top1']:.3f}")
  print('val box AP / AP50, untrained detector: '
        f"{summary['untrained']['AP']:.3f} / {summary['untrained']['AP50']:.3f}")
  print('val box AP / AP50, frozen-backbone detector: '
        f"{summary['frozen_detector']['AP']:.3f} / "
        f"{summary['frozen_detector']['AP50']:.3f}")
  print(f"detections drawn in {summary['drawn_detections']}")
  print(f'wall time {time.time() - start:.0f} s; per step '
        f"{summary['seconds']}")
  return 0


def run():
  sys.exit(main())


if __name__ == '__main__':
  run()
