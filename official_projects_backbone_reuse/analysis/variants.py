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

"""The reuse variants a resource report compares, as task overrides.

`finetune` (the backbone trains), `frozen`, `parallel` / `series` / `film`
(frozen, with those adapters), `freeze_at=K` (the stem and the stages of
levels 2..K frozen, Detectron2's FREEZE_AT). A from-scratch run costs what
a fine-tuned one costs.
"""
import re
from typing import Optional

from official.core import config_definitions as cfg

from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.modeling import adapters

_ADAPTERS = tuple(a for a in adapters.ADAPTER_TYPES if a != 'none')


def variant_overrides(variant: str) -> dict:
  """The task overrides of a variant name (module doc)."""
  frozen = {'freeze_backbone': True, 'freeze_at': None,
            'model': {'backbone_adapter': {'type': 'none'}}}
  if variant == 'finetune':
    return dict(frozen, freeze_backbone=False)
  if variant == 'frozen':
    return frozen
  if variant in _ADAPTERS:
    return dict(frozen, model={'backbone_adapter': {'type': variant}})
  found = re.fullmatch(r'freeze_at=(\d)', variant)
  if found:
    return dict(frozen, freeze_backbone=False, freeze_at=int(found.group(1)))
  raise ConfigError(
      f'--variants: {variant!r} is not a variant; expected finetune, frozen, '
      f'{", ".join(_ADAPTERS)} or freeze_at=K.')


def variant_config(params: cfg.ExperimentConfig, variant: str,
                   input_size: Optional[int]) -> cfg.ExperimentConfig:
  """`params` as the variant trains it, at `input_size` when given."""
  task = variant_overrides(variant)
  if input_size:
    task['model'] = dict(task['model'], input_size=[input_size, input_size,
                                                     3])
  params = params.replace(task=task)
  params.task.validate()
  return params
