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

"""Every non-public upstream API this project relies on, in one list.

The project builds on Model Garden (`official.*`), tf_keras, TensorFlow and
lvis at the versions pinned in setup.cfg, and in a few places it reaches
past their public API: it overrides or calls private methods, swaps private
attributes, skips an `__init__` and sets what it would have set, imports
from `tf_keras.src`, reads layer and checkpoint names. Nothing guarantees
those across versions. An upgrade that removes or renames one must fail
loudly in one test (`tests/test_private_apis.py`), with a line that says
what is gone and which code of this project uses it, not deep in a training
run, or worse, silently change what a run computes.

`PRIVATE_APIS` lists them; `missing()` checks them. Owners are imported only
inside `missing()`, so importing this module imports nothing upstream. A new
private use goes into `PRIVATE_APIS` (the test fails on any
`# pylint: disable=protected-access` line whose attribute is not listed).
"""
import importlib
import importlib.metadata
import inspect
import re
from typing import List, NamedTuple, Sequence

# How an entry proves that the private API is still there.
# ATTRIBUTE: `owner.name` exists (a module or class attribute).
# ASSIGNED: the source of `owner` (a function) sets `.name = ...`.
# MENTIONED: the source of `owner` (a function, property or module) names
#   `name`: a hook it calls, an attribute it reads, a key it defines.
ATTRIBUTE = 'attribute'
ASSIGNED = 'assigned'
MENTIONED = 'mentioned'


class PrivateApi(NamedTuple):
  """One non-public upstream API and the code of this project using it.

  Attributes:
    owner: importable dotted path of the module, class or function that has
      (ATTRIBUTE) or whose source sets (ASSIGNED) or names (MENTIONED) it.
    name: the attribute (or key) relied on.
    check: ATTRIBUTE, ASSIGNED or MENTIONED.
    used_by: where this project uses it and what for (`module.py: function`).
  """
  owner: str
  name: str
  check: str
  used_by: str


_NASFPN = 'official.vision.modeling.decoders.nasfpn.NASFPN'
_COCO_EVALUATOR = 'official.vision.evaluation.coco_evaluator.COCOEvaluator'
_LVIS_EVALUATOR = ('evaluation/results_evaluator.py: ResultsEvaluator (of '
                   'the LVIS and VOC evaluators) skips '
                   'COCOEvaluator.__init__ and sets it for the inherited '
                   'update_state/reset_states/result')
_FAST_COCO = ('evaluation/coco_mask_evaluator.py: FastMaskCOCOEvaluator.'
              'evaluate, Model Garden\'s COCOEvaluator.evaluate with its own '
              'mask conversion, reads it')
_RUNNER = 'official.core.train_lib.OrbitExperimentRunner'
_BLOCKS = 'official.vision.modeling.layers.nn_blocks'
_TF1_NAMES = ('tf1.py: _block_layers pairs each layer of an '
              'EfficientNet block with its tensorflow/tpu name')
_SERIES = ('modeling/adapters.py: _adapt_block (series adapter) finds the '
           'batch norm after convolution _convN as _normN')
_LVIS_REFERENCE = ('tests/lvis_reference.py: reference_lvis_eval builds '
                   'lvis.LVIS from a dict, without its __init__')

PRIVATE_APIS = (
    # Model Garden: configs and tasks.
    PrivateApi('official.core.exp_factory', '_REGISTERED_CONFIGS', ATTRIBUTE,
               'configs/loading.py: check_experiment lists the registered '
               'experiments of this project'),
    PrivateApi('official.core.train_utils.ExperimentParser.__init__',
               '_flags_obj', ASSIGNED,
               'configs/loading.py: _Parser reads the flags it was given'),
    PrivateApi('official.core.base_task.Task.__init__', '_task_config',
               ASSIGNED,
               'tasks/detection.py: build_metrics and build_losses swap the '
               'task config for one call of the inherited method'),
    PrivateApi('official.core.base_task.Task.task_config', '_task_config',
               MENTIONED,
               'tasks/detection.py: the swapped _task_config must be what '
               'the task_config property returns'),
    # Model Garden: trainer and runner.
    PrivateApi('official.core.base_trainer.Trainer.__init__', '_train_loss',
               ASSIGNED,
               'runtime/nan_guard.py: Trainer replaces it with TrainingLoss, '
               'which records the first non-finite step'),
    PrivateApi('official.core.base_trainer.Trainer.train_step', '_train_loss',
               MENTIONED,
               'runtime/nan_guard.py: TrainingLoss only sees the losses that '
               'train_step adds to it'),
    PrivateApi(f'{_RUNNER}.__init__', '_build_trainer', MENTIONED,
               'runtime/workers.py: ExperimentRunner overrides it to build '
               'nan_guard.Trainer'),
    PrivateApi(f'{_RUNNER}.__init__', '_maybe_build_checkpoint_manager',
               MENTIONED,
               'runtime/workers.py: ExperimentRunner overrides it so that '
               'workers resume from the chief\'s checkpoints'),
    PrivateApi(_RUNNER, '_build_best_checkpoint_exporter', ATTRIBUTE,
               'runtime/workers.py: ExperimentRunner._build_trainer calls '
               'it'),
    # Model Garden: modeling.
    PrivateApi(f'{_NASFPN}.__init__', '_conv_op', ASSIGNED,
               'modeling/bottleneck_nasfpn.py: BottleneckNASFPN picks its '
               'resampling convolution through it and builds bottleneck '
               'blocks in its place'),
    PrivateApi(f'{_NASFPN}.__init__', '_norm_op', ASSIGNED,
               'modeling/bottleneck_nasfpn.py: BottleneckNASFPN picks its '
               'resampling norm through it and drops the norm after a '
               'bottleneck block'),
    PrivateApi(f'{_NASFPN}._build_feature_pyramid', '_conv_op', MENTIONED,
               'modeling/bottleneck_nasfpn.py: the merge-cell convolution '
               'BottleneckNASFPN replaces by a bottleneck block'),
    PrivateApi(_NASFPN, '_resample_feature_map', ATTRIBUTE,
               'modeling/bottleneck_nasfpn.py: BottleneckNASFPN overrides it '
               'to resample to the pyramid width'),
    PrivateApi(f'{_NASFPN}.__init__', '_config_dict', ASSIGNED,
               'modeling/bottleneck_nasfpn.py: BottleneckNASFPN reads the '
               'decoder settings and adds its own to get_config'),
    PrivateApi('official.vision.modeling.retinanet_model.RetinaNetModel.'
               '__init__', '_backbone', ASSIGNED,
               'checkpoints/restore.py: part_paths finds a RetinaNet\'s parts '
               'under model/_backbone, model/_decoder, model/_head in a '
               'checkpoint'),
    PrivateApi('official.vision.modeling.retinanet_model.RetinaNetModel.'
               '__init__', '_decoder', ASSIGNED,
               'checkpoints/restore.py: part_paths finds a RetinaNet\'s parts '
               'under model/_backbone, model/_decoder, model/_head in a '
               'checkpoint'),
    PrivateApi('official.vision.modeling.retinanet_model.RetinaNetModel.'
               '__init__', '_head', ASSIGNED,
               'checkpoints/restore.py: part_paths finds a RetinaNet\'s parts '
               'under model/_backbone, model/_decoder, model/_head in a '
               'checkpoint'),
    PrivateApi('official.vision.modeling.heads.instance_heads.DetectionHead.'
               'build', 'detection-scores', MENTIONED,
               'modeling/reuse_policy.py: retune_classification_only trains '
               'only the layers of this name (SCORES_LAYER); '
               'modeling/detector_parts.py: a label-space layer'),
    PrivateApi('official.vision.modeling.heads.instance_heads.DetectionHead.'
               'build', 'detection-boxes', MENTIONED,
               'modeling/detector_parts.py: a label-space layer when '
               'class-specific'),
    PrivateApi('official.vision.modeling.heads.instance_heads.MaskHead.'
               'build', 'mask-logits', MENTIONED,
               'modeling/detector_parts.py: a label-space layer when '
               'class-specific'),
    PrivateApi('official.vision.modeling.heads.dense_prediction_heads.'
               'RetinaNetHead.build', "'scores'", MENTIONED,
               'modeling/detector_parts.py: RetinaNet\'s classifier, a '
               'label-space layer (scores-<level> when not shared)'),
    *(PrivateApi('official.vision.modeling.heads.dense_prediction_heads.'
                 'RetinaNetHead.call', name, MENTIONED,
                 'tasks/box_pretraining.py: forward runs the head\'s towers '
                 'as its call does, to project the class tower\'s features')
      for name in ('_cls_convs', '_cls_norms', '_classifier', '_box_convs',
                   '_box_norms', '_box_regressor', '_apply_prediction_tower',
                   'share_level_convs')),
    *(PrivateApi('official.vision.modeling.heads.instance_heads.'
                 f'DetectionHead.{method}', name, ASSIGNED,
                 'tasks/box_pretraining.py: box_head_features runs the box '
                 'head\'s shared layers as its call does, for the region '
                 'embeddings')
      for method, name in (('__init__', '_activation'), ('build', '_convs'),
                           ('build', '_conv_norms'), ('build', '_fcs'),
                           ('build', '_fc_norms'))),
    PrivateApi(f'{_BLOCKS}.ResidualBlock.build', '_conv1', ASSIGNED, _SERIES),
    PrivateApi(f'{_BLOCKS}.ResidualBlock.build', '_norm1', ASSIGNED, _SERIES),
    PrivateApi(f'{_BLOCKS}.ResidualBlock.build', '_conv2', ASSIGNED, _SERIES),
    PrivateApi(f'{_BLOCKS}.ResidualBlock.build', '_norm2', ASSIGNED, _SERIES),
    PrivateApi(f'{_BLOCKS}.BottleneckBlock.build', '_conv2', ASSIGNED,
               _SERIES),
    PrivateApi(f'{_BLOCKS}.BottleneckBlock.build', '_norm2', ASSIGNED,
               _SERIES),
    PrivateApi(f'{_BLOCKS}.InvertedBottleneckBlock.build', '_conv1',
               ASSIGNED, _SERIES),
    PrivateApi(f'{_BLOCKS}.InvertedBottleneckBlock.build', '_norm1',
               ASSIGNED, _SERIES),
    *(PrivateApi(f'{_BLOCKS}.InvertedBottleneckBlock.build', name,
                 ASSIGNED, _TF1_NAMES)
      for name in ('_conv0', '_norm0', '_conv1', '_norm1', '_conv2',
                   '_norm2', '_squeeze_excitation')),
    *(PrivateApi('official.vision.modeling.layers.nn_layers.'
                 'SqueezeExcitation.build', name, ASSIGNED, _TF1_NAMES)
      for name in ('_se_reduce', '_se_expand')),
    # Model Garden: evaluation.
    PrivateApi(f'{_COCO_EVALUATOR}.__init__', '_annotation_file', ASSIGNED,
               _LVIS_EVALUATOR),
    PrivateApi(f'{_COCO_EVALUATOR}.__init__', '_include_mask', ASSIGNED,
               _LVIS_EVALUATOR),
    PrivateApi(f'{_COCO_EVALUATOR}.__init__', '_include_keypoint', ASSIGNED,
               _LVIS_EVALUATOR),
    PrivateApi(f'{_COCO_EVALUATOR}.__init__', '_need_rescale_bboxes',
               ASSIGNED, _LVIS_EVALUATOR),
    PrivateApi(f'{_COCO_EVALUATOR}.__init__', '_need_rescale_keypoints',
               ASSIGNED, _LVIS_EVALUATOR),
    PrivateApi(f'{_COCO_EVALUATOR}.__init__', '_required_prediction_fields',
               ASSIGNED, _LVIS_EVALUATOR),
    PrivateApi(f'{_COCO_EVALUATOR}.reset_states', '_predictions', ASSIGNED,
               'evaluation/results_evaluator.py: ResultsEvaluator.'
               'update_state converts the accumulated predictions'),
    PrivateApi(f'{_COCO_EVALUATOR}.update_state', '_convert_to_numpy',
               MENTIONED,
               'evaluation/results_evaluator.py: ResultsEvaluator overrides it '
               'to skip the unused ground truths'),
    PrivateApi(f'{_COCO_EVALUATOR}.evaluate',
               'convert_predictions_to_coco_annotations', MENTIONED,
               'evaluation/coco_mask_evaluator.py: FastMaskCOCOEvaluator.'
               'evaluate is Model Garden\'s evaluate with this conversion '
               'replaced by mask_paste.convert_predictions'),
    PrivateApi('official.vision.evaluation.coco_utils.'
               'convert_predictions_to_coco_annotations',
               'paste_instance_masks', MENTIONED,
               'evaluation/mask_paste.py: paste_and_encode pastes masks as '
               'this function of mask_ops does (its box expansion, resize '
               'and threshold)'),
    PrivateApi(f'{_COCO_EVALUATOR}.__init__', '_annotation_file', ASSIGNED,
               _FAST_COCO),
    PrivateApi(f'{_COCO_EVALUATOR}.__init__', '_coco_gt', ASSIGNED,
               _FAST_COCO),
    PrivateApi(f'{_COCO_EVALUATOR}.__init__', '_include_mask', ASSIGNED,
               _FAST_COCO),
    PrivateApi(f'{_COCO_EVALUATOR}.__init__', '_include_keypoint', ASSIGNED,
               _FAST_COCO),
    PrivateApi(f'{_COCO_EVALUATOR}.__init__', '_metric_names', ASSIGNED,
               _FAST_COCO),
    PrivateApi(f'{_COCO_EVALUATOR}.__init__', '_per_category_metrics',
               ASSIGNED, _FAST_COCO),
    PrivateApi(f'{_COCO_EVALUATOR}.reset_states', '_predictions', ASSIGNED,
               _FAST_COCO),
    PrivateApi(f'{_COCO_EVALUATOR}.reset_states', '_groundtruths', ASSIGNED,
               _FAST_COCO),
    PrivateApi(_COCO_EVALUATOR, '_retrieve_per_category_metrics', ATTRIBUTE,
               _FAST_COCO),
    PrivateApi('official.vision.modeling.retinanet_model.RetinaNetModel.'
               '__init__', '_detection_generator', ASSIGNED,
               'modeling/detector.py: build_detector puts Float32NmsInputs '
               'in its place under mixed precision with batched NMS'),
    PrivateApi('official.vision.modeling.retinanet_model.RetinaNetModel.'
               'detection_generator', '_detection_generator', MENTIONED,
               'modeling/detector.py: the property reads what build_detector '
               'replaced'),
    # Model Garden: serving.
    PrivateApi('official.vision.serving.export_base.ExportModule.__init__',
               '_build_model', MENTIONED,
               'serving/export_saved_model.py: BackboneReuseDetectionModule '
               'overrides it to build the detector with build_detector'),
    PrivateApi('official.vision.serving.export_base.ExportModule.__init__',
               '_batch_size', ASSIGNED,
               'serving/export_saved_model.py: '
               'BackboneReuseDetectionModule._build_model'),
    PrivateApi('official.vision.serving.detection.DetectionModule',
               '_padded_size', ATTRIBUTE,
               'serving/export_saved_model.py: '
               'BackboneReuseDetectionModule._build_model'),
    # tf_keras.
    PrivateApi('tf_keras.layers.Layer', '_flatten_layers', ATTRIBUTE,
               'modeling/adapters.py: blocks, adapter_variables; '
               'modeling/backbone_stages.py: sublayers (weighted_leaves, '
               'which reuse_policy and detector_parts.leaves use)'),
    PrivateApi('tf_keras.src.engine.base_layer.Layer.__init__',
               '_callable_losses', ASSIGNED,
               'modeling/reuse_policy.py: freeze_leaves empties it, dropping '
               'the L2 penalty of a frozen layer'),
    PrivateApi('tf_keras.src.saving.legacy.saved_model.utils',
               'keras_option_scope', ATTRIBUTE,
               'serving/export_saved_model.py: _write_export exports without '
               'layer traces'),
    PrivateApi('tf_keras.src.saving.legacy.saved_model.utils.'
               'keras_option_scope', 'save_traces', MENTIONED,
               'serving/export_saved_model.py: _write_export passes '
               'save_traces=False'),
    PrivateApi('tf_keras.src.applications.efficientnet', 'IMAGENET_STDDEV_RGB',
               ATTRIBUTE,
               'checkpoints/keras_weights.py: '
               '_variance_for_plain_graph reads it by getattr; without it '
               'EfficientNet ImageNet weights load with the wrong variance, '
               'silently'),
    # TensorFlow.
    PrivateApi('tensorflow.python.framework.ops', 'get_stats_for_node_def',
               ATTRIBUTE,
               'analysis/train_flops.py: op_flops counts each op\'s '
               'registered FLOPs statistic, as tf.compat.v1.profiler does'),
    PrivateApi('tensorflow.core.protobuf.trackable_object_graph_pb2',
               'TrackableObjectGraph', ATTRIBUTE,
               'checkpoints/restore.py: CheckpointGraph parses a checkpoint\'s '
               'object graph'),
    PrivateApi('tensorflow.python.trackable.constants',
               '_CHECKPOINTABLE_OBJECT_GRAPH', MENTIONED,
               'checkpoints/restore.py: CheckpointGraph reads the object graph '
               'under this key'),
    # lvis (the reference evaluator the LVIS metrics are tested against).
    PrivateApi('lvis.lvis.LVIS', '_create_index', ATTRIBUTE, _LVIS_REFERENCE),
    PrivateApi('lvis.lvis.LVIS.__init__', 'dataset', ASSIGNED,
               _LVIS_REFERENCE),
    PrivateApi('lvis.lvis.LVIS.__init__', 'logger', ASSIGNED,
               _LVIS_REFERENCE),
    PrivateApi('lvis.eval', 'np', ATTRIBUTE,
               'tests/lvis_reference.py: lvis_numpy swaps this module global '
               'for a numpy with np.float'),
)

# Top-level package -> its distribution, pinned in setup.cfg.
_DISTRIBUTIONS = {'official': 'tf-models-official', 'tf_keras': 'tf-keras',
                  'tensorflow': 'tensorflow', 'lvis': 'lvis'}


def _resolve(path: str):
  """Resolves a dotted path to a module, class or function.

  ImportError or AttributeError where it is gone."""
  parts = path.split('.')
  obj = importlib.import_module(parts[0])
  for i in range(1, len(parts)):
    if inspect.ismodule(obj) and not hasattr(obj, parts[i]):
      obj = importlib.import_module('.'.join(parts[:i + 1]))  # A submodule.
    else:
      obj = getattr(obj, parts[i])
  return obj


def _source(obj) -> str:
  return inspect.getsource(getattr(obj, 'fget', obj))  # A property's getter.


def _problem(api: PrivateApi) -> str:
  """What is wrong with `api`, or '' when it is still there."""
  try:
    owner = _resolve(api.owner)
  except (ImportError, AttributeError) as e:
    return f'{api.owner} is gone ({e}), and with it {api.name}'
  if api.check == ATTRIBUTE:
    return '' if hasattr(owner, api.name) else (
        f'{api.owner}.{api.name} is gone')
  try:
    source = _source(owner)
  except (OSError, TypeError) as e:
    return f'the source of {api.owner} cannot be read ({e}) to find {api.name}'
  name = re.escape(api.name)
  if api.check == ASSIGNED:
    return '' if re.search(rf'\.{name}\s*=(?!=)', source) else (
        f'{api.owner} no longer sets .{api.name}')
  if api.check == MENTIONED:
    return '' if re.search(rf'(?<![\w-]){name}(?![\w-])', source) else (
        f'{api.owner} no longer mentions {api.name}')
  return f'unknown check {api.check!r} for {api.owner} {api.name}'


def _pin(owner: str) -> str:
  package = owner.split('.')[0]
  dist = _DISTRIBUTIONS.get(package, package)
  try:
    installed = importlib.metadata.version(dist)
  except importlib.metadata.PackageNotFoundError:
    installed = 'not installed'
  return (f'{dist} is pinned in setup.cfg (installed: {installed}) — adapt '
          'the project before upgrading.')


def missing(apis: Sequence[PrivateApi] = PRIVATE_APIS) -> List[str]:
  """One readable line per private API of `apis` that is gone; [] if none.

  Args:
    apis: the entries to check (default: all of `PRIVATE_APIS`).

  Returns:
    Lines like "<owner>.<name> is gone (used by <module>: <function> ...);
    <distribution> is pinned in setup.cfg ...".
  """
  lines = []
  for api in apis:
    problem = _problem(api)
    if problem:
      lines.append(f'{problem} (used by {api.used_by}); {_pin(api.owner)}')
  return lines
