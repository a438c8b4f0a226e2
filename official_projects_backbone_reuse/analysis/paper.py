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

"""The paper's numbers, shipped with the package.

They are in `experiments/paper_numbers.yaml`: every table the recipes
reproduce, as entries TABLE/ROW (`table1/r101_fpn`) that a study row
(`paper:`) and a recipe (`paper_rows:`) name, so each number is written
once.

Light on purpose (YAML, no TensorFlow): the study runner reads it to print
its commands.
"""
import dataclasses
import functools
import re
from typing import Dict, List, Optional, Sequence, Tuple

import yaml

from official_projects_backbone_reuse.common import values
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import recipes as recipes_lib

FILE = 'paper_numbers.yaml'
MAP_AP50 = ('mAP', 'AP50')
# Table 3's metrics: parameters in millions, total and trained when frozen.
PARAMETERS = ('params M', 'trained M', 'trained %', 'mAP change vs FT')
# What a column is made of, in the paper's words.
_UPSTREAMS = {'imagenet': 'IN', 'jft': 'JFT'}
_INITS = {'finetune': 'FT', 'frozen': 'Fz', 'parallel': 'Fz+RA'}
_TABLE = re.compile(r'table([1-9][0-9]*)')
_TABLE_KEYS = {'caption', 'metrics', 'also', 'note', 'rows'}
_ROW_KEYS = {'label', 'numbers', 'also', 'note'}


def column_name(column: str) -> str:
  """A column in the paper's words: `imagenet/frozen` is `IN Fz`."""
  upstream, _, init = column.rpartition('/')
  return ' '.join(filter(None, (_UPSTREAMS.get(upstream),
                                _INITS.get(init, init))))


def _is_column(column) -> bool:
  upstream, _, init = str(column).rpartition('/')
  return column == 'scratch' or (init in _INITS and
                                 (not upstream or upstream in _UPSTREAMS))


def text(numbers: Sequence[float]) -> str:
  """Numbers as the paper prints them: `48.4/70.1`."""
  return '/'.join(f'{n:.1f}' for n in numbers)


@dataclasses.dataclass(frozen=True)
class Entry:
  """A row of the paper's tables."""
  key: str  # TABLE/ROW
  tables: Tuple[int, ...]  # the paper's tables that print it
  caption: str  # its table's
  label: str  # backbone, detector, schedule
  metrics: Tuple[str, ...]  # what each column's numbers are, in order
  numbers: Dict[str, Tuple[float, ...]]  # column -> a number per metric
  notes: Tuple[str, ...] = ()  # its table's, then its own

  @property
  def title(self) -> str:
    """`Table 1`, or `Tables 17, 18` for a row two tables print."""
    return ('Table ' if len(self.tables) == 1 else 'Tables ') + ', '.join(
        map(str, self.tables))

  def summary(self) -> str:
    """One line: where, what the numbers are, then each column's."""
    return (f'{self.title} ({self.caption}), {self.label}; '
            f'{"/".join(self.metrics)}: ' + ', '.join(
                f'{column_name(c)} {text(n)}' for c, n in self.numbers.items()))


def _table(file: str, name: str, table) -> List[Entry]:
  """The entries of one table of the file; a mistake names its key."""
  where = f'{file}: {name}'
  match = _TABLE.fullmatch(str(name))
  if (not match or not isinstance(table, dict) or
      not {'caption', 'metrics', 'rows'} <= set(table) <= _TABLE_KEYS or
      not isinstance(table['rows'], dict) or not table['metrics']):
    raise ConfigError(f'{where}: expected tableN: {{caption, metrics, rows}}'
                      ' (also and note optional).')
  metrics = tuple(map(str, table['metrics']))
  out = []
  for row, entry in table['rows'].items():
    at = f'{where}.rows.{row}'
    if (not isinstance(entry, dict) or
        not {'label', 'numbers'} <= set(entry) <= _ROW_KEYS or
        not isinstance(entry['numbers'], dict) or not entry['numbers']):
      raise ConfigError(f'{at}: expected {{label, numbers}} (also and note '
                        'optional).')
    for column, numbers in entry['numbers'].items():
      if (not _is_column(column) or not isinstance(numbers, list) or
          len(numbers) != len(metrics) or
          not all(values.is_number(n) for n in numbers)):
        raise ConfigError(
            f'{at}.numbers.{column}: expected a column (scratch, INIT or '
            f'UPSTREAM/INIT) and one number per metric ({"/".join(metrics)}'
            f'); found {numbers!r}.')
    also = [table.get('also', []), entry.get('also', [])]
    if not all(isinstance(a, list) and all(map(values.is_integer, a))
               for a in also):
      raise ConfigError(f'{at}: also: expected a list of table numbers.')
    out.append(Entry(
        key=f'{name}/{row}', tables=(int(match[1]), *also[0], *also[1]),
        caption=' '.join(str(table['caption']).split()),
        label=str(entry['label']), metrics=metrics,
        numbers={c: tuple(map(float, n)) for c, n in entry['numbers'].items()},
        notes=tuple(' '.join(str(note).split()) for note in
                    (table.get('note'), entry.get('note')) if note)))
  return out


@functools.lru_cache(maxsize=None)
def entries(file: Optional[str] = None) -> Dict[str, Entry]:
  """Every entry of `file` (default: the shipped one), by key."""
  file = file or recipes_lib.experiment_file(FILE)
  with open(file) as f:
    tables = yaml.safe_load(f)
  if not isinstance(tables, dict):
    raise ConfigError(f'{file}: expected a mapping of tables (table1: ...).')
  return {e.key: e for name, table in tables.items()
          for e in _table(file, name, table)}


def entry(key: str) -> Entry:
  """Returns the paper's entry `key`.

  The entry `key`; an unknown one is a ConfigError that names the rows
  of its table, or the tables."""
  known = entries()
  if key in known:
    return known[key]
  table = str(key).partition('/')[0]
  rows = [k.partition('/')[2] for k in known if k.startswith(table + '/')]
  said = (f'{table} has {", ".join(rows)}' if rows else 'the tables: ' +
          ', '.join(dict.fromkeys(k.partition('/')[0] for k in known)))
  raise ConfigError(f'unknown paper entry {key!r} ({said}; in '
                    f'experiments/{FILE})')


def recipe_entries(recipe: recipes_lib.Recipe) -> List[Entry]:
  """The entries a recipe names in `paper_rows`, in order."""
  try:
    return [entry(key) for key in recipe.paper_rows]
  except ConfigError as e:
    raise ConfigError(f'{recipes_lib.experiment_file("recipes.yaml")}: '
                      f'{recipe.name}.paper_rows: {e}') from e


def study_numbers(keys: Sequence[str], columns: Sequence[str]
                  ) -> Tuple[Dict[str, Tuple[float, float]],
                             Tuple[float, ...]]:
  """Returns a study row's numbers from the paper's entries.

  A study row's numbers from the entries `keys`: ({column: (mAP, AP50)}
  for the study's columns, Table 3's PARAMETERS or ()). An entry must give
  a column of the study, and two entries the same numbers for a column."""
  found, parameters = {}, ()
  for key in keys:
    row = entry(key)
    if row.metrics == PARAMETERS and not parameters:
      parameters = next(iter(row.numbers.values()))
      continue
    if row.metrics != MAP_AP50:
      raise ConfigError(f'{key}: its numbers are {"/".join(row.metrics)}; a '
                        'study row takes mAP/AP50 entries and one of Table '
                        "3's.")
    shared = {c: n for c, n in row.numbers.items() if c in columns}
    if not shared:
      raise ConfigError(f'{key}: none of its columns ({", ".join(row.numbers)}'
                        ') is a column of the study (the paper\'s upstreams '
                        'are imagenet and jft).')
    for column, numbers in shared.items():
      if found.setdefault(column, numbers) != numbers:
        raise ConfigError(f'{key}: {column} is {text(numbers)}, another '
                          f'entry gives {text(found[column])}.')
  return found, parameters
