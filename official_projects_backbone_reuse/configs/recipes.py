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

"""The recipe registry of the paper's experiments.

Each experiment of the paper is a registered experiment plus the YAML
files that override it, in order (`experiments/recipes.yaml`).

The `experiments/` folder ships with the package (as the package
`official_projects_backbone_reuse.experiments`), so an installed wheel finds
the recipes and the small YAMLs of the jobs from any working directory.
Light on purpose: the jobs read it without importing Model Garden.
"""
import dataclasses
import importlib.resources
import os
from typing import Dict, List, Optional, Tuple

import yaml

from official_projects_backbone_reuse.common.errors import ConfigError

_PACKAGE = 'official_projects_backbone_reuse.experiments'


def experiments_dir() -> str:
  """Returns the folder of the YAML experiments.

  It is where the package was installed from (an editable install: the
  repository's `experiments/`)."""
  try:
    return str(importlib.resources.files(_PACKAGE))
  except ModuleNotFoundError as e:
    raise ConfigError(
        f'the experiments folder (package {_PACKAGE}) is not installed: '
        'install the project with `pip install .` or `pip install -e .` '
        '(a source checkout on the Python path without installing it '
        'lacks it).') from e


def experiment_file(*parts: str) -> str:
  """Returns the path of a YAML file under `experiments/`.

  E.g. experiment_file('small', 'retinanet_frozen.yaml')."""
  return os.path.join(experiments_dir(), *parts)


@dataclasses.dataclass(frozen=True)
class Recipe:
  """A paper experiment: a registered experiment and its YAML files."""
  name: str
  paper: str
  experiment: str
  config_files: Tuple[str, ...]  # relative to experiments_dir()
  original: Optional[str] = None
  # Its rows of the paper's tables (experiments/paper_numbers.yaml).
  paper_rows: Tuple[str, ...] = ()


def load_recipes() -> Dict[str, Recipe]:
  """The recipes of experiments/recipes.yaml, by name."""
  with open(experiment_file('recipes.yaml')) as f:
    entries = yaml.safe_load(f)
  return {name: Recipe(name=name, paper=e['paper'],
                       experiment=e['experiment'],
                       config_files=tuple(e['config_files']),
                       original=e.get('original'),
                       paper_rows=tuple(e.get('paper_rows', ())))
          for name, e in entries.items()}


def resolve(spec: str, recipes: Dict[str, Recipe]) -> Tuple[str, List[str]]:
  """Resolves NAME[:F[+F...]] to an experiment and YAML files.

  The experiment and YAML files (in order) of NAME[:F[+F...]]: NAME is a
  recipe (its experiment and files) or else a registered experiment, then
  more YAML files."""
  name, _, more = spec.partition(':')
  extra = [f for f in more.split('+') if f]
  if name in recipes:
    recipe = recipes[name]
    return recipe.experiment, [experiment_file(f)
                               for f in recipe.config_files] + extra
  return name, extra
