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

"""Loads weights from checkpoints and verifies them.

Loading and verifying weights from checkpoints: a classifier's backbone
into a detector, any parts of a detector from several checkpoints
(`task.init_checkpoints`), and a trained detector for export.

Model Garden restores with `tf.train.Checkpoint(...).read(...)` and, when the
objects do not match, fails with "Found N Python objects that were not bound
to checkpointed values" (and a warning per unmatched value). Here every
variable is matched to its checkpoint entry by walking the checkpoint's own
object graph in step with the model (the way TensorFlow matches them), so
that a mismatch is reported by name and shape, and a restore is complete
only when every variable asked for came from the checkpoint.

For a backbone only the backbone subtree is read: a classification
checkpoint with any other label space (ImageNet-1k, an 18,291-class
"JFT-style" head, ...) restores the backbone and ignores its head. The
same holds for any part (`restore_parts`): only its subtree is read, and
variables asked to be skipped (label-space layers) are reported as such.
"""
import dataclasses
import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from absl import logging
import numpy as np
import tensorflow as tf
import tf_keras

from tensorflow.core.protobuf import trackable_object_graph_pb2


from official_projects_backbone_reuse.checkpoints import tf1
from official_projects_backbone_reuse.common.errors import CheckpointError

_VALUE = 'VARIABLE_VALUE'
# The object graph of a TF2 checkpoint; a TF1 one has names only.
GRAPH_KEY = '_CHECKPOINTABLE_OBJECT_GRAPH'
STAGE_SEPARATOR = '/'  # detection_head/1: stage 1 of a cascade's heads.


def part_paths(part: str) -> List[Tuple[str, ...]]:
  """Lists where a detector part may sit in a checkpoint.

  Where a detector part (a key of Model Garden's `checkpoint_items`,
  `detection_head/<i>` for one cascade stage) may sit in a checkpoint, most
  likely first: Model Garden's trainers save `checkpoint_items` at the top
  level; `tf.train.Checkpoint(model=...)` files hold it under `model`, by
  Mask R-CNN's attribute name or RetinaNet's (with '_')."""
  module, _, stage = part.partition(STAGE_SEPARATOR)
  paths = [(module,), ('model', module), ('model', '_' + module)]
  return [p + ((stage,) if stage else ()) for p in paths]


@dataclasses.dataclass
class RestoreReport:
  """What a restore did to one part, variable by variable.

  `skipped`: variables the checkpoint may have but was asked not to give
  (label-space layers); they keep their initialisation. `note`: what
  happens to the part next ('frozen', 'trained')."""
  checkpoint: str
  restored: List[str]
  new_by_design: List[str]
  label: str = 'backbone'
  skipped: List[str] = dataclasses.field(default_factory=list)
  note: str = ''

  def summary(self) -> str:
    skipped = (f'; {len(self.skipped)} skipped on purpose'
               if self.skipped else '')
    note = f'; {self.note}' if self.note else ''
    return (f'Restored {len(self.restored)} {self.label} variables from '
            f'{self.checkpoint}; {len(self.new_by_design)} new by design'
            f'{skipped}{note}.')

  def details(self, new_by_design: bool = True) -> str:
    """Describes the restore in full.

    The summary, then each variable skipped on purpose and (if
    `new_by_design`) each new by design, by name."""
    lines = [self.summary()]
    if new_by_design:
      lines += [f'  new by design: {n}' for n in self.new_by_design]
    lines += [f'  skipped on purpose: {n}' for n in self.skipped]
    return '\n'.join(lines)


@dataclasses.dataclass
class Part:
  """One part of a model to restore from a checkpoint.

  Attributes:
    label: its name in reports and errors (`decoder`, `detection_head/1`).
    module: the model's object (a layer, or a list of layers).
    paths: where it may sit in the checkpoint (see `part_paths`).
    new_by_design: its variables the checkpoint cannot have (adapters).
    skipped: its variables not to restore whatever the checkpoint holds.
    note: for the report, what happens to the part next.
  """
  label: str
  module: object
  paths: Sequence[Tuple[str, ...]]
  new_by_design: Sequence[tf.Variable] = ()
  skipped: Sequence[tf.Variable] = ()
  note: str = ''


def _step(prefix: str) -> int:
  """The step a prefix ends with (`ckpt-600`, `model.ckpt-12345`), or -1."""
  tail = prefix.rpartition('-')[2]
  return int(tail) if tail.isdigit() else -1


def resolve_checkpoint(path: str, key: str = 'task.init_checkpoint') -> str:
  """A checkpoint prefix from a prefix or a directory, or a clear error.

  A directory's `checkpoint` state file names its latest checkpoint. Without
  one (as Model Garden's ResNet-RS tarballs come), the directory's own
  checkpoints decide: the one there, or the one of the highest step; the
  choice is logged, with the others."""
  if not path:
    raise CheckpointError(f'{key} is empty.')
  if tf.io.gfile.isdir(path):
    latest = tf.train.latest_checkpoint(path)
    if latest is not None:
      return latest
    prefixes = sorted((os.path.join(path, name[:-len('.index')])
                       for name in tf.io.gfile.listdir(path)
                       if name.endswith('.index')),
                      key=lambda p: (_step(p), p))
    if not prefixes:
      raise CheckpointError(
          f'{key}={path!r} is a directory without any checkpoint in it (no '
          '*.index file).')
    chosen, others = prefixes[-1], prefixes[:-1]
    why = (f'the highest step; also there: {", ".join(others)}' if others
           else 'the only one there')
    logging.info('%s=%s has no usable `checkpoint` state file: using %s (%s).',
                 key, path, chosen, why)
    return chosen
  if not tf.io.gfile.exists(path + '.index'):
    raise CheckpointError(
        f'{key}={path!r}: no such checkpoint (expected {path}.index, or a '
        'directory holding checkpoints).')
  return path


def _walk_variables(root, state, step: Callable[[Any, str], Any]
                    ) -> Iterator[Tuple[tf.Variable, Any]]:
  """Each variable under `root` once, with a state carried along its path.

  The path is the one breadth-first search finds it by; the state is
  `state` at `root`, `step(state, name)` at its child `name` (None: that
  child is not entered)."""
  seen, queue = set(), [(root, state)]
  while queue:
    obj, state = queue.pop(0)
    if id(obj) in seen:
      continue
    seen.add(id(obj))
    if isinstance(obj, tf.Variable):
      yield obj, state
      continue
    for name, child in tf.train.TrackableView(obj).children(obj).items():
      child_state = step(state, name)
      if child_state is not None:
        queue.append((child, child_state))


def _object_paths(root) -> Dict[int, Tuple[str, tf.Variable]]:
  """Readable object paths of every variable under `root` (first found)."""
  return {id(variable): ('/'.join(path), variable)
          for variable, path in _walk_variables(
              root, (), lambda path, name: path + (name,))}


def variables_by_path(root) -> Dict[str, tf.Variable]:
  """Maps each variable under `root` to its object path.

  Every variable under `root` by its object path (as a checkpoint of
  `root` names it): two models built alike give the same paths."""
  return dict(_object_paths(root).values())


def unreadable(prefix: str, error: Exception,
               key: Optional[str] = None) -> CheckpointError:
  """The one-line error of a checkpoint whose files cannot be read."""
  reason = (str(getattr(error, 'message', error)).strip().splitlines()
            or [type(error).__name__])[0]
  what = f' (reading {key})' if key else ''
  return CheckpointError(
      f'Checkpoint {prefix} cannot be read{what}: {reason}. Its files '
      f'({prefix}.index, {prefix}.data-*) are damaged or incomplete.')


class CheckpointGraph:
  """A checkpoint's object graph, to match model objects to its entries.

  `graph` is None for a TF1 checkpoint (names only)."""

  def __init__(self, prefix: str):
    self.prefix = prefix
    try:
      self.reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
      raise unreadable(prefix, e) from e
    self.shapes = self.reader.get_variable_to_shape_map()
    self.graph = None
    if GRAPH_KEY in self.shapes:
      self.graph = trackable_object_graph_pb2.TrackableObjectGraph()
      self.graph.ParseFromString(self.tensor(GRAPH_KEY))

  def tensor(self, key: str):
    """The value of `key`; a CheckpointError naming the files if damaged."""
    try:
      return self.reader.get_tensor(key)
    # A truncated data file raises IndexError; a bad checksum an OpError.
    except (tf.errors.OpError, IndexError, ValueError) as e:
      raise unreadable(self.prefix, e, key) from e

  def child(self, node_id: int, name: str) -> Optional[int]:
    for ref in self.graph.nodes[node_id].children:
      if ref.local_name == name:
        return ref.node_id
    return None

  def keys(self, part: 'Part') -> Tuple[Dict[int, str], Optional[str]]:
    """Finds the checkpoint keys of a part's variables.

    The checkpoint keys of the part's variables, by id of the variable,
    and for a TF1 checkpoint a line on how they were found."""
    if self.graph is not None:
      return self.match(part.module, self.node(part.paths, part.label)), None
    found = None
    if part.label == 'backbone':
      keys, found = tf1.backbone_keys(part.module, self.shapes)
    if found is None:
      scopes = tf1.families(self.shapes) or ['no model scope']
      raise CheckpointError(
          f'Checkpoint {self.prefix} is a TF1 name-based checkpoint (no '
          f'object graph) of {", ".join(scopes)}: only the backbone of '
          'Model Garden\'s EfficientNet restores from TF1 names '
          '(tensorflow/tpu EfficientNet checkpoints).')
    return keys, found

  def node(self, paths: Sequence[Tuple[str, ...]], label: str) -> int:
    """The node at the first of `paths` the checkpoint has."""
    for path in paths:
      node = 0
      for name in path:
        node = self.child(node, name) if node is not None else None
      if node is not None:
        return node
    top = sorted(c.local_name for c in self.graph.nodes[0].children)
    raise CheckpointError(
        f'Checkpoint {self.prefix} holds no {label}: expected an object at '
        f'one of {["/".join(p) for p in paths]}, found top-level {top}.')

  def match(self, root, node_id: int) -> Dict[int, str]:
    """Checkpoint keys of the variables under `root`, by id of the variable."""
    keys = {}
    for variable, node in _walk_variables(root, node_id, self.child):
      for attr in self.graph.nodes[node].attributes:
        if attr.name == _VALUE:
          keys[id(variable)] = attr.checkpoint_key
    return keys


_BACKBONE_HINT = ('Check that task.model.backbone (type, model_id, options) '
                  'is the one the checkpoint was trained with.')
_MODEL_HINT = ('Check that the config (--experiment, --config_file, '
               '--params_override) is the one the model was trained with: '
               'its params.yaml is beside the checkpoint.')


def _plan(module, ckpt: CheckpointGraph, keys: Dict[int, str], label: str,
          hint: str, new_by_design: Sequence[tf.Variable] = (),
          skipped: Sequence[tf.Variable] = ()):
  """Pairs the variables of `module` with their checkpoint entries.

  Pairs every variable of `module` with its checkpoint entry in `keys`
  (by id of the variable), or fails naming each one missing or of another
  shape. Returns (pairs, new by design, skipped): the two lists of names."""
  new_ids = {id(v) for v in new_by_design}
  skipped_ids = {id(v) for v in skipped}
  pairs, new, skip, missing, mismatched = [], [], [], [], []
  for vid, (path, var) in _object_paths(module).items():
    name = f'{label}/{path} ({var.name}, shape {var.shape.as_list()})'
    if vid in new_ids:
      new.append(name)
    elif vid in skipped_ids:
      skip.append(name)
    elif vid not in keys:
      missing.append(name)
    elif list(ckpt.shapes[keys[vid]]) != var.shape.as_list():
      mismatched.append(f'{name}: checkpoint has shape '
                        f'{list(ckpt.shapes[keys[vid]])}')
    else:
      pairs.append((name, var, keys[vid]))
  if missing or mismatched:
    lines = [f'Checkpoint {ckpt.prefix} does not match the {label}: '
             f'{len(pairs)} variables match, {len(missing)} are missing from '
             f'the checkpoint, {len(mismatched)} have another shape.']
    lines += [f'  missing: {m}' for m in missing]
    lines += [f'  shape mismatch: {m}' for m in mismatched]
    lines.append(hint)
    raise CheckpointError('\n'.join(lines))
  return pairs, new, skip


def _assign(planned) -> List[RestoreReport]:
  """Assigns the values that `_plan` paired.

  Assigns what `_plan` paired: ((checkpoint, [(label, pairs, new,
  skipped, note), ...]), ...)."""
  # Everything is read before anything is assigned: a damaged file leaves
  # the variables as they were.
  values = [(var, ckpt.tensor(key)) for ckpt, plans in planned
            for _, pairs, _, _, _ in plans for _, var, key in pairs]
  for var, value in values:
    var.assign(value)
  reports = [RestoreReport(ckpt.prefix, [name for name, _, _ in pairs], new,
                           label, skip, note)
             for ckpt, plans in planned
             for label, pairs, new, skip, note in plans]
  for report in reports:  # adapters, new by design, are counted: hundreds
    logging.info(report.details(new_by_design=False))
  return reports


_PART_HINT = ('Check that the detector config (decoder, heads, their '
              'widths) is the one the checkpoint was trained with, or name '
              'the layers in the entry\'s skip.')
_HINTS = {'backbone': _BACKBONE_HINT, 'model': _MODEL_HINT}


def restore_parts(sources: Sequence[Tuple[str, str, Sequence[Part]]]
                  ) -> List[RestoreReport]:
  """Restores parts of a model from one or more checkpoints.

  The sources are ((checkpoint, the config key that names it, parts), ...):
  each variable of each part is restored, new by design or skipped on
  purpose, else an error names it. Every checkpoint is read and every
  mismatch found before anything is assigned; the errors of all parts come
  together."""
  planned, errors = [], []
  for checkpoint, key, parts in sources:
    ckpt = CheckpointGraph(resolve_checkpoint(checkpoint, key))
    plans = []
    for part in parts:
      try:
        keys, found = ckpt.keys(part)
        pairs, new, skip = _plan(part.module, ckpt, keys, part.label,
                                 _HINTS.get(part.label, _PART_HINT),
                                 part.new_by_design, part.skipped)
      except CheckpointError as e:
        errors.append(f'{key}: {e}')
        continue
      note = '; '.join(n for n in (found, part.note) if n)
      plans.append((part.label, pairs, new, skip, note))
    planned.append((ckpt, plans))
  if errors:
    raise CheckpointError('\n'.join(errors))
  return _assign(planned)


def restore_backbone(backbone: tf_keras.Model, checkpoint: str,
                     new_by_design: Sequence[tf.Variable] = ()
                     ) -> RestoreReport:
  """Restores every backbone variable from a classification checkpoint.

  Args:
    backbone: the detector's backbone.
    checkpoint: a checkpoint prefix or a directory of checkpoints.
    new_by_design: backbone variables the checkpoint cannot have (adapters).

  Returns:
    What was restored.

  Raises:
    CheckpointError: naming each missing or mismatched variable, or the
      damaged checkpoint files; nothing is assigned in that case.
  """
  part = Part('backbone', backbone, part_paths('backbone'), new_by_design)
  return restore_parts([(checkpoint, 'task.init_checkpoint', [part])])[0]


def restore_model(model: tf_keras.Model, checkpoint: str,
                  key: str = 'checkpoint_path') -> RestoreReport:
  """Restores every variable of a trained model from a checkpoint.

  The checkpoint is one of Model Garden's trainer (the model under `model`;
  optimizer state not read). It gives the backbone restore's report: each
  variable missing or of another shape is named, and nothing is assigned
  then."""
  part = Part('model', model, [('model',)])
  return restore_parts([(checkpoint, key, [part])])[0]


def backbone_differences(backbone: tf_keras.Model, checkpoint: str,
                         new_by_design: Sequence[tf.Variable] = ()
                         ) -> List[str]:
  """Lists the backbone variables that differ from the checkpoint.

  Names of backbone variables whose value is not bit-identical to the
  checkpoint's (empty when the frozen backbone is untouched)."""
  return part_differences(
      [Part('backbone', backbone, part_paths('backbone'), new_by_design)],
      checkpoint)


def part_differences(parts: Sequence[Part], checkpoint: str) -> List[str]:
  """Lists the parts' variables that differ from the checkpoint.

  Names of the parts' variables (new by design and skipped ones aside)
  whose value is not bit-identical to the checkpoint's."""
  ckpt = CheckpointGraph(resolve_checkpoint(checkpoint))
  changed = []
  for part in parts:
    pairs, _, _ = _plan(part.module, ckpt, ckpt.keys(part)[0], part.label,
                        _HINTS.get(part.label, _PART_HINT),
                        part.new_by_design, part.skipped)
    changed += [name for name, var, key in pairs
                if not np.array_equal(var.numpy(), ckpt.tensor(key))]
  return changed
