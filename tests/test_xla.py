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

"""What a TPU needs, held on the CPU: each detector family's steps lower to XLA.

A TPU runs the training and validation steps compiled by XLA (a GPU with
`runtime.enable_xla` too). Each family's step, the task's own
`train_step` / `validation_step` on a batch made by its input pipeline, is
traced with `jit_compile=True` and lowered to XLA's HLO, where an op XLA
has no kernel for, or a shape that is not static, fails. The lowering is
the part of XLA's compilation that depends on our code; the machine-code
generation after it (a TPU's, not this CPU's) does not, and is left out to
keep these tests to seconds (`tests/benchmarks/device_check.py` compiles
and runs the full-size steps on a device). One device, not TPUStrategy's
replicas: the step a replica runs is the same.

The recipes are shrunk without changing which ops run: ResNet-101 to 18
(its basic blocks run the ops of the bottleneck ones: convolutions, batch
norm, activations, squeeze-excitation, sums), EfficientNet-B7 to B0, 128 x 128 images,
batch 2, one NAS-FPN cell stack instead of 5-7, 5 classes (Model Garden's class-aware NMS traces a loop body per
class: 1,204 LVIS classes take minutes to trace).
"""
import json
import os

import pytest
import tensorflow as tf

from official.core import task_factory

from official_projects_backbone_reuse.analysis import train_flops
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.configs import recipes as recipes_lib

EXPERIMENTS = recipes_lib.experiments_dir()
RECIPES = recipes_lib.load_recipes()
SIZE = 128
NUM_CLASSES = 5


def _file(path):
  return os.path.join(EXPERIMENTS, path)


def _small(name):
  return _file(f'small/{name}.yaml')


RETINANET = 'backbone_reuse_retinanet:' + _small('retinanet_frozen')
MASK_RCNN = 'backbone_reuse_maskrcnn:' + _small('lvis_maskrcnn')
# (test id, spec, whether the validation step is lowered too): each family
# the recipes train, once; the ResNet-18 jobs' YAMLs where the recipe's
# family adds nothing to them.
FAMILIES = [
    ('retinanet_fpn', 'retinanet_r101_fpn_72ep', True),
    ('retinanet_nasfpn', 'retinanet_r101_nasfpn_72ep', False),
    # Faster R-CNN: its head is the cascade's first stage.
    ('faster_rcnn_cascade', 'faster_rcnn_r101_fpn_cascade_72ep', False),
    # EfficientNet, bottleneck NAS-FPN, masks and a cascade:
    ('cascade_mask_rcnn', 'cascade_maskrcnn_effb7_nasfpn_1280', False),
    # Mask R-CNN with class-balanced weights (LVIS stage 2); without them
    # its training step is cascade_mask_rcnn's first stage.
    ('mask_rcnn_class_balanced', MASK_RCNN + '+' + _small('lvis_stage2'),
     True),
    ('adapters_parallel', RETINANET + '+' + _file('adapters/parallel.yaml'),
     False),
    ('adapters_series', RETINANET + '+' + _file('adapters/series.yaml'),
     False),
    ('adapters_film', RETINANET + '+' + _file('adapters/film.yaml'), False),
    ('keras_application',
     RETINANET + '+' + _small('retinanet_keras_resnet50_frozen'), False),
    ('box_pretraining_retinanet', 'retinanet_r101_fpn_box_pretraining',
     False),
    ('box_pretraining_faster_rcnn', 'faster_rcnn_r101_fpn_box_pretraining',
     False),
]


@pytest.fixture(scope='module')
def annotations(tmp_path_factory):
  """A COCO JSON: the evaluator's val set and the class-balanced weights'
  training counts."""
  path = tmp_path_factory.mktemp('xla') / 'annotations.json'
  boxes = [(c, n) for c in range(1, NUM_CLASSES) for n in range(c)]
  path.write_text(json.dumps({
      'images': [{'id': 1, 'height': SIZE, 'width': SIZE}],
      'categories': [{'id': c, 'name': str(c)}
                     for c in range(1, NUM_CLASSES)],
      'annotations': [{'id': i, 'image_id': 1, 'category_id': c,
                       'bbox': [n, n, 10, 10], 'area': 100, 'iscrowd': 0}
                      for i, (c, n) in enumerate(boxes, 1)]}))
  return str(path)


def _shrunk(spec, annotations, nms_version='v2'):
  params = loading.load_experiment(*recipes_lib.resolve(spec, RECIPES))
  model = params.task.model
  model.num_classes = NUM_CLASSES
  retuning = getattr(params.task, 'class_balanced_retuning', None)
  if retuning and retuning.enabled:
    retuning.annotation_file = annotations
  backbone = model.backbone
  if backbone.type == 'resnet':
    backbone.resnet.model_id = 18
  elif backbone.type == 'efficientnet':
    backbone.efficientnet.model_id = 'b0'
  elif backbone.type == 'keras_application':
    backbone.keras_application.weights = None  # nothing to download
  if model.decoder.type in ('nasfpn', 'bottleneck_nasfpn'):
    getattr(model.decoder, model.decoder.type).num_repeats = 1
  params.task.init_checkpoint = None
  # The evaluator the validation step feeds (the step is the same for
  # every evaluator).
  params.task.annotation_file = annotations
  params.task.evaluation.type = 'coco'
  model.input_size = [SIZE, SIZE, 3]
  model.detection_generator.nms_version = nms_version
  return params


def _lowered(params, steps):
  """The task's steps ('train', 'validation') lowered to HLO text."""
  task = task_factory.get_task(params.task)
  model = task.build_model()
  lowered = {}
  for step in steps:
    if step == 'train':
      optimizer = task.create_optimizer(params.trainer.optimizer_config,
                                        params.runtime)
      fn = lambda inputs: task.train_step(inputs, model, optimizer)
    else:
      task.build_metrics(training=False)  # the evaluator the step feeds
      fn = lambda inputs: task.validation_step(inputs, model)
    data = getattr(params.task, f'{step}_data')  # its parser's batch
    batch = train_flops.synthetic_batch(task, data, 2, SIZE)
    lowered[step] = tf.function(fn, jit_compile=True) \
        .experimental_get_compiler_ir(batch)(stage='hlo')
  return lowered


@pytest.mark.parametrize('spec,validation', [f[1:] for f in FAMILIES],
                         ids=[f[0] for f in FAMILIES])
@pytest.mark.slow
def test_the_steps_lower_to_xla(spec, validation, annotations):
  steps = ('train', 'validation') if validation else ('train',)
  lowered = _lowered(_shrunk(spec, annotations), steps)
  assert sorted(lowered) == sorted(steps)
  for hlo in lowered.values():
    assert 'ENTRY' in hlo


@pytest.mark.slow
def test_batched_nms_does_not_lower_to_xla(annotations):
  """Why `nms_version: batched` is refused with a TPU (test_distribution):
  its CombinedNonMaxSuppression has no XLA kernel."""
  params = _shrunk(RETINANET, annotations, nms_version='batched')
  with pytest.raises(ValueError, match='unsupported operations .*'
                     'CombinedNonMaxSuppression'):
    _lowered(params, ('validation',))
