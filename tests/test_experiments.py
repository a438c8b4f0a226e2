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

"""Every experiment YAML parses, merges with its base and builds.

The recipes of experiments/recipes.yaml compose the YAMLs the way a user
does (`--experiment E --config_file a.yaml --config_file b.yaml ...`). Each
recipe is loaded strictly; each DISTINCT architecture (task, backbone,
decoder, cascade, masks) and reuse mode is built once, at 128x128
(schedules, depth and widths do not change which parts train; one is built
at its full depth, the others at ResNet-50 or EfficientNet-B0), and must
show its reuse mode:
a frozen backbone has no trained variable, a trained one has all. Adapters
change only the backbone, so a recipe with adapters is built when its
(backbone, adapter) pair is new; only its adapters train.
"""
import copy
import functools
import glob
import os

import pytest

from official_projects_backbone_reuse.analysis import report
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.configs import recipes as recipes_lib
from official_projects_backbone_reuse.configs import validation
from official_projects_backbone_reuse.modeling import adapters
from official_projects_backbone_reuse.modeling import detector_parts
from official_projects_backbone_reuse.modeling import parameters
from official_projects_backbone_reuse.runtime import checks

EXPERIMENTS = recipes_lib.experiments_dir()
RECIPES = recipes_lib.load_recipes()
INIT = {name: os.path.join(EXPERIMENTS, 'init', f'{name}.yaml')
        for name in ('freeze', 'finetune', 'scratch')}
# Where a recipe runs: GPUs in float16 (with XLA or not), a TPU in bfloat16.
RUNTIME = [os.path.join(EXPERIMENTS, 'runtime', f)
           for f in ('gpu_mixed_float16.yaml', 'tpu_bfloat16.yaml',
                     'xla.yaml')]
# The adapter overlays that no recipe uses, on one detector.
ADAPTER_SPECS = [
    f'retinanet_r101_fpn_72ep:{os.path.join(EXPERIMENTS, "adapters", a)}'
    for a in ('series.yaml', 'film.yaml')]
YAMLS = sorted(
    p for p in glob.glob(os.path.join(EXPERIMENTS, '**', '*.yaml'),
                         recursive=True)
    if os.path.relpath(p, EXPERIMENTS).split(os.sep)[0] not in ('small',
                                                                'studies')
    and p not in (recipes_lib.experiment_file('recipes.yaml'),
                  recipes_lib.experiment_file('paper_numbers.yaml')))
# The other initialisations, on one detector of each family; the RetinaNet
# ones are also built (the reuse policy is the same for every family).
INIT_SPECS = [f'{recipe}:{INIT[init]}'
              for recipe in ('retinanet_r101_fpn_72ep',
                             'faster_rcnn_r101_fpn_72ep')
              for init in ('finetune', 'scratch')]
BUILT_INIT_SPECS = [s for s in INIT_SPECS if s.startswith('retinanet')]
BUILD_SIZE = 128
# Built at full depth; the others at the smallest depth of their block type
# (ResNet-50: bottlenecks; EfficientNet-B0), which builds 2-3x faster.
FULL_DEPTH = 'retinanet_r101_fpn_72ep'


@functools.lru_cache(maxsize=None)
def _loaded(spec):
  return loading.load_experiment(*recipes_lib.resolve(spec, RECIPES))


def load(spec):
  """A copy of the recipe's config: each is loaded once per process
  (collection loads them all)."""
  return copy.deepcopy(_loaded(spec))


def test_recipes_cover_the_paper():
  originals = [n for n, r in RECIPES.items() if r.original]
  assert len(originals) == 12
  for name in originals:
    if name.startswith('faster_rcnn_r101'):
      assert name.replace('r101', 'r50') in RECIPES, name


def test_every_yaml_is_in_a_recipe_or_is_an_init_overlay():
  used = ({os.path.join(EXPERIMENTS, f) for r in RECIPES.values()
           for f in r.config_files} | set(INIT.values())
          | {s.partition(':')[2] for s in ADAPTER_SPECS} | set(RUNTIME))
  assert YAMLS and set(YAMLS) <= used, sorted(set(YAMLS) - used)
  assert used <= set(YAMLS), sorted(used - set(YAMLS))


@pytest.mark.parametrize('path', YAMLS,
                         ids=lambda p: os.path.relpath(p, EXPERIMENTS))
def test_every_yaml_says_what_it_reproduces(path):
  with open(path) as f:
    text = f.read()
  assert text.startswith('#'), path
  assert '# Paper:' in text, f'{path}: no "# Paper:" comment'


@pytest.mark.parametrize('recipe', ['retinanet_r101_fpn_72ep',
                                    'lvis_cascade_maskrcnn_effb7_nasfpn_1280'])
@pytest.mark.parametrize('overlay', RUNTIME, ids=os.path.basename)
def test_runtime_overlays_pass_a_runs_checks(recipe, overlay):
  """A recipe with a runtime overlay is a run the checks accept (a TPU's
  paths in Cloud Storage, its NMS one XLA compiles)."""
  experiment, files = recipes_lib.resolve(recipe, RECIPES)
  data = ('task.train_data.input_path=gs://b/train*,'
          'task.validation_data.input_path=gs://b/val*')
  tpu = 'my-tpu' if 'tpu' in overlay else None
  params = loading.load_experiment(experiment, files + [overlay], data,
                                   tpu=tpu)
  checks.check_runtime(params, 'train_and_eval', 'gs://b/run')
  if overlay.endswith('xla.yaml'):
    assert params.runtime.enable_xla
  else:
    assert params.runtime.mixed_precision_dtype in ('float16', 'bfloat16')


def test_readme_shows_every_recipe():
  with open(os.path.join(EXPERIMENTS, 'README.md')) as f:
    readme = f.read()
  assert report.recipes_table(RECIPES) in readme, (
      'experiments/README.md is out of date: paste the output of '
      '`backbone-reuse-report --list` into it.')


@pytest.mark.parametrize(
    'name', sorted(n for n in RECIPES if '_copy_paste' in n))
def test_copy_paste_recipes_differ_from_their_twins_only_by_it(name):
  with_it = load(name).as_dict()
  without = load(name.replace('_copy_paste', '')).as_dict()
  assert with_it['task']['train_data']['copy_paste'].pop('enabled')
  assert not without['task']['train_data']['copy_paste'].pop('enabled')
  assert with_it == without


def _retuning(params):
  return validation.retuning(params.task)


@pytest.mark.parametrize('name', sorted(RECIPES))
def test_recipe_loads_strictly_and_freezes(name):
  params = load(name)
  assert params.task.freeze_backbone
  # Stage 2 starts from the whole stage-1 detector.
  assert params.task.init_checkpoint_modules == (
      'all' if _retuning(params) else 'backbone')
  assert _retuning(params) == name.endswith('_stage2')
  assert params.task.model.backbone_norm_activation.activation == 'swish'


def _original(recipe):
  """What the Model Garden original of `recipe` sets, from its file name."""
  stem = os.path.basename(recipe.original)
  epochs = 72 if stem.endswith('_72epochs.yaml') else 600
  if stem.startswith('fastrcnn'):
    schedule = {72: ([88704, 125664], 133056),
                600: ([1062734, 1090458], 1108940)}[epochs]
    batch, lr = 64, [0.16, 0.016, 0.0016]
  else:
    schedule = {72: ([22176, 31416], 33264),
                600: ([265684, 272615], 277235)}[epochs]
    batch, lr = 256, [0.32, 0.032, 0.0032]
  return dict(boundaries=schedule[0], train_steps=schedule[1], batch=batch,
              lr=lr, nasfpn='_nasfpn' in stem, cascade='_cascade' in stem)


@pytest.mark.parametrize(
    'name', sorted(n for n, r in RECIPES.items() if r.original))
def test_recipe_has_the_values_of_its_model_garden_original(name):
  expected = _original(RECIPES[name])
  params = load(name)
  model, trainer = params.task.model, params.trainer
  resnet = model.backbone.resnet
  assert (resnet.model_id, resnet.stem_type, resnet.se_ratio) == (
      101, 'v1', 0.25)
  assert resnet.replace_stem_max_pool and resnet.resnetd_shortcut
  assert model.decoder.type == ('nasfpn' if expected['nasfpn'] else 'fpn')
  if expected['nasfpn']:
    assert (model.min_level, model.max_level) == (3, 7)
  parser = params.task.train_data.parser
  assert (parser.aug_scale_min, parser.aug_scale_max) == (0.1, 2.0)
  assert parser.aug_rand_hflip
  assert params.task.train_data.global_batch_size == expected['batch']
  lr = trainer.optimizer_config.learning_rate
  assert lr.type == 'stepwise'
  assert lr.stepwise.boundaries == expected['boundaries']
  assert lr.stepwise.values == expected['lr']
  assert trainer.train_steps == expected['train_steps']
  if hasattr(model, 'roi_sampler'):
    assert model.detection_head.num_fcs == 2
    assert model.rpn_head.num_convs == 2  # the paper's; the originals have 1
    assert model.norm_activation.activation == 'swish'
    cascade = model.roi_sampler.cascade_iou_thresholds
    assert cascade == ([0.7, 0.8] if expected['cascade'] else None)
    assert model.detection_head.cascade_class_ensemble == expected['cascade']


@pytest.mark.parametrize('spec', INIT_SPECS)
def test_init_overlays_set_the_reuse_mode(spec):
  params = load(spec)
  assert not params.task.freeze_backbone
  if spec.endswith('scratch.yaml'):
    assert params.task.init_checkpoint is None
  else:
    assert params.task.init_checkpoint_modules == 'backbone'


def _frozen_parts(params):
  """The decoder and heads that task.init_checkpoints entries freeze."""
  return tuple(sorted(m for e in params.task.init_checkpoints if e.frozen
                      for m in e.modules if m != 'backbone'))


def _distinct_models():
  """One spec per distinct architecture and reuse mode, and per distinct
  (backbone, adapter). Depth (ResNet-50/101) and widths (RPN convolutions,
  512 filters) do not change which parts train; every recipe is still
  loaded strictly by the tests above. Stage 2 (class-balanced re-tuning)
  shares its stage-1 model; which layers it trains is tested on a tiny
  cascade in test_class_balanced_retuning.py, and that nothing else moves
  by the LVIS job test."""
  seen = {}
  for spec in list(RECIPES) + BUILT_INIT_SPECS + ADAPTER_SPECS:
    params = load(spec)
    model = params.task.model
    adapter = model.backbone_adapter.type
    cascade = bool(getattr(model, 'roi_sampler', None)
                   and model.roi_sampler.cascade_iou_thresholds)
    key = (type(params.task).__name__, model.backbone.type,
           model.decoder.type, cascade, getattr(model, 'include_mask', False),
           params.task.freeze_backbone, _frozen_parts(params))
    if adapter != 'none':
      key = (model.backbone.type, adapter)
    seen.setdefault(key, spec)
  return list(seen.values())


@pytest.mark.parametrize('spec', _distinct_models(),
                         ids=lambda s: s.replace(EXPERIMENTS + os.sep, ''))
@pytest.mark.slow
def test_model_builds_and_the_reuse_mode_reaches_it(spec):
  params = load(spec)
  architecture = params.task.model.backbone
  if spec != FULL_DEPTH and architecture.type == 'resnet':
    architecture.resnet.model_id = min(architecture.resnet.model_id, 50)
  elif spec != FULL_DEPTH and architecture.type == 'efficientnet':
    architecture.efficientnet.model_id = 'b0'
  decoder = params.task.model.decoder
  if decoder.type in ('nasfpn', 'bottleneck_nasfpn'):  # the same parts train
    getattr(decoder, decoder.type).num_repeats = 1
  model = report.build_for_counting(params, input_size=BUILD_SIZE)
  counts = parameters.count_parameters(model)
  parts = {k: c for k, c in counts.items() if k != 'total'}
  assert counts['total'].total == sum(c.total for c in parts.values())
  assert counts['total'].trained == sum(c.trained for c in parts.values())
  backbone = counts['backbone']
  assert backbone.total > 0
  trained_ids = {id(v) for v in model.trainable_variables}
  adapter_ids = {id(v) for v in adapters.adapter_variables(model.backbone)}
  backbone_trained = [v.name for v in model.backbone.weights
                      if id(v) in trained_ids and id(v) not in adapter_ids]
  has_adapters = params.task.model.backbone_adapter.type != 'none'
  assert ('adapters' in counts) == has_adapters
  frozen_parts = _frozen_parts(params)
  if 'momentum_target' in parts:  # box-domain pre-training: never trained
    assert parts.pop('momentum_target').trained == 0
  if params.task.freeze_backbone:
    assert backbone.trained == 0 and not backbone_trained
    assert all(c.trained == c.total > 0 for k, c in parts.items()
               if k != 'backbone' and k not in frozen_parts), counts
  else:
    assert backbone.trained == backbone.total
    assert counts['total'].trained == counts['total'].total
  if frozen_parts:  # TFA: of the frozen parts, the class layers train
    frozen_trained = {v.name.split('/')[-2] for part in frozen_parts
                      for v in detector_parts.part_objects(model)[part]
                      .trainable_weights}
    assert frozen_trained == {'detection-scores', 'detection-boxes'}
    assert counts['decoder'].trained == counts['rpn_head'].trained == 0
