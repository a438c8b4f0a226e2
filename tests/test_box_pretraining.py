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

"""Box-domain pre-training (AlignDet) of RetinaNet's decoder and head on
proposals: two views, the model's own forward, only decoder and head
trained, the momentum copy's rule, and what fine-tuning takes from it."""
import numpy as np
import pytest
import tensorflow as tf

from official.core import task_factory
from official.vision.ops import augment

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.dataloaders import box_views
from official_projects_backbone_reuse.modeling import box_contrast
from official_projects_backbone_reuse.tasks import box_pretraining
from official_projects_backbone_reuse.tasks import detection
from tests import reuse_helpers as h
from tests import runtime_helpers as rh


def _config(upstream, pattern, steps=2):
  params = h.retinanet_config(
      upstream, num_classes=2,
      experiment='backbone_reuse_retinanet_box_pretraining')
  params = h.set_data(params, pattern, steps=steps)
  options = params.task.box_pretraining
  options.embedding_dim, options.projection_width = 16, 32
  options.samples_per_image, options.max_proposals = 64, 10
  options.momentum_steps = steps
  params.task.train_data.parser.aug_scale_min = 1.0
  params.task.train_data.parser.aug_scale_max = 1.0
  return params


def test_forward_is_the_heads_own(upstream):
  params = _config(upstream, 'unused')
  model = task_factory.get_task(params.task).build_model()
  images = tf.random.uniform([2, 128, 128, 3])
  scores, boxes, towers = box_pretraining.forward(model, images, False)
  features = model.decoder(model.backbone(images, training=False),
                           training=False)
  head_scores, head_boxes, _ = model.head(features, training=False)
  for level in head_scores:
    np.testing.assert_allclose(scores[level], head_scores[level], atol=1e-6)
    np.testing.assert_allclose(boxes[level], head_boxes[level], atol=1e-6)
    assert towers[level].shape[-1] == params.task.model.head.num_filters


def test_two_views_share_their_proposal_ids(upstream, tiny_world):
  params = _config(upstream, tiny_world.det_train_pattern)
  task = task_factory.get_task(params.task)
  (view1, labels1), (view2, labels2) = next(iter(
      task.build_inputs(params.task.train_data)))
  assert view1.shape == view2.shape == (2, 128, 128, 3)
  for labels in (labels1, labels2):
    ids = np.concatenate([t.numpy().reshape(2, -1)
                          for t in labels['cls_targets'].values()], axis=1)
    # Every image's proposals (at most max_proposals) are ids 1..P, and
    # each has an anchor (Model Garden gives each box its best anchor).
    for image in ids:
      found = set(image[image > 0].tolist())
      assert found == set(range(1, max(found) + 1))
      assert max(found) <= 10
  ids1 = [set(t.numpy()[t.numpy() > 0].tolist())
          for t in labels1['cls_targets'].values()]
  ids2 = [set(t.numpy()[t.numpy() > 0].tolist())
          for t in labels2['cls_targets'].values()]
  assert set().union(*ids1) == set().union(*ids2)


# AlignDet's nine operations at magnitude m, as Model Garden's ops take them.
_REFERENCE_OPS = (
    lambda image, m: image,
    lambda image, m: augment.autocontrast(image),
    lambda image, m: augment.equalize(image),
    lambda image, m: augment.solarize(image, min(int(m * 256 / 10), 255)),
    lambda image, m: augment.color(image, m * 1.8 / 10 + 0.1),
    lambda image, m: augment.contrast(image, m * 1.8 / 10 + 0.1),
    lambda image, m: augment.brightness(image, m * 1.8 / 10 + 0.1),
    lambda image, m: augment.sharpness(image, m * 1.8 / 10 + 0.1),
    lambda image, m: augment.posterize(image, 4 - int(m * 4 / 10)),
)


def test_each_operation_at_each_magnitude_is_model_gardens():
  image = tf.cast(tf.random.uniform([16, 24, 3], 0, 256, tf.int32), tf.uint8)
  ops = box_views._PHOTOMETRIC  # pylint: disable=protected-access
  assert len(ops) == len(_REFERENCE_OPS) == 9
  for m in range(1, 10):
    arguments = box_views.magnitude_arguments(tf.constant(m))
    for i, (op, reference) in enumerate(zip(ops, _REFERENCE_OPS)):
      np.testing.assert_array_equal(op(image, arguments), reference(image, m),
                                    err_msg=f'operation {i}, magnitude {m}')


def test_the_nine_photometric_operations_keep_geometry():
  image = tf.cast(tf.random.uniform([16, 24, 3], 0, 256, tf.int32), tf.uint8)
  outputs = {box_views.photometric(image).numpy().tobytes()
             for _ in range(60)}
  assert len(outputs) > 5  # several operations and magnitudes drawn
  assert box_views.photometric(image).shape == image.shape


@pytest.mark.slow
def test_only_decoder_head_and_projection_train_and_the_copy_follows(
    upstream, tiny_world, tmp_path):
  params = _config(upstream, tiny_world.det_train_pattern, steps=2)
  task = task_factory.get_task(params.task)
  model = task.build_model()
  task.initialize(model)
  pairs = box_pretraining._online_and_target(model)  # pylint: disable=protected-access
  averaged = {id(v) for _, v in pairs}
  assert not {id(v) for v in model.backbone.weights} & averaged
  # Everything trained is averaged, and the batch-norm statistics too.
  assert {id(v) for v in model.trainable_variables} < averaged
  assert any('moving_mean' in v.name for _, v in pairs)
  assert not {id(v) for v in model.backbone.trainable_variables}
  everything = box_pretraining._online_and_target(model, everything=True)  # pylint: disable=protected-access
  assert all(np.array_equal(t.numpy(), o.numpy()) for t, o in everything)

  logs = two_steps_follow_the_rule(task, params, model, pairs)
  assert float(logs['contrastive_loss']) > 0


def two_steps_follow_the_rule(task, params, model, pairs):
  """Two training steps: after each the copy is m t + (1 - m) o, variable
  by variable; the online parts moved, the backbone did not. Returns the
  last step's logs."""
  optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                    params.runtime)
  data = iter(task.build_inputs(params.task.train_data))
  backbone = [v.numpy() for v in model.backbone.weights]
  for _ in range(2):
    before = [(t.numpy(), o.numpy()) for t, o in pairs]
    logs = task.train_step(next(data), model, optimizer,
                           metrics=task.build_metrics(training=True))
    m = float(box_contrast.momentum(optimizer.iterations - 1, 2))
    for (target, online), (t0, _) in zip(pairs, before):
      np.testing.assert_allclose(
          target.numpy(), m * t0 + (1 - m) * online.numpy(), rtol=1e-5,
          atol=1e-7)
  assert all(np.array_equal(a, v.numpy())
             for a, v in zip(backbone, model.backbone.weights))
  assert any(not np.array_equal(o0, o.numpy())
             for (_, o0), (_, o) in zip(before, pairs))
  return logs


@pytest.mark.slow
def test_two_replicas_move_the_copy_once_a_step_and_fine_tuning_takes_it(
    upstream, tiny_world, tmp_path):
  """The EMA under MirroredStrategy (cross-replica update), then what
  fine-tuning takes from that run."""
  params = _config(upstream, tiny_world.det_train_pattern, steps=2)
  params.runtime.distribution_strategy = 'mirrored'
  params.task.train_data.global_batch_size = 4
  # The run checks the labelled classes against the model's (the task
  # ignores them): the tiny world's 24 classes, not proposals' one.
  params.task.model.num_classes = 25
  trainer = params.trainer
  trainer.steps_per_loop = trainer.summary_interval = 1
  trainer.checkpoint_interval = 1
  config = rh.write_config(params, tmp_path / 'mirrored.yaml')
  run = tmp_path / 'run'
  proc = rh.run(rh.python_m(
      rh.TRAIN_MODULE, '--experiment=backbone_reuse_retinanet_box_pretraining',
      f'--config_file={config}', '--mode=train', f'--model_dir={run}',
      '--num_cpu_devices=2'))
  log = proc.stdout + proc.stderr
  assert proc.returncode == 0, log[-3000:]
  assert '2 replica(s) in sync' in log
  model = task_factory.get_task(params.task).build_model()
  copy_follows_from_step_1_to_2(model, run)

  # Fine-tuning takes decoder and head from the run: the online detector,
  # not its momentum copy, and not the one-class classifier.
  fine = h.retinanet_config(num_classes=25)
  fine.task.init_checkpoints = [
      {'checkpoint': upstream, 'modules': ['backbone']},
      {'checkpoint': str(run), 'modules': ['decoder', 'head'],
       'frozen': False}]
  validation.check_task_config(fine.task, for_run=False)
  model = task_factory.get_task(fine.task).build_model()
  reports = detection.restore_parts(model, fine.task)
  assert [r.label for r in reports] == ['backbone', 'decoder', 'head']
  assert [r.note for r in reports] == ['frozen', 'trained', 'trained']
  decoder, head = reports[1:]
  assert not decoder.skipped and decoder.restored
  # The one-class classifier is label space: left new. Nothing else is.
  assert len(head.skipped) == 2  # its kernel and bias
  assert all('/scores/' in n for n in head.skipped)
  assert sum(len(r.restored) + len(r.skipped) for r in reports) == len(
      model.weights)
  keys = tf.train.load_checkpoint(str(run)).get_variable_to_shape_map()
  assert any(k.startswith('model/momentum_target/') for k in keys)
  parts = [restore.Part('decoder', model.decoder,
                            restore.part_paths('decoder'))]
  assert restore.part_differences(parts, str(run)) == []


def copy_follows_from_step_1_to_2(model, run):
  """From a run's checkpoints of steps 1 and 2 (momentum over 2 steps):
  copy_2 = m copy_1 + (1 - m) online_2, variable by variable, and most
  variables moved. Leaves `model` with step 2's weights."""
  pairs = box_pretraining._online_and_target(model)  # pylint: disable=protected-access

  def values(step):
    tf.train.Checkpoint(model=model).read(str(run / f'ckpt-{step}')
                                          ).expect_partial()
    return [(t.numpy(), o.numpy()) for t, o in pairs]

  first, second = values(1), values(2)
  m = float(box_contrast.momentum(1, 2))
  for (t1, _), (t2, o2) in zip(first, second):
    np.testing.assert_allclose(t2, m * t1 + (1 - m) * o2, rtol=1e-5,
                               atol=1e-7)
  moved = sum(not np.array_equal(t1, t2)
              for (t1, _), (t2, _) in zip(first, second))
  assert moved > len(pairs) // 2
