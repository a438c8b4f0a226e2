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

"""Counts a detector's parameters: total, trained, frozen, per component.

A parameter is a weight created trainable (`tf.Variable.trainable`), whatever
the reuse policy later made of its layer; batch-norm moving statistics are
buffers, not parameters. A parameter is *trained* when it is among the model's
`trainable_variables`, i.e. when the optimizer updates it.

Residual adapters live inside the backbone; their parameters are counted
apart, as the component `adapters` right after `backbone`, so that
`backbone` keeps the classification network's own parameters and the
components still add up to the total.
"""
import dataclasses
from typing import Dict, List

import tf_keras

from official_projects_backbone_reuse.modeling import adapters


@dataclasses.dataclass(frozen=True)
class ParameterCount:
  total: int
  trained: int

  @property
  def frozen(self) -> int:
    return self.total - self.trained

  @property
  def trained_share(self) -> float:
    """Trained parameters in percent of all parameters."""
    return 100.0 * self.trained / self.total if self.total else 0.0


def _count(weights, trainable_weights) -> ParameterCount:
  trained_ids = {id(v) for v in trainable_weights}
  params = [v for v in weights if v.trainable]
  return ParameterCount(
      total=sum(int(v.shape.num_elements()) for v in params),
      trained=sum(int(v.shape.num_elements()) for v in params
                  if id(v) in trained_ids))


def components(model: tf_keras.Model) -> Dict[str, tf_keras.layers.Layer]:
  """Returns the model's parts by name.

  Cascade stages go by their layer names; box-domain pre-training's
  projection head and momentum copy are included too."""
  parts = {}
  for name, item in model.checkpoint_items.items():
    if isinstance(item, (list, tuple)):
      parts.update({layer.name: layer for layer in item})
    else:
      parts[name] = item
  for name in ('box_projection', 'momentum_target'):
    if hasattr(model, name):
      parts[name] = getattr(model, name)
  return parts


def count_parameters(model: tf_keras.Model) -> Dict[str, ParameterCount]:
  """Counts the model's parameters per component.

  With `adapters` when the backbone has any, plus 'total' for the whole
  model."""
  adapter_weights = adapters.adapter_variables(model)
  adapter_ids = {id(v) for v in adapter_weights}
  counts = {}
  for name, part in components(model).items():
    counts[name] = _count([v for v in part.weights if id(v) not in adapter_ids],
                          model.trainable_weights)
    if name == 'backbone' and adapter_weights:
      counts['adapters'] = _count(adapter_weights, model.trainable_weights)
  counts['total'] = _count(model.weights, model.trainable_weights)
  return counts


def format_counts(counts: Dict[str, ParameterCount]) -> List[str]:
  """Human-readable lines, one per component and one for the total."""
  lines = []
  for name, c in counts.items():
    lines.append(f'{name:>18}: {c.total:>12,d} parameters, '
                 f'{c.trained:>12,d} trained, {c.frozen:>12,d} frozen '
                 f'({c.trained_share:5.1f}% trained)')
  return lines
