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

"""tf.distribute: two replicas on a split CPU, two workers, input sharding,
and the checks of `runtime.*` / `--tpu` that run before anything is written
(in `load_experiment`, which every command calls before it writes: the
command's exit and one line are in test_train_cli).

The runs are `train.py` subprocesses, as a user runs them: a strategy has to
be chosen before TensorFlow sets up its devices.
"""
import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf

from official.core import task_factory
from official.vision.dataloaders import retinanet_input

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.runtime import checks
from official_projects_backbone_reuse.runtime import strategies
from official_projects_backbone_reuse.common.errors import ConfigError
from tests import reuse_helpers as h
from tests import runtime_helpers as rh


def _source_ids(path):
  ids = []
  for record in tf.data.TFRecordDataset(path):
    example = tf.train.Example.FromString(record.numpy())
    ids.append(example.features.feature['image/source_id'].bytes_list
               .value[0].decode())
  return ids


@pytest.mark.slow
def test_two_replicas_on_a_split_cpu(upstream, tiny_world, tmp_path):
  params = rh.tiny_params(upstream, tiny_world, steps=4, batch=4)
  params.runtime.distribution_strategy = 'mirrored'
  # Model Garden's synchronized batch norm in the decoder and head.
  params.task.model.norm_activation.use_sync_bn = True
  config = rh.write_config(params, tmp_path / 'mirrored.yaml')
  model_dir = tmp_path / 'run'
  proc = rh.run(rh.train_command(config, model_dir, '--num_cpu_devices=2',
                                 mode='train_and_eval'))
  log = proc.stdout + proc.stderr
  assert proc.returncode == 0, log[-3000:]
  assert 'MirroredStrategy, 2 replica(s) in sync on device:CPU:0, ' \
         'device:CPU:1' in log
  # The global batch of 4 is split: 2 images per replica.
  assert "Images per replica: {'train': 2}" in log
  losses = rh.train_losses(proc.stdout)
  assert sorted(losses) == [2, 4] and all(np.isfinite(list(losses.values())))
  metrics = json.loads((model_dir / 'metrics.json').read_text())
  assert metrics['global_step'] == 4
  assert np.isfinite(metrics['validation_loss'])
  model = rh.restored_detector(params, str(model_dir / 'ckpt-4'))
  assert restore.backbone_differences(model.backbone, upstream) == []
  print(f'two replicas: train losses {losses}, validation loss '
        f'{metrics["validation_loss"]:.4f}')


@pytest.mark.slow
def test_mixed_float16_with_a_dynamic_loss_scale(upstream, tiny_world,
                                                 tmp_path):
  """A GPU user's precision: the optimizer is wrapped in a dynamic loss
  scale, the loss stays finite and the frozen backbone bit-identical."""
  params = rh.tiny_params(upstream, tiny_world, steps=2, batch=2,
                          eval_data=False)
  params.override({'runtime': {'mixed_precision_dtype': 'float16',
                               'loss_scale': 'dynamic'}})
  config = rh.write_config(params, tmp_path / 'float16.yaml')
  model_dir = tmp_path / 'run'
  proc = rh.run(rh.train_command(config, model_dir))
  log = proc.stdout + proc.stderr
  assert proc.returncode == 0, log[-3000:]
  losses = rh.train_losses(proc.stdout)
  assert losses and all(np.isfinite(list(losses.values()))), losses
  latest = tf.train.latest_checkpoint(str(model_dir))
  names = tf.train.load_checkpoint(latest).get_variable_to_shape_map()
  assert any('loss_scale' in name for name in names), sorted(names)[:20]
  model = rh.restored_detector(params, latest)
  assert restore.backbone_differences(model.backbone, upstream) == []


@pytest.mark.slow
def test_two_workers_step_together(upstream, tiny_world, tmp_path):
  # 6 steps of 4 images: one epoch of the 24 training images.
  params = rh.tiny_params(upstream, tiny_world, steps=6, batch=4,
                          eval_data=False)
  params.runtime.distribution_strategy = 'multi_worker_mirrored'
  config = rh.write_config(params, tmp_path / 'workers.yaml')
  model_dir = tmp_path / 'run'
  ports = rh.free_ports(2)
  cluster = {'worker': [f'127.0.0.1:{p}' for p in ports]}
  workers, logs = [], []
  for index in range(2):
    tf_config = json.dumps({'cluster': cluster,
                            'task': {'type': 'worker', 'index': index}})
    # Files, not pipes: a worker blocked on a full pipe would block both.
    logs.append((tmp_path / f'out{index}.log', tmp_path / f'err{index}.log'))
    with open(logs[-1][0], 'w') as out, open(logs[-1][1], 'w') as err:
      workers.append(subprocess.Popen(
          rh.train_command(config, model_dir,
                           module='tests.record_input_files'),
          cwd=h.REPO, stdout=out, stderr=err,
          env=rh.environment(
              TF_CONFIG=tf_config,
              RECORD_INPUT_FILES=str(tmp_path / f'files{index}.txt'))))
  try:
    for w in workers:
      w.wait(timeout=400)
  finally:
    for w in workers:
      if w.poll() is None:
        w.kill()
  outputs = [(out.read_text(), err.read_text()) for out, err in logs]
  for w, (out, err) in zip(workers, outputs):
    assert w.returncode == 0, (out + err)[-3000:]
  losses = [rh.train_losses(out) for out, _ in outputs]
  # Both workers ran the same steps and saw the same (all-reduced) losses.
  assert sorted(losses[0]) == [2, 4, 6] and losses[0] == losses[1]
  assert all(np.isfinite(list(losses[0].values())))
  # One consistent set of checkpoints, written by the chief alone.
  assert tf.train.latest_checkpoint(str(model_dir)).endswith('ckpt-6')
  assert sorted(os.listdir(model_dir)) == [
      'checkpoint', 'ckpt-4.data-00000-of-00001', 'ckpt-4.index',
      'ckpt-6.data-00000-of-00001', 'ckpt-6.index',
      'operative_config.train.gin',  # gin's, as Model Garden's train.py
      'params.yaml', 'train']
  assert len(os.listdir(model_dir / 'train')) == 1  # one summary writer
  _, err1 = outputs[1]
  temporary = [line.split('saved checkpoint to ')[1].rsplit('/', 1)[0]
               for line in err1.splitlines() if 'saved checkpoint to ' in line]
  assert temporary and not any(os.path.exists(d) for d in temporary)
  model = rh.restored_detector(params, str(model_dir / 'ckpt-6'))
  assert restore.backbone_differences(model.backbone, upstream) == []

  # The input is sharded per worker: in each epoch, each training file is
  # read by one worker, so no example is read twice in an epoch.
  opened = [[line.strip() for line in (tmp_path / f'files{i}.txt')
             .read_text().splitlines() if line.strip()] for i in range(2)]
  all_files = sorted(tf.io.gfile.glob(tiny_world.det_train_pattern))
  epochs = min(len(opened[0]), len(opened[1]))
  assert epochs >= 1
  for epoch in range(epochs):
    assert sorted([opened[0][epoch], opened[1][epoch]]) == all_files
  ids = [_source_ids(opened[i][0]) for i in range(2)]
  assert len(ids[0]) + len(ids[1]) == len(set(ids[0]) | set(ids[1])) == 24
  print(f'two workers: train losses {losses[0]} (same on both); epoch 1: '
        f'worker 0 read {len(ids[0])} source ids, worker 1 {len(ids[1])}, '
        f'{len(set(ids[0]) & set(ids[1]))} in common, '
        f'{len(set(ids[0]) | set(ids[1]))} distinct; files opened per worker '
        f'{[len(o) for o in opened]}')


@pytest.mark.slow
def test_each_input_pipeline_reads_its_own_examples(tiny_world, tmp_path,
                                                    monkeypatch):
  """The task's own training input, one epoch per pipeline: the two
  pipelines of a two-worker run read disjoint halves of the data."""
  params = h.set_data(h.retinanet_config(), tiny_world.det_train_pattern,
                      batch=4)
  params = strategies.settle_input_seed(params, 2, str(tmp_path))
  assert params.task.train_data.seed is not None
  assert strategies.settle_input_seed(params, 1, str(tmp_path)) is params
  # One epoch: Model Garden's reader repeats the list of files forever.
  monkeypatch.setattr(tf.data.Dataset, 'repeat', lambda self, *a, **k: self)
  parse_train = retinanet_input.Parser._parse_train_data

  def parse_keeping_source_id(self, data, *args, **kwargs):
    image, labels = parse_train(self, data, *args, **kwargs)
    return image, dict(labels, source_id=data['source_id'])

  monkeypatch.setattr(retinanet_input.Parser, '_parse_train_data',
                      parse_keeping_source_id)
  task = task_factory.get_task(params.task)
  read = []
  for pipeline in range(2):
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=pipeline,
        num_replicas_in_sync=2)
    ids = []
    for images, labels in task.build_inputs(params.task.train_data, context):
      assert images.shape[0] == 2  # per-replica batch: global 4 / 2
      ids += [s.decode() for s in labels['source_id'].numpy()]
    read.append(ids)
  assert len(read[0]) == len(read[1]) == 12
  assert not set(read[0]) & set(read[1])
  assert len(set(read[0]) | set(read[1])) == 24


@pytest.mark.parametrize('case', [
    'tpu_without_address', 'tpu_ignored', 'tpu_local_paths', 'tpu_gcs',
    'tpu_vm', 'tpu_batched_nms', 'cpu_devices', 'gpus', 'multi_worker_eval',
    'strategy',
    'summary_interval', 'steps_per_loop'])
def test_runtime_is_checked_before_anything_runs(case, tmp_path):
  params = h.set_data(h.retinanet_config(), 'gs://bucket/coco/train*',
                      'gs://bucket/coco/val*')
  model_dir, mode, cpus = 'gs://bucket/run', 'train_and_eval', 0
  expected = None
  # The small YAML's `batched` NMS cannot run on a TPU (case tpu_batched_nms).
  params.task.model.detection_generator.nms_version = 'v2'
  if case == 'tpu_without_address':
    params.runtime.distribution_strategy = 'tpu'
    expected = 'needs --tpu'
  elif case == 'tpu_ignored':
    params.runtime.tpu = 'my-tpu'
    expected = "--tpu=my-tpu is set but runtime.distribution_strategy is " \
               "'one_device'"
  elif case == 'tpu_local_paths':
    params.override({'runtime': {'distribution_strategy': 'tpu',
                                 'tpu': 'my-tpu'}})
    params.task.train_data.input_path = str(tmp_path / 'train*')
    model_dir = str(tmp_path / 'run')
    expected = (f'use Cloud Storage (gs://bucket/...) for --model_dir='
                f'{model_dir}, task.train_data.input_path={tmp_path}/train*')
  elif case == 'tpu_gcs':
    params.override({'runtime': {'distribution_strategy': 'tpu',
                                 'tpu': 'my-tpu'}})
  elif case == 'tpu_vm':
    params.override({'runtime': {'distribution_strategy': 'tpu',
                                 'tpu': 'local'}})
    model_dir = str(tmp_path / 'run')
  elif case == 'tpu_batched_nms':  # XLA cannot compile it: refused early
    params.override({'runtime': {'distribution_strategy': 'tpu',
                                 'tpu': 'my-tpu'},
                     'task': {'model': {'detection_generator': {
                         'nms_version': 'batched'}}}})
    expected = ('task.model.detection_generator.nms_version=batched runs '
                'CombinedNonMaxSuppression, which XLA cannot compile')
  elif case == 'cpu_devices':
    cpus = 2
    expected = '--num_cpu_devices=2 makes replicas of CPU devices'
  elif case == 'gpus':
    params.override({'runtime': {'distribution_strategy': 'mirrored',
                                 'num_gpus': 64}})
    expected = 'runtime.num_gpus=64, but TensorFlow finds'
  elif case == 'multi_worker_eval':
    params.runtime.distribution_strategy = 'multi_worker_mirrored'
    expected = 'task.validation_data.sharding=false'
  elif case == 'strategy':
    params.runtime.distribution_strategy = 'mirored'
    expected = "runtime.distribution_strategy='mirored'"
  elif case == 'summary_interval':  # was orbit's ValueError mid-start-up
    params.trainer.steps_per_loop, params.trainer.summary_interval = 20, 50
    expected = ('trainer.summary_interval=50 is not a multiple of '
                'trainer.steps_per_loop=20')
  elif case == 'steps_per_loop':
    params.trainer.steps_per_loop = 0
    expected = 'trainer.steps_per_loop=0: at least 1.'
  if expected is None:
    checks.check_runtime(params, mode, model_dir, cpus)
  else:
    with pytest.raises(ConfigError) as e:
      checks.check_runtime(params, mode, model_dir, cpus)
    assert expected in str(e.value)
