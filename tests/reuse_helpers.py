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

"""Tiny configs and an upstream classification checkpoint for the tests."""
import os

import tensorflow as tf
import tf_keras

from official.core import exp_factory
from official.core import task_factory
from official.modeling import hyperparams

from official_projects_backbone_reuse import registry_imports  # pylint: disable=unused-import
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.modeling import detector
from official_projects_backbone_reuse.modeling import reuse_policy

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = os.path.join(REPO, 'experiments', 'small')
UPSTREAM_YAML = os.path.join(SMALL, 'upstream_classification.yaml')
RETINANET_YAML = os.path.join(SMALL, 'retinanet_frozen.yaml')


def upstream_config(model_id=10, num_classes=24, input_size=64):
  """The default job's upstream classifier config, shrunk."""
  params = exp_factory.get_exp_config('resnet_imagenet')
  params = hyperparams.override_params_dict(params, UPSTREAM_YAML,
                                            is_strict=True)
  params.task.model.backbone.resnet.model_id = model_id
  params.task.model.num_classes = num_classes
  params.task.model.input_size = [input_size, input_size, 3]
  return params


def make_upstream_checkpoint(directory, model_id=10, num_classes=24,
                             seed=0):
  """Writes a classification checkpoint the way Model Garden's trainer does
  (model + checkpoint_items, params.yaml beside it), with weights and batch
  norm statistics moved away from their initial values."""
  tf.random.set_seed(seed)
  params = upstream_config(model_id, num_classes)
  model = task_factory.get_task(params.task).build_model()
  for v in model.weights:
    noise = tf.random.normal(v.shape, stddev=0.05, seed=seed)
    v.assign(tf.abs(v + noise) if 'moving_variance' in v.name else v + noise)
  os.makedirs(directory, exist_ok=True)
  ckpt = tf.train.Checkpoint(model=model, **model.checkpoint_items)
  prefix = ckpt.save(os.path.join(directory, 'ckpt'))
  hyperparams.save_params_dict_to_yaml(params,
                                       os.path.join(directory, 'params.yaml'))
  return prefix, model


def retinanet_config(init_checkpoint=None, model_id=10, input_size=128,
                     num_classes=25, experiment='backbone_reuse_retinanet'):
  """The default job's detector config, shrunk."""
  params = exp_factory.get_exp_config(experiment)
  params = hyperparams.override_params_dict(params, RETINANET_YAML,
                                            is_strict=True)
  params.task.model.backbone.resnet.model_id = model_id
  params.task.model.input_size = [input_size, input_size, 3]
  params.task.model.num_classes = num_classes
  params.task.init_checkpoint = init_checkpoint
  return params


def maskrcnn_config(init_checkpoint=None, model_id=10, input_size=128,
                    num_classes=25, experiment='backbone_reuse_maskrcnn'):
  """A tiny Mask R-CNN with the upstream backbone's settings."""
  params = exp_factory.get_exp_config(experiment)
  small = retinanet_config(init_checkpoint, model_id, input_size, num_classes)
  params.override({
      'runtime': small.runtime.as_dict(),
      'trainer': small.trainer.as_dict(),
      'task': {
          'freeze_backbone': True,
          'init_checkpoint': init_checkpoint,
          'init_checkpoint_modules': 'backbone',
          'annotation_file': None,
          'model': {
              'num_classes': num_classes,
              'input_size': [input_size, input_size, 3],
              'min_level': 3, 'max_level': 5,
              'backbone': small.task.model.backbone.as_dict(),
              'backbone_norm_activation':
                  small.task.model.backbone_norm_activation.as_dict(),
              'norm_activation': {'use_sync_bn': False},
              'decoder': {'type': 'fpn', 'fpn': {'num_filters': 32}},
              'rpn_head': {'num_filters': 32},
              'detection_head': {'num_filters': 32, 'fc_dims': 64},
              'mask_head': {'num_filters': 32},
              'roi_generator': {'num_proposals': 64,
                                'test_num_proposals': 32},
              'roi_sampler': {'num_sampled_rois': 32},
              'mask_sampler': {'num_sampled_masks': 16},
          },
      },
  }, is_strict=True)
  return params


def set_data(params, train_pattern, val_pattern=None, batch=2, steps=2):
  """Points a detection config at TFRecords and makes the run tiny."""
  params.task.train_data.input_path = train_pattern
  params.task.train_data.global_batch_size = batch
  params.task.train_data.shuffle_buffer_size = 8
  if val_pattern:
    params.task.validation_data.input_path = val_pattern
    params.task.validation_data.global_batch_size = batch
  params.trainer.train_steps = steps
  params.trainer.steps_per_loop = steps
  params.trainer.summary_interval = steps
  params.trainer.checkpoint_interval = steps
  params.trainer.validation_steps = 2
  params.trainer.optimizer_config.learning_rate.cosine.decay_steps = steps
  params.trainer.optimizer_config.warmup.linear.warmup_steps = 0
  return params


def build_backbone(model_config, input_size=64, freeze_backbone=False,
                   freeze_at=None, adapter='none', l2_weight_decay=0.0):
  """The backbone of a detector config, built by the reuse policy alone."""
  model_config = model_config.replace(backbone_adapter={'type': adapter})
  return reuse_policy.build_backbone(
      model_config,
      tf_keras.layers.InputSpec(shape=[None, input_size, input_size, 3]),
      detector.l2_regularizer_for(l2_weight_decay),
      validation.freeze_at_of(freeze_backbone, freeze_at))
