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

"""The checks of a detection task's config, before anything is built or run.

One place for them: `configs.detection`'s task configs call
`check_task_config` from their `validate()` (Model Garden's habit), which
`configs.loading.load_experiment` calls; `for_run` adds what a run needs
beyond a readable config (a checkpoint to restore, an annotation file).
Each failure is one ConfigError naming the key.
"""
import json
from typing import Dict, Optional

import tensorflow as tf

from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.evaluation import voc_evaluator
from official_projects_backbone_reuse.modeling import adapters
from official_projects_backbone_reuse.modeling import detector_parts

FREEZE_ALL = 5  # freeze_at that freezes the whole backbone.
_ENTRY_KEYS = ('checkpoint', 'modules', 'frozen', 'skip_label_space', 'skip',
               'reinit_novel_classes')

# The evaluations that read their ground truth from task.annotation_file.
_ANNOTATION_FILE_OF = {
    'lvis': 'the LVIS v1 JSON of the validation images (its '
            'neg_category_ids and not_exhaustive_category_ids are part of '
            'the metric)',
    'voc': 'the JSON backbone-reuse-convert-voc wrote beside the validation '
           'shards (its difficult flags are part of the metric)',
}


def check_task_config(task_config, for_run: bool = True) -> None:
  """Checks that the task's keys agree, before anything runs.

  Fails with a ConfigError, before anything runs, when the task's own
  keys contradict each other, or (`for_run`) a run would lack a value they
  need (a checkpoint or annotation file to read)."""
  check_reuse(task_config, for_run)
  copy = getattr(task_config.train_data, 'copy_paste', None)
  if copy and copy.enabled and not task_config.model.include_mask:
    raise ConfigError('task.train_data.copy_paste.enabled pastes objects by '
                      'their masks: set task.model.include_mask (and train '
                      'on TFRecords with masks).')
  evaluation = task_config.evaluation
  if evaluation.type not in ('coco', 'lvis', 'voc'):
    raise ConfigError(f'task.evaluation.type={evaluation.type!r}: expected '
                      '"coco", "lvis" or "voc".')
  if evaluation.voc07_recall_points not in voc_evaluator.ELEVEN_POINT_RECALLS:
    raise ConfigError(
        'task.evaluation.voc07_recall_points='
        f'{evaluation.voc07_recall_points!r}: expected "detectron2" or '
        '"devkit".')
  needed = _ANNOTATION_FILE_OF.get(evaluation.type)
  if for_run and needed and not task_config.annotation_file:
    raise ConfigError(f'task.evaluation.type={evaluation.type} needs '
                      f'task.annotation_file: {needed}.')
  path = task_config.annotation_file
  # A missing file is runtime.checks' error, in the modes that evaluate.
  if for_run and path and tf.io.gfile.exists(path):
    _check_categories(path, task_config.model.num_classes)


def _check_categories(path: str, num_classes: int) -> None:
  """Checks the annotation file's categories against the model's classes.

  Every category of the annotation file is a class of the model: Model
  Garden would drop the boxes of a larger id without a word."""
  try:
    with tf.io.gfile.GFile(path) as f:
      categories = json.load(f)['categories']
    ids = [c['id'] for c in categories]
  except (tf.errors.OpError, ValueError, KeyError, TypeError) as e:
    raise ConfigError(f'task.annotation_file={path}: cannot read the '
                      f'categories of a COCO / LVIS JSON from it ({e}).') from e
  outside = [i for i in ids if not isinstance(i, int) or not
             0 < i < num_classes]
  if outside:
    raise ConfigError(
        f'task.annotation_file={path}: category id {outside[0]!r} '
        f'({len(outside)} in all) is not a class of the model: '
        f'task.model.num_classes={num_classes} gives ids 1..'
        f'{num_classes - 1} (0 is the background). Set num_classes to '
        f'{max(i for i in ids if isinstance(i, int)) + 1} or more.')


def check_reuse(task_config, for_run: bool = True) -> None:
  """Checks the reuse keys of a task.

  Fails with a ConfigError when the reuse keys of a task contradict, or
  (`for_run`) when a run would lack a value they need."""
  freeze_at = task_freeze_at(task_config)
  _check_retuning(task_config, for_run)
  _check_init_checkpoints(task_config, freeze_at, for_run)
  backbone = task_config.model.backbone
  if (backbone.type == 'keras_application'
      and backbone.keras_application.weights and task_config.init_checkpoint):
    raise ConfigError(
        'task.init_checkpoint and task.model.backbone.keras_application.'
        f'weights both give the backbone weights ({task_config.init_checkpoint}'
        f' and {backbone.keras_application.weights}): set one of them.')
  modules = task_config.init_checkpoint_modules
  listed = [modules] if isinstance(modules, str) else list(modules)
  names = detector_parts.part_names(task_config.model)
  if task_config.init_checkpoint and listed != ['all'] and not (
      listed and set(listed) <= set(names)):
    raise ConfigError(f'task.init_checkpoint_modules={modules!r}: expected '
                      f'"all" or a list of parts among {names}.')
  adapter = adapter_type(task_config.model)
  if adapter not in adapters.ADAPTER_TYPES:
    raise ConfigError(f'task.model.backbone_adapter.type={adapter!r}: '
                      f'expected one of {list(adapters.ADAPTER_TYPES)}.')


def _check_init_checkpoints(task_config, freeze_at: int,
                            for_run: bool) -> None:
  """Checks `task.init_checkpoints` against freeze_at.

  `task.init_checkpoints` well formed, and its backbone entry agreeing
  with freeze_at, which alone decides what of the backbone trains."""
  check_entries(task_config, for_run)
  entries = list(getattr(task_config, 'init_checkpoints', None) or [])
  if not entries:
    return
  backbone = [(i, e) for i, e in enumerate(entries)
              if detector_parts.BACKBONE in e.modules]
  if not backbone and freeze_at:
    raise ConfigError(
        'task.init_checkpoints gives no backbone, and task.freeze_backbone / '
        f'task.freeze_at (freeze_at {freeze_at}) would freeze it at its '
        'random initialisation: add an entry with modules [backbone], or '
        'set task.freeze_backbone: false.')
  for i, entry in backbone:
    agrees = freeze_at == (FREEZE_ALL if entry.frozen else 0)
    if entry.frozen is not None and not agrees:
      raise ConfigError(
          f'task.init_checkpoints[{i}].frozen='
          f'{str(entry.frozen).lower()} contradicts task.freeze_backbone='
          f'{str(task_config.freeze_backbone).lower()} / task.freeze_at='
          f'{task_config.freeze_at} (freeze_at {freeze_at}), which decide '
          'what of the backbone trains: leave frozen unset in the backbone\'s '
          'entry, or make them agree.')


def task_freeze_at(task_config) -> int:
  """The task's freeze_at, resolved (`freeze_backbone: true` is 5).

  `load_experiment` writes it into the config; a config made otherwise
  (e.g. by `exp_factory`) is resolved here the same way."""
  return freeze_at_of(task_config.freeze_backbone,
                      getattr(task_config, 'freeze_at', None))


def freeze_at_of(freeze_backbone: bool, freeze_at: Optional[int]) -> int:
  """The effective freeze_at (0..5) of the two task keys, or a ConfigError."""
  if freeze_at is None:
    return FREEZE_ALL if freeze_backbone else 0
  if not 0 <= freeze_at <= FREEZE_ALL:
    raise ConfigError(
        f'task.freeze_at={freeze_at}: expected 0 (nothing frozen), 1 (the '
        f'stem), 2..4 (the stem and the stages of levels 2..k) or '
        f'{FREEZE_ALL} (the whole backbone).')
  if freeze_backbone and freeze_at != FREEZE_ALL:
    raise ConfigError(
        f'task.freeze_at={freeze_at} contradicts task.freeze_backbone=true, '
        f'which freezes the whole backbone (freeze_at {FREEZE_ALL}): set '
        'task.freeze_backbone: false to freeze the stem and stages up to '
        f'{freeze_at} only.')
  return freeze_at


def retuning(task_config) -> bool:
  """Whether the task is the class-balanced re-tuning stage."""
  retune = getattr(task_config, 'class_balanced_retuning', None)
  return bool(retune and retune.enabled)


def _check_retuning(task_config, for_run: bool) -> None:
  if not retuning(task_config):
    return
  key = 'task.class_balanced_retuning.enabled=true'
  if ((for_run and not task_config.init_checkpoint)
      or task_config.init_checkpoint_modules != 'all'):
    raise ConfigError(
        f'{key} re-tunes a stage-1 detector: set task.init_checkpoint to its '
        'model dir or checkpoint and task.init_checkpoint_modules to "all" '
        f'(found {task_config.init_checkpoint!r} and '
        f'{task_config.init_checkpoint_modules!r}).')
  if task_config.losses.class_weights is not None:
    raise ConfigError(f'{key} sets task.losses.class_weights itself; remove '
                      'task.losses.class_weights.')
  path = task_config.class_balanced_retuning.annotation_file
  if for_run and (not path or not tf.io.gfile.exists(path)):
    raise ConfigError(
        f'task.class_balanced_retuning.annotation_file={path!r}: expected the '
        'training annotations (COCO/LVIS JSON) that give the class weights; '
        + ('not set.' if not path else 'no such file.'))


def adapter_type(model_config) -> str:
  adapter = getattr(model_config, 'backbone_adapter', None)
  return adapter.type if adapter is not None else 'none'


def check_entries(task_config, for_run: bool = True) -> None:
  """Checks the entries of `task.init_checkpoints`.

  Fails with a ConfigError naming the key when `task.init_checkpoints`
  is malformed, names a part twice, comes with `task.init_checkpoint`, or
  (`for_run`) lacks a checkpoint (no model needed; `reuse_policy` checks
  what it freezes)."""
  entries = list(getattr(task_config, 'init_checkpoints', None) or [])
  if not entries:
    return
  if task_config.init_checkpoint:
    raise ConfigError(
        f'task.init_checkpoint={task_config.init_checkpoint!r} and '
        'task.init_checkpoints both say where weights come from: set one '
        '(task.init_checkpoints takes a backbone entry too).')
  names = detector_parts.part_names(task_config.model)
  given: Dict[str, str] = {}
  for i, entry in enumerate(entries):
    key = f'task.init_checkpoints[{i}]'
    unknown = sorted(set(entry.as_dict()) - set(_ENTRY_KEYS))
    if unknown:
      raise ConfigError(f'{key}.{unknown[0]}: unknown key; an entry has '
                        f'{list(_ENTRY_KEYS)}.')
    if not isinstance(entry.checkpoint, str) or (for_run and
                                                 not entry.checkpoint):
      raise ConfigError(f'{key}.checkpoint is empty: expected a checkpoint '
                        'prefix or a directory of checkpoints.')
    if entry.frozen not in (None, True, False):
      raise ConfigError(f'{key}.frozen={entry.frozen!r}: expected true, '
                        'false or unset.')
    for flag in ('skip_label_space', 'reinit_novel_classes'):
      if entry.as_dict()[flag] not in (True, False):
        raise ConfigError(f'{key}.{flag}={entry.as_dict()[flag]!r}: '
                          'expected true or false.')
    modules = entry.modules
    if isinstance(modules, str) or not modules or not all(
        isinstance(m, str) for m in modules):
      raise ConfigError(f'{key}.modules={modules!r}: expected a list of '
                        f'parts among {names}.')
    if isinstance(entry.skip, str) or not all(
        isinstance(s, str) for s in entry.skip or []):
      raise ConfigError(f'{key}.skip={entry.skip!r}: expected a list of '
                        'layer names (fnmatch patterns).')
    for module in modules:
      if module not in names:
        raise ConfigError(f'{key}.modules: {module!r} is not a part of this '
                          f'detector; it has {names}.')
      for other, where in given.items():
        if _overlap(module, other):
          raise ConfigError(f'{key}.modules: {module!r} is already given by '
                            f'{where} ({other!r}).')
      given[module] = key
    if entry.reinit_novel_classes:
      _check_reinit(task_config, entry, key)


def _check_reinit(task_config, entry, key: str) -> None:
  novel = list(task_config.evaluation.novel_category_ids or [])
  num_classes = task_config.model.num_classes
  if entry.skip_label_space:
    raise ConfigError(f'{key}.reinit_novel_classes re-initialises rows of '
                      'the restored class layers: set '
                      f'{key}.skip_label_space: false.')
  if not any(m.split(detector_parts.STAGE_SEPARATOR)[0] == 'detection_head'
             for m in entry.modules):
    raise ConfigError(f'{key}.reinit_novel_classes: the entry gives no '
                      'detection_head, whose class layers it re-initialises.')
  if not novel or not all(isinstance(i, int) and 0 < i < num_classes
                          for i in novel):
    raise ConfigError(
        f'{key}.reinit_novel_classes: task.evaluation.novel_category_ids='
        f'{novel} must name the novel classes, ids 1..{num_classes - 1}.')


def _overlap(a: str, b: str) -> bool:
  """Whether two part names cover a common part (a head and its stage)."""
  return (a == b or a.startswith(b + detector_parts.STAGE_SEPARATOR) or
          b.startswith(a + detector_parts.STAGE_SEPARATOR))
