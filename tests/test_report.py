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

"""`backbone-reuse-report`: parameter tables in markdown and CSV, and errors.

The detector is the default job's small RetinaNet (ResNet-18 + FPN), built at
128x128, frozen as its YAML says and fine-tuned through init/finetune.yaml.
"""
import csv
import dataclasses
import io
import os

import pytest

from official_projects_backbone_reuse.analysis import report
from official_projects_backbone_reuse.configs import recipes as recipes_lib
from official_projects_backbone_reuse.modeling import parameters

EXPERIMENTS = recipes_lib.experiments_dir()
FROZEN = ('backbone_reuse_retinanet:' +
          os.path.join(EXPERIMENTS, 'small', 'retinanet_frozen.yaml'))
FINETUNED = FROZEN + '+' + os.path.join(EXPERIMENTS, 'init', 'finetune.yaml')
SMALL = ['--input_size=128']


@pytest.fixture(scope='module')
def csv_rows(tmp_path_factory):
  """The CSV report of the frozen and the fine-tuned detector, via --output."""
  directory = tmp_path_factory.mktemp('report')
  path = str(directory / 'params.csv')
  assert report.main(SMALL + ['--format=csv', f'--output={path}', FROZEN,
                              FINETUNED]) == 0
  assert os.listdir(directory) == ['params.csv']  # no temporary left behind
  with open(path) as f:
    return {row['experiment']: row for row in csv.DictReader(f)}


def _components(row):
  return sorted({k.rsplit('_', 1)[0] for k in row
                 if k.endswith(('_total', '_trained'))})


def test_csv_totals_are_the_sum_of_the_components(csv_rows):
  for row in csv_rows.values():
    assert _components(row) == ['backbone', 'decoder', 'head']
    for kind in ('total', 'trained'):
      assert int(row[kind]) == sum(int(row[f'{c}_{kind}'])
                                   for c in _components(row))


def test_csv_trained_share_follows_the_reuse_mode(csv_rows):
  frozen, finetuned = csv_rows[FROZEN], csv_rows[FINETUNED]
  assert frozen['total'] == finetuned['total']
  assert int(frozen['backbone_trained']) == 0
  assert int(frozen['trained']) == (int(frozen['total']) -
                                    int(frozen['backbone_total']))
  share = 100.0 * int(frozen['trained']) / int(frozen['total'])
  assert float(frozen['trained_percent']) == pytest.approx(share, abs=0.005)
  assert 0 < share < 10  # a ResNet-18 dwarfs the small FPN and head
  assert finetuned['trained'] == finetuned['total']
  assert finetuned['backbone_trained'] == finetuned['backbone_total']
  assert float(finetuned['trained_percent']) == 100.0


def test_markdown_table(capsys, csv_rows):
  assert report.main(SMALL + [FROZEN]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert lines[0] == ('| experiment | total | trained | trained % | backbone '
                      '| decoder | head |')
  assert lines[1] == '|---|---:|---:|---:|---:|---:|---:|'
  row = csv_rows[FROZEN]
  share = float(row['trained_percent'])
  assert lines[2] == (
      f'| {FROZEN} | {int(row["total"]):,} | {int(row["trained"]):,} | '
      f'{share:.1f} | {int(row["backbone_total"]):,} frozen | '
      f'{int(row["decoder_total"]):,} | {int(row["head_total"]):,} |')
  assert len(lines) == 3


def test_columns_follow_the_data_flow_with_cascade_stages_in_order():
  count = parameters.ParameterCount(total=2, trained=1)
  names = ['mask_head', 'detection_head_2', 'adapter', 'backbone',
           'detection_head_10', 'detection_head', 'rpn_head', 'decoder',
           'detection_head_1']
  rows = [('a', dict({n: count for n in names}, total=count))]
  assert report.component_columns(rows) == [
      'backbone', 'decoder', 'rpn_head', 'detection_head',
      'detection_head_1', 'detection_head_2', 'detection_head_10',
      'mask_head', 'adapter']
  assert report.format_markdown(rows).splitlines()[2].endswith(
      '| 2 (50.0% trained) |')


def test_a_recipe_resolves_to_its_files_then_the_given_ones():
  recipes = recipes_lib.load_recipes()
  experiment, files = recipes_lib.resolve(
      'faster_rcnn_r101_nasfpn_cascade_600ep:a.yaml+b.yaml', recipes)
  assert experiment == 'backbone_reuse_fasterrcnn'
  assert [os.path.relpath(f, EXPERIMENTS) for f in files[:-2]] == [
      'faster_rcnn/base.yaml', 'decoders/nasfpn.yaml',
      'faster_rcnn/cascade.yaml', 'faster_rcnn/schedule_600ep.yaml',
      'init/freeze.yaml']
  assert files[-2:] == ['a.yaml', 'b.yaml']


def test_output_is_checked_first_and_its_folders_made(capsys, tmp_path):
  a_file = tmp_path / 'file'
  a_file.write_text('')
  # --output under a file fails before any model is built.
  assert report.main([f'--output={a_file}/table.md', FROZEN]) == 2
  assert capsys.readouterr().err == (
      f'error: --output={a_file}/table.md: cannot be written, {a_file} is a '
      'file.\n')
  assert report.main([f'--output={tmp_path}', '--list']) == 2
  assert 'expected a file to write, found a folder' in capsys.readouterr().err
  new = tmp_path / 'new' / 'folder' / 'recipes.md'
  assert report.main([f'--output={new}', '--list']) == 0
  assert new.read_text() == report.recipes_table(recipes_lib.load_recipes())


def test_list_prints_the_recipes(capsys):
  assert report.main(['--list']) == 0
  assert capsys.readouterr().out == report.recipes_table(recipes_lib.load_recipes())


@pytest.mark.parametrize('args, named', [
    (['no_such_experiment'], "'no_such_experiment'"),
    ([FROZEN + '+missing.yaml'], 'missing.yaml'),
    (['--params_override=task.model.no_such_key=1', FROZEN], 'no_such_key'),
    (['--input_size=96', FROZEN], '2^max_level = 128'),
])
def test_errors_name_what_is_wrong_and_write_nothing(capsys, tmp_path, args,
                                                     named):
  output = str(tmp_path / 'out.md')
  assert report.main([f'--output={output}'] + args) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith('error: ') and named in err[0]
  assert not os.listdir(tmp_path)


@pytest.fixture
def made_up_counts(monkeypatch):
  """Counts without building the models: only the configs are loaded."""
  count = parameters.ParameterCount(total=83_000_000, trained=21_000_000)
  monkeypatch.setattr(report, 'build_for_counting',
                      lambda params, input_size=None: None)
  monkeypatch.setattr(parameters, 'count_parameters',
                      lambda model: {'total': count})


def test_the_paper_s_numbers_stand_beside_each_recipe(capsys, made_up_counts):
  recipe = 'faster_rcnn_r101_fpn_600ep'
  assert report.main([recipe, FROZEN]) == 0
  table, _, block = capsys.readouterr().out.partition('\n\n')
  assert len(table.splitlines()) == 4  # the counts, as without the paper
  lines = block.splitlines()
  assert lines[:3] == [
      "The paper's numbers (AP x100; experiments/paper_numbers.yaml):", '',
      f'- `{recipe}`']
  assert lines[3] == (
      '  - Table 1 (Faster R-CNN, 600 epochs), R101 FPN; mAP/AP50: scratch '
      '48.4/70.1, IN FT 48.6/70.5, IN Fz 42.1/65.3, JFT FT 48.7/70.5, JFT Fz '
      '43.1/67.2')
  assert lines[4].startswith('  - Table 3 (') and lines[4].endswith(
      'R101 FPN; params M/trained M/trained %/mAP change vs FT: Fz '
      '83.5/21.9/26.1/-6.5')
  notes = [l for l in lines if l.startswith('    - note: ')]
  assert len(notes) == 2 and '26.15 %' in notes[1]
  assert lines[-1].startswith('  - Table 9 (') and 'RPN 2 convs' in lines[-1]
  assert FROZEN not in block  # not a recipe: no paper rows

  assert report.main(['--format=csv', recipe, FROZEN]) == 0
  rows = {r['experiment']: r for r in csv.DictReader(
      io.StringIO(capsys.readouterr().out))}
  assert [rows[recipe][k] for k in ('paper_rows', 'paper_total_M',
                                    'paper_trained_M',
                                    'paper_trained_percent')] == [
      'table1/r101_fpn table3/r101_fpn table9/rpn_2convs', '83.5', '21.9',
      '26.1']
  assert rows[FROZEN]['paper_rows'] == rows[FROZEN]['paper_total_M'] == ''


def test_a_recipe_naming_an_unknown_paper_row_is_one_line(
    capsys, monkeypatch, made_up_counts):
  recipes = recipes_lib.load_recipes()
  recipes['retinanet_r101_fpn_72ep'] = dataclasses.replace(
      recipes['retinanet_r101_fpn_72ep'], paper_rows=('table13/r101_fnp',))
  monkeypatch.setattr(recipes_lib, 'load_recipes', lambda: recipes)
  assert report.main(['retinanet_r101_fpn_72ep']) == 2
  assert capsys.readouterr().err == (
      f'error: {EXPERIMENTS}/recipes.yaml: retinanet_r101_fpn_72ep.paper_rows:'
      " unknown paper entry 'table13/r101_fnp' (table13 has r101_fpn, "
      'r101_nasfpn; in experiments/paper_numbers.yaml)\n')
