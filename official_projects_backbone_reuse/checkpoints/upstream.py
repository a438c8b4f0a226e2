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

"""Checks that a backbone runs as it was pre-trained.

Whether a backbone is about to run as it was pre-trained: the
checkpoint's own `params.yaml` (Model Garden's trainer writes one beside its
checkpoints), or a TF1 EfficientNet's scope, against the detector's config.
"""
import os

import tensorflow as tf

from official.modeling import hyperparams

from official_projects_backbone_reuse.checkpoints import restore
from official_projects_backbone_reuse.checkpoints import tf1
from official_projects_backbone_reuse.common.errors import CheckpointError


def check_upstream_config(checkpoint: str, model_config, backbone_norm) -> None:
  """Checks that the backbone runs as it was pre-trained.

  Fails when the checkpoint's own params.yaml (written by Model Garden's
  trainer next to its checkpoints) shows that the backbone was pre-trained
  with another architecture, normalisation or activation than it is about to
  run with. Does nothing when there is no params.yaml."""
  prefix = restore.resolve_checkpoint(checkpoint)
  params_file = os.path.join(os.path.dirname(prefix), 'params.yaml')
  if not tf.io.gfile.exists(params_file):
    _check_tf1_config(prefix, model_config, backbone_norm)
    return
  upstream = hyperparams.read_yaml_to_params_dict(params_file).as_dict()
  upstream = upstream.get('task', {}).get('model', {})
  if 'backbone' not in upstream:
    return
  ours = {'backbone': model_config.backbone.as_dict(),
          'norm_activation': backbone_norm.as_dict()}
  # A detector's params.yaml (a backbone from a detection checkpoint) may
  # give its backbone a normalisation of its own.
  theirs = {'backbone': upstream['backbone'],
            'norm_activation': (upstream.get('backbone_norm_activation') or
                                upstream.get('norm_activation', {}))}
  diffs = []
  btype = ours['backbone'].get('type')
  for k, v in ours['backbone'].get(btype, {}).items():
    if k in ('stochastic_depth_drop_rate', 'bn_trainable'):
      continue
    up = theirs['backbone'].get(btype, {}).get(k, v)
    if up != v:
      diffs.append(f'backbone.{btype}.{k}: upstream {up!r}, here {v!r}')
  if theirs['backbone'].get('type', btype) != btype:
    diffs.append(f'backbone.type: upstream {theirs["backbone"]["type"]!r}, '
                 f'here {btype!r}')
  for k in ('activation', 'norm_epsilon'):
    up = theirs['norm_activation'].get(k, ours['norm_activation'][k])
    if up != ours['norm_activation'][k]:
      diffs.append(f'norm_activation.{k}: upstream {up!r}, here '
                   f'{ours["norm_activation"][k]!r} (set '
                   'task.model.backbone_norm_activation)')
  if diffs:
    raise CheckpointError(
        f'The backbone would not compute what it computed in pre-training: '
        f'{params_file} differs from this config in\n  ' + '\n  '.join(diffs))


def _check_tf1_config(prefix: str, model_config, backbone_norm) -> None:
  """Checks a TF1 EfficientNet checkpoint as `check_upstream_config` does.

  It has no params.yaml: its scope says the variant, and the reference
  trained every variant alike (`tf1.TRAINED_WITH`)."""
  ckpt = restore.CheckpointGraph(prefix)
  scopes = [f for f in tf1.families(ckpt.shapes)
            if f.startswith('efficientnet-')]
  if ckpt.graph is not None or len(scopes) != 1:
    return
  theirs = {'backbone.type': 'efficientnet',
            'backbone.efficientnet.model_id': scopes[0].partition('-')[2],
            **tf1.TRAINED_WITH}
  ours = {'backbone': model_config.backbone, 'norm_activation': backbone_norm}
  diffs = []
  for key, value in theirs.items():
    top, *names = key.split('.')
    here = ours[top]
    for name in names:
      here = getattr(here, name, None)
    if here != value:
      diffs.append(f'{key}: checkpoint {value!r}, here {here!r}')
  if diffs:
    raise CheckpointError(
        f'The backbone would not compute what it computed in pre-training: '
        f'{prefix} holds TF1 names of {scopes[0]} (tensorflow/tpu '
        'EfficientNet), and this config differs in\n  ' + '\n  '.join(diffs)
        + '\n(norm_activation is task.model.backbone_norm_activation where '
        'set.)')
