"""`backbone-reuse-resources`: training-step FLOPs per component, counted on
the pruned graph of the real train step, for each reuse variant.

The detector is the default job's RetinaNet (ResNet-18 + FPN) at 128x128,
one image per step.
"""
import csv
import os

import pytest

from official_projects_backbone_reuse.analysis import parameters
from official_projects_backbone_reuse.analysis import resources
from official_projects_backbone_reuse.analysis import train_flops
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import loading
from tests import reuse_helpers as h

SPEC = f'backbone_reuse_retinanet:{h.RETINANET_YAML}'
SMALL = ['--input_size=128', '--batch_size=1']


@pytest.fixture(scope='module')
def rows(tmp_path_factory):
  """The CSV rows of fine-tuned, frozen and frozen + parallel adapters."""
  directory = tmp_path_factory.mktemp('resources')
  path = str(directory / 'flops.csv')
  assert resources.main(SMALL + ['--variants=finetune,frozen,parallel',
                                 '--format=csv', f'--output={path}',
                                 SPEC]) == 0
  assert os.listdir(directory) == ['flops.csv']  # no temporary left behind
  with open(path) as f:
    return {row['variant']: {k: (v if k in ('experiment', 'variant')
                                 else int(v)) for k, v in row.items()}
            for row in csv.DictReader(f)}


def _components(row):
  return sorted({k.rsplit('_', 1)[0] for k in row
                 if k.endswith(('_forward', '_backward'))} - {'flops'})


@pytest.mark.slow
def test_totals_are_the_sum_of_the_components(rows):
  for row in rows.values():
    for side in ('forward', 'backward'):
      assert row[f'flops_{side}'] == sum(row[f'{c}_{side}']
                                         for c in _components(row))
    assert row['flops'] == row['flops_forward'] + row['flops_backward']


@pytest.mark.slow
def test_a_frozen_backbone_costs_its_forward_pass_only(rows):
  finetune, frozen = rows['finetune'], rows['frozen']
  assert frozen['backbone_backward'] == 0
  assert frozen['backbone_forward'] == finetune['backbone_forward'] > 0
  # Backward: gradients for the inputs and for the weights of each layer.
  assert finetune['backbone_backward'] > 1.5 * finetune['backbone_forward']
  assert frozen['head_backward'] == finetune['head_backward'] > 0
  # The decoder no longer passes gradients on to the backbone.
  assert 0 < frozen['decoder_backward'] < finetune['decoder_backward']
  assert frozen['flops'] < 0.6 * finetune['flops']
  assert frozen['params_trained'] < finetune['params_trained'] == (
      finetune['params_total'])


@pytest.mark.slow
def test_adapters_need_activation_gradients_not_weight_gradients(rows):
  finetune, adapted = rows['finetune'], rows['parallel']
  assert adapted['adapters_forward'] > 0 and adapted['adapters_backward'] > 0
  assert 0 < adapted['backbone_backward'] < finetune['backbone_backward']
  assert rows['frozen']['flops'] < adapted['flops'] < finetune['flops']


@pytest.mark.slow
def test_unpruned_graph_counts_the_gradients_the_runtime_drops(rows):
  # The trap: the traced step holds the frozen backbone's weight gradients.
  params = resources.variant_config(
      loading.load_experiment('backbone_reuse_retinanet', [h.RETINANET_YAML]),
      'frozen', 128)
  unpruned, _ = train_flops.training_step_flops(params, 1, pruned=False)
  assert unpruned.component('backbone') > 2 * rows['frozen'][
      'backbone_forward']
  assert unpruned.total > 0.9 * rows['finetune']['flops']


def test_variants_and_their_errors():
  assert resources.variant_overrides('finetune')['freeze_backbone'] is False
  assert resources.variant_overrides('series')['model'] == {
      'backbone_adapter': {'type': 'series'}}
  assert resources.variant_overrides('freeze_at=3')['freeze_at'] == 3
  with pytest.raises(ConfigError, match="'frozn' is not a variant"):
    resources.variant_overrides('frozn')


def test_markdown_rows_and_ratios():
  count = {'total': parameters.ParameterCount(total=10, trained=4)}
  rows = [
      {'experiment': 'x', 'variant': 'finetune', 'batch_size': 2,
       'parameters': count, 'flops': train_flops.StepFlops(
           {'backbone': 2e9, 'head': 1e9}, {'backbone': 4e9, 'head': 1e9})},
      {'experiment': 'x', 'variant': 'frozen', 'batch_size': 2,
       'parameters': count, 'flops': train_flops.StepFlops(
           {'backbone': 2e9, 'head': 1e9}, {'head': 1e9})},
  ]
  lines = resources.format_markdown(rows).splitlines()
  assert lines[0].endswith('| backbone (fwd + bwd) | head (fwd + bwd) |')
  assert lines[2] == ('| x | finetune | 2 | 4 | 8.00 | 3.00 | 5.00 | 1.00 | '
                      '2.00 + 4.00 | 1.00 + 1.00 |')
  assert lines[3] == ('| x | frozen | 2 | 4 | 4.00 | 3.00 | 1.00 | 0.50 | '
                      '2.00 + 0.00 | 1.00 + 1.00 |')


def test_bad_arguments_end_in_one_line(capsys):
  assert resources.main(['--variants=frozen,frozn', SPEC]) == 2
  assert resources.main(['--input_size=100', SPEC]) == 2
  errors = capsys.readouterr().err.strip().splitlines()
  assert errors[0].startswith('error: ') and "'frozn'" in errors[0]
  assert errors[1].startswith('error: ') and '2^max_level' in errors[1]
