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

"""The paper's numbers (experiments/paper_numbers.yaml): every table the
recipes reproduce, values as the paper prints them, the paper's own
relations between its tables, and each recipe's rows against its
attribution."""
import re

import pytest

from official_projects_backbone_reuse.analysis import paper
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import recipes as recipes_lib

ENTRIES = paper.entries()
RECIPES = recipes_lib.load_recipes()


def _numbers(key, column):
  return paper.entry(key).numbers[column]


def test_every_table_is_there_in_its_shape():
  assert sorted({n for e in ENTRIES.values() for n in e.tables}) == list(
      range(1, 19))
  shapes = {}  # table: (metrics, rows, columns of the widest row)
  for e in ENTRIES.values():
    table = int(e.key.partition('/')[0][len('table'):])
    metrics, rows, columns = shapes.get(table, (e.metrics, 0, 0))
    assert e.metrics == metrics, e.key
    assert all(len(n) == len(metrics) for n in e.numbers.values()), e.key
    shapes[table] = (metrics, rows + 1, max(columns, len(e.numbers)))
  map_ap50 = ('mAP', 'AP50')
  assert shapes == {
      1: (map_ap50, 4, 5), 2: (('mAP',), 2, 3), 3: (paper.PARAMETERS, 3, 1),
      4: (('box mAP', 'mask mAP'), 4, 2), 5: (shapes[5][0], 2, 2),
      6: (shapes[6][0], 2, 2), 7: (map_ap50, 1, 6), 8: (map_ap50, 8, 4),
      9: (map_ap50, 2, 5), 10: (map_ap50, 2, 5), 11: (map_ap50, 2, 4),
      13: (map_ap50, 2, 4), 14: (map_ap50, 2, 5), 15: (shapes[5][0], 2, 2),
      16: (shapes[6][0], 2, 2), 17: (map_ap50, 6, 2), 18: (map_ap50, 2, 2)}
  assert shapes[5][0][1:4] == ('box APr', 'box APc', 'box APf')
  assert shapes[6][0][5:] == ('mask APs', 'mask APm', 'mask APl')
  assert paper.entry('table8/r101_fpn').tables == (8, 12)
  assert paper.entry('table17/r101_nasfpn_cascade_600ep').tables == (17, 18)


@pytest.mark.parametrize('key, column, numbers', [
    ('table1/r101_fpn', 'scratch', (48.4, 70.1)),
    ('table1/r50_nasfpn_cascade', 'jft/frozen', (52.1, 70.4)),
    ('table2/r101_nasfpn_72ep', 'imagenet/frozen', (47.8,)),
    ('table3/r101_fpn', 'frozen', (83.5, 21.9, 26.1, -6.5)),
    ('table3/r101_nasfpn_cascade', 'frozen', (132.9, 71.3, 53.6, 0.7)),
    ('table4/coco_copy_paste', 'frozen', (57.0, 48.7)),
    ('table4/lvis', 'finetune', (37.2, 34.7)),
    ('table5/stage1', 'frozen', (39.7, 22.2, 38.8, 48.3, 36.5, 22.4, 36.8,
                                 42.5)),
    ('table7/r101_nasfpn_cascade', 'imagenet/parallel', (53.0, 71.5)),
    ('table8/r50_fpn_cascade', 'jft/frozen', (43.3, 61.4)),
    ('table9/rpn_1conv', 'imagenet/frozen', (41.3, 64.4)),
    ('table10/rpn_4convs', 'scratch', (45.9, 67.5)),
    ('table11/filters_512', 'imagenet/frozen', (42.9, 65.9)),
    ('table13/r101_fpn', 'jft/frozen', (35.3, 58.2)),
    ('table14/r101_nasfpn', 'imagenet/frozen', (45.8, 65.2)),
    ('table16/stage2', 'frozen', (39.4, 31.4, 49.8, 57.4, 37.2, 27.0, 48.6,
                                  56.7)),
    ('table17/r101_nasfpn_600ep', 'jft/parallel', (51.1, 73.1)),
    ('table18/r50_nasfpn_cascade_600ep', 'jft/parallel', (52.8, 71.2)),
])
def test_values_as_the_paper_prints_them(key, column, numbers):
  assert _numbers(key, column) == numbers


def test_the_tables_agree_where_the_paper_repeats_a_number():
  for row in ('r101_fpn', 'r101_nasfpn', 'r101_nasfpn_cascade'):
    table1 = paper.entry(f'table1/{row}').numbers
    change = (table1['imagenet/frozen'][0] - table1['imagenet/finetune'][0])
    assert _numbers(f'table3/{row}', 'frozen')[3] == pytest.approx(change)
  assert (paper.entry('table9/rpn_2convs').numbers ==
          paper.entry('table1/r101_fpn').numbers)
  table8 = paper.entry('table8/r101_fpn').numbers
  assert paper.entry('table11/filters_256').numbers == table8
  for table, schedule, source in ((2, '72ep', 'table8/r101_nasfpn'),
                                  (2, '600ep', 'table1/r101_nasfpn')):
    for column, (ap,) in paper.entry(
        f'table{table}/r101_nasfpn_{schedule}').numbers.items():
      assert _numbers(source, column)[0] == ap, (schedule, column)
  for a, b in ((5, 6), (15, 16)):  # by frequency and by size: same AP
    for stage in ('stage1', 'stage2'):
      for init in ('finetune', 'frozen'):
        first, second = (_numbers(f'table{t}/{stage}', init) for t in (a, b))
        assert (first[0], first[4]) == (second[0], second[4])
  for init in ('finetune', 'frozen'):
    stage2 = _numbers('table5/stage2', init)
    assert _numbers('table4/lvis_copy_paste', init) == (stage2[0], stage2[4])


def test_every_recipe_names_the_rows_of_the_tables_it_says():
  named = set()
  for recipe in RECIPES.values():
    entries = paper.recipe_entries(recipe)
    named |= {e.key for e in entries}
    head = re.sub(r'\([^)]*\)', '', recipe.paper.split(' - ')[0])
    said = {int(n) for part in head.split(';')
            if part.strip().startswith('Table') for n in re.findall(r'\d+',
                                                                   part)}
    assert said == {n for e in entries for n in e.tables}, recipe.name
  assert named == set(ENTRIES)  # every row of the paper is a recipe's


def test_a_study_row_takes_mAP_rows_for_its_columns_and_table3():
  numbers, parameters = paper.study_numbers(
      ['table1/r101_fpn', 'table17/r101_fpn_600ep', 'table3/r101_fpn'],
      ['imagenet/finetune', 'imagenet/frozen', 'imagenet/parallel'])
  assert numbers == {'imagenet/finetune': (48.6, 70.5),
                     'imagenet/frozen': (42.1, 65.3),
                     'imagenet/parallel': (45.0, 67.8)}
  assert parameters == (83.5, 21.9, 26.1, -6.5)


@pytest.mark.parametrize('keys, columns, said', [
    (['table1/r101_fnp'], ['scratch'], "unknown paper entry 'table1/r101_fnp' "
     '(table1 has r101_fpn, r101_nasfpn, r50_nasfpn_cascade, '
     'r101_nasfpn_cascade; in experiments/paper_numbers.yaml)'),
    (['table19/r101_fpn'], ['scratch'], 'the tables: table1, table2, table3,'),
    (['table13/r101_fpn'], ['scratch', 'in1k/frozen'],
     'table13/r101_fpn: none of its columns (imagenet/finetune, '
     'imagenet/frozen, jft/finetune, jft/frozen) is a column of the study'),
    (['table4/coco'], ['frozen'], 'table4/coco: its numbers are box mAP/mask '
     'mAP; a study row takes mAP/AP50 entries and one of Table 3\'s.'),
    (['table7/r101_nasfpn_cascade', 'table17/r101_nasfpn_cascade_600ep'],
     ['imagenet/parallel'], 'table17/r101_nasfpn_cascade_600ep: '
     'imagenet/parallel is 53.0/71.2, another entry gives 53.0/71.5.'),
])
def test_a_wrong_row_is_one_line_that_says_what_is_known(keys, columns, said):
  with pytest.raises(ConfigError) as raised:
    paper.study_numbers(keys, columns)
  assert said in str(raised.value) and '\n' not in str(raised.value)


@pytest.mark.parametrize('text, said', [
    ('table1: {caption: c, metrics: [mAP, AP50], rows: {a: {label: A, '
     'numbers: {scratch: [48.4]}}}}',
     'table1.rows.a.numbers.scratch: expected a column (scratch, INIT or '
     'UPSTREAM/INIT) and one number per metric (mAP/AP50); found [48.4].'),
    ('table1: {caption: c, metrics: [mAP], rows: {a: {label: A, '
     'numbers: {imagenet/frozn: [1.0]}}}}', 'numbers.imagenet/frozn:'),
    ('tabel1: {caption: c, metrics: [mAP], rows: {}}',
     'tabel1: expected tableN: {caption, metrics, rows}'),
    ('table1: {caption: c, metrics: [mAP], rows: {a: {label: A, also: 12, '
     'numbers: {scratch: [1]}}}}', 'table1.rows.a: also: expected a list'),
])
def test_a_broken_numbers_file_names_file_and_key(tmp_path, text, said):
  path = tmp_path / 'numbers.yaml'
  path.write_text(text)
  with pytest.raises(ConfigError) as raised:
    paper.entries(str(path))
  assert str(raised.value).startswith(f'{path}: ')
  assert said in str(raised.value)
