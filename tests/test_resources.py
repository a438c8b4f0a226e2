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

"""`backbone-reuse-resources`: training-step FLOPs per component, counted on
the pruned graph of the real train step, and step time and memory measured
in a process per variant, for each reuse variant.

The detector is the default job's RetinaNet (ResNet-18 + FPN) at 128x128,
one image per step, one process per variant, one timed step.
"""
import csv
import os

import pytest

from official_projects_backbone_reuse.analysis import resource_tables
from official_projects_backbone_reuse.analysis import resources
from official_projects_backbone_reuse.analysis import train_flops
from official_projects_backbone_reuse.analysis import variants
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.common.errors import UserError
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.modeling import parameters
from tests import reuse_helpers as h
from tests.benchmarks import device_check

SPEC = f'backbone_reuse_retinanet:{h.RETINANET_YAML}'
SMALL = ['--input_size=128', '--batch_size=1']
_TEXT = ('experiment', 'variant', 'device', 'largest_batch')


@pytest.fixture(scope='module')
def check(tmp_path_factory):
  """The device check at tiny size: fine-tuned, frozen and frozen +
  parallel adapters, in float32 and in mixed float16 compiled with XLA,
  each measured in a process of its own; its folder and CSV rows."""
  directory = tmp_path_factory.mktemp('resources') / 'check'
  assert device_check.main(['--tiny', f'--output_dir={directory}']) == 0
  # The three outputs, no temporary left behind.
  assert sorted(os.listdir(directory)) == sorted(device_check.OUTPUTS)
  with open(directory / 'device_check.csv') as f:
    table = [{k: (v if k in _TEXT else float(v)) for k, v in row.items()}
             for row in csv.DictReader(f)]
  return directory, table


@pytest.fixture(scope='module')
def rows(check):
  """The float32 rows by variant, and the plot's path."""
  directory, table = check
  assert device_check.specs(tiny=True)[0] == SPEC
  text = (directory / 'device_check.md').read_text()
  assert text.count(f'| {SPEC} |') == 3 and 'Not measured' not in text
  return ({row['variant']: row for row in table if row['experiment'] == SPEC},
          str(directory / 'device_check.png'))


def _components(row):
  return sorted({k.rsplit('_', 1)[0] for k in row
                 if k.endswith(('_forward', '_backward'))} - {'flops'})


@pytest.mark.slow
def test_totals_are_the_sum_of_the_components(rows):
  for row in rows[0].values():
    for side in ('forward', 'backward'):
      assert row[f'flops_{side}'] == sum(row[f'{c}_{side}']
                                         for c in _components(row))
    assert row['flops'] == row['flops_forward'] + row['flops_backward']


@pytest.mark.slow
def test_a_frozen_backbone_costs_its_forward_pass_only(rows):
  finetune, frozen = rows[0]['finetune'], rows[0]['frozen']
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
def test_a_frozen_backbone_needs_no_memory_for_its_gradients(rows):
  finetune, frozen = rows[0]['finetune'], rows[0]['frozen']
  for row in rows[0].values():
    assert row['device'] == 'cpu'
    assert 0 < row['wall_s_min'] <= row['wall_s'] <= row['wall_s_max']
    assert row['cpu_s'] > 0 and row['peak_bytes'] > row['memory_bytes'] > 0
  # Fine-tuning holds at least one float32 copy of the backbone's weights
  # more (their gradients; SGD's momentum is another).
  backbone = finetune['params_trained'] - frozen['params_trained']
  assert frozen['memory_bytes'] + 4 * backbone < finetune['memory_bytes']


@pytest.mark.slow
def test_the_plot_is_a_png(rows):
  with open(rows[1], 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'


@pytest.mark.slow
def test_adapters_need_activation_gradients_not_weight_gradients(rows):
  finetune, adapted = rows[0]['finetune'], rows[0]['parallel']
  assert adapted['adapters_forward'] > 0 and adapted['adapters_backward'] > 0
  assert 0 < adapted['backbone_backward'] < finetune['backbone_backward']
  assert rows[0]['frozen']['flops'] < adapted['flops'] < finetune['flops']


@pytest.mark.slow
def test_unpruned_graph_counts_the_gradients_the_runtime_drops(rows):
  # The trap: the traced step holds the frozen backbone's weight gradients.
  params = variants.variant_config(
      loading.load_experiment('backbone_reuse_retinanet', [h.RETINANET_YAML]),
      'frozen', 128)
  unpruned, _ = train_flops.training_step_flops(params, 1, pruned=False)
  assert unpruned.component('backbone') > 2 * rows[0]['frozen'][
      'backbone_forward']
  assert unpruned.total > 0.9 * rows[0]['finetune']['flops']


def test_variants_and_their_errors():
  assert variants.variant_overrides('finetune')['freeze_backbone'] is False
  assert variants.variant_overrides('series')['model'] == {
      'backbone_adapter': {'type': 'series'}}
  assert variants.variant_overrides('freeze_at=3')['freeze_at'] == 3
  with pytest.raises(ConfigError, match="'frozn' is not a variant"):
    variants.variant_overrides('frozn')


def _row(variant, backward, cost=None):
  return {'experiment': 'x', 'variant': variant, 'batch_size': 2,
          'parameters': {'total': parameters.ParameterCount(total=10,
                                                             trained=4)},
          'flops': train_flops.StepFlops({'backbone': 2e9, 'head': 1e9},
                                         backward),
          'cost': cost}


def test_markdown_rows_and_ratios():
  rows = [_row('finetune', {'backbone': 4e9, 'head': 1e9}),
          _row('frozen', {'head': 1e9})]
  lines = resource_tables.format_markdown(rows).splitlines()
  assert lines[0].endswith('| backbone (fwd + bwd) | head (fwd + bwd) |')
  assert lines[2] == ('| x | finetune | 2 | 4 | 8.00 | 3.00 | 5.00 | 1.00 | '
                      '2.00 + 4.00 | 1.00 + 1.00 |')
  assert lines[3] == ('| x | frozen | 2 | 4 | 4.00 | 3.00 | 1.00 | 0.50 | '
                      '2.00 + 0.00 | 1.00 + 1.00 |')
  measured = [dict(row, cost=resources.StepCost(
      'cpu', wall, (wall, wall * 1.5), wall * 2, memory, memory + 2 ** 30))
              for row, wall, memory in zip(rows, (0.5, 0.3),
                                           (400 * 2 ** 20, 100 * 2 ** 20))]
  lines = resource_tables.format_markdown(measured).splitlines()
  assert lines[3].startswith('| x | frozen | 2 | 4 | 4.00 | 3.00 | 1.00 | '
                             '0.300 (0.300-0.450) | 6.7 | 0.600 | 100 | '
                             '1,124 | - '
                             '| 0.50 | 0.25 | 0.60 |')


def test_largest_batch_doubles_then_bisects():
  tried = []

  def fits_up_to(limit):
    def fits(batch_size):
      tried.append(batch_size)
      return batch_size <= limit
    return fits

  assert resources.largest_batch(fits_up_to(37), 256) == '37'
  assert tried == [1, 2, 4, 8, 16, 32, 64, 48, 40, 36, 38, 37]
  assert resources.largest_batch(fits_up_to(1000), 100) == '>=100'
  assert resources.largest_batch(fits_up_to(0), 100) == '0'


def test_memory_budget_takes_the_peak_of_processes_of_their_own(monkeypatch):
  def fake(spec, variant, batch_size, *unused_args, **unused_kwargs):
    del spec
    per_image = (300 if variant == 'finetune' else 100) * 2 ** 20
    return {'device': 'cpu', 'wall_s': [0.1], 'cpu_s': [0.2],
            'baseline_bytes': 0, 'peak_bytes': per_image * batch_size,
            'flops': {'forward': {'backbone': 1}, 'backward': {}},
            'parameters': {'total': [10, 4]}}

  monkeypatch.setattr(resources, 'measure_in_process', fake)
  args = resources._parser().parse_args(  # pylint: disable=protected-access
      ['--memory_budget=1000', SPEC])
  rows = resources._measured_rows(  # pylint: disable=protected-access
      [(SPEC, 'finetune', None, 1), (SPEC, 'frozen', None, 1)], args)
  assert [r['cost'].largest_batch for r in rows] == ['3', '10']
  assert rows[0]['cost'].memory_bytes == 300 * 2 ** 20


_BAD_ARGUMENTS = {  # name: (arguments, the one line ({d}: a folder))
    'unknown variant': (['--variants=frozen,frozn'], "'frozn'"),
    'no variant': (['--variants=,'], "error: --variants=',': expected one "
                   'or more of finetune, frozen'),
    'input size': (['--input_size=100'], '2^max_level'),
    'repeats': (['--repeats=0'], 'error: --repeats=0: expected at least 1.'),
    'time limit': (['--time_limit_s=0'],
                   'error: --time_limit_s=0: expected at least 1.'),
    'plot without finetune': (['--variants=frozen', '--plot={d}/fig1.png'],
                              'finetune'),
    'csv under a file': (['--csv={d}/a_file/x.csv'],
                         'error: --csv={d}/a_file/x.csv: cannot be written, '
                         '{d}/a_file is a file.'),
    'batch beyond memory': (['--batch_size=100000', '--flops_only'],
                            f'error: {SPEC}: --batch_size=100000: its images '
                            'of 256x256 alone take 73.2 GiB as float32, more '
                            'than the 16.0 GiB of memory this machine has.'),
}


@pytest.mark.parametrize('case', sorted(_BAD_ARGUMENTS))
def test_bad_arguments_end_in_one_line(capsys, tmp_path, monkeypatch, case):
  arguments, said = _BAD_ARGUMENTS[case]
  (tmp_path / 'a_file').write_text('')
  # As on a machine of 16 GiB (the check reads its memory).
  sysconf = os.sysconf
  monkeypatch.setattr(os, 'sysconf', lambda name: 2 ** 22 if name ==
                      'SC_PHYS_PAGES' else sysconf(name))
  assert resources.main([a.format(d=tmp_path) for a in arguments]
                        + [SPEC]) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and err.count('\n') == 1, err
  assert said.format(d=tmp_path) in err
  assert os.listdir(tmp_path) == ['a_file']


@pytest.mark.slow
def test_a_measurement_that_fails_says_why_in_one_line():
  # Forked from the fork server that `rows` started (or starts it).
  with pytest.raises(UserError) as e:
    resources.measure_in_process(SPEC, 'frozen', 1, 1, 0,
                                 params_override='task.model.no_such_key=1')
  assert str(e.value).startswith(
      f'{SPEC} frozen: measuring a step of 1 image(s) failed (exit 2): ')
  assert 'no_such_key' in str(e.value) and '\n' not in str(e.value)


@pytest.mark.slow
def test_the_device_check_compiles_each_variant_with_xla_in_float16(check):
  directory, table = check
  float32, compiled = device_check.specs(tiny=True)
  assert compiled == (f'{SPEC}+{device_check.MIXED}+{device_check.XLA}')
  by_cell = {(row['experiment'], row['variant']): row for row in table}
  for variant in ('finetune', 'frozen', 'parallel'):
    row = by_cell[compiled, variant]
    assert row['wall_s'] > 0 and row['peak_bytes'] > 0
    # The same detector in either runtime: the same parameters trained.
    assert row['params_trained'] == by_cell[float32, variant]['params_trained']
  assert os.path.getsize(directory / 'device_check.png') > 0


def test_no_process_starts_after_the_time_limit(monkeypatch):
  started = []

  def fake(spec, variant, batch_size, *unused_args, **unused_kwargs):
    started.append(variant)
    return {'device': 'cpu', 'wall_s': [0.1], 'cpu_s': [0.2],
            'baseline_bytes': 0, 'peak_bytes': 1,
            'flops': {'forward': {'backbone': 1}, 'backward': {}},
            'parameters': {'total': [10, 4]}}

  clock = iter(range(0, 1000, 10))  # each look at the clock: 10 s later
  monkeypatch.setattr(resources, 'measure_in_process', fake)
  monkeypatch.setattr(resources.time, 'monotonic', lambda: next(clock))
  args = resources._parser().parse_args(  # pylint: disable=protected-access
      ['--time_limit_s=25', '--repeats=2', SPEC])
  rows = resources._measured_rows(  # pylint: disable=protected-access
      [(SPEC, v, None, 1) for v in ('finetune', 'frozen', 'parallel')], args)
  # The limit passes after two starts: the third cell is left out.
  assert started == ['finetune', 'frozen']
  assert [row['variant'] for row in rows] == ['finetune', 'frozen']


@pytest.mark.parametrize('arguments, said', [
    (['--output_dir={d}/a_file'], 'error: --output_dir={d}/a_file: is a '
     'file, not a folder.'),
    (['--output_dir={d}/new', '--repeats=0'],
     'error: --repeats=0: expected at least 1.'),
    (['--output_dir={d}/new', '--time_limit_s=-5'],
     'error: --time_limit_s=-5: expected at least 1.'),
])
def test_the_device_checks_bad_arguments_end_in_one_line(capsys, tmp_path,
                                                          arguments, said):
  (tmp_path / 'a_file').write_text('')
  assert device_check.main([a.format(d=tmp_path) for a in arguments]) == 2
  err = capsys.readouterr().err
  assert err == said.format(d=tmp_path) + '\n'
  assert os.listdir(tmp_path) == ['a_file']  # no folder left behind
