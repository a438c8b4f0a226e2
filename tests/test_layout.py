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

"""The package's layout holds (DESIGN.md): dependencies run one way.

The core (configs, modeling, checkpoints, tasks, dataloaders, evaluation,
serving, runtime, train.py) never imports the tools (analysis, study, jobs,
inspect_checkpoint, data_tools), and configs/ imports neither tasks/ nor
runtime/ (a task config validates itself). Imports are read from the source,
function-level ones included, and followed transitively; a failure names
the file, the line and the chain of imports. Importing the library sets
nothing; each command chooses Keras 2 first (`legacy_keras`). No file is
over 450 lines, and every Python file carries Model Garden's Apache 2.0
license header.
"""
import ast
import configparser
import importlib
import os
import pathlib
import subprocess
import sys
from typing import Dict, List, Tuple

import pytest

from official_projects_backbone_reuse.data_tools import commands as launcher

PACKAGE = 'official_projects_backbone_reuse'
REPO = pathlib.Path(__file__).resolve().parents[1]
TOOLS = ('analysis', 'study', 'jobs', 'inspect_checkpoint', 'data_tools')
# (the importing part, the parts it must not reach)
RULES = (('core', TOOLS), ('configs', ('tasks', 'runtime')))

Edge = Tuple[str, int, str]  # (file, line, imported module)


def _modules(roots: Dict[str, pathlib.Path]) -> Dict[str, pathlib.Path]:
  """Module name -> file, for each (package name -> folder) in `roots`."""
  found = {}
  for name, folder in roots.items():
    for path in sorted(folder.rglob('*.py')):
      parts = list(path.relative_to(folder).with_suffix('').parts)
      if parts[-1] == '__init__':
        parts.pop()
      found['.'.join([name] + parts)] = path
  return found


def import_graph(roots: Dict[str, pathlib.Path]) -> Dict[str, List[Edge]]:
  """Each module's imports of the package's own modules, anywhere in it."""
  modules = _modules(roots)
  graph = {}
  for name, path in modules.items():
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    edges = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
      elif isinstance(node, ast.ImportFrom):
        base = node.module or ''
        if node.level:
          anchor = package.split('.')[:len(package.split('.')) + 1 -
                                      node.level]
          base = '.'.join(anchor + ([base] if base else []))
        # `from a import b` imports the module a.b when there is one.
        targets = [f'{base}.{alias.name}' if f'{base}.{alias.name}' in
                   modules else base for alias in node.names]
      else:
        continue
      edges += [(str(path.relative_to(REPO)) if REPO in path.parents
                 else str(path), node.lineno, t)
                for t in dict.fromkeys(targets) if t in modules]
    graph[name] = edges
  return graph


def _part(module: str) -> str:
  """The package's top-level part a module belongs to ('' for its root)."""
  parts = module.split('.')
  return parts[1] if len(parts) > 1 else ''


def violations(graph: Dict[str, List[Edge]]) -> List[str]:
  """One line per module that reaches, directly or through others, a part
  its rule forbids: the file and line of its first import on the way."""
  found = []
  for name in sorted(graph):
    for importer, forbidden in RULES:
      part = _part(name)
      if importer == 'core' and part in TOOLS:
        continue
      if importer not in ('core', part):
        continue
      # Breadth first: the shortest chain to each reachable module.
      chains = {name: []}
      queue = [name]
      while queue:
        current = queue.pop(0)
        for edge in graph.get(current, []):
          target = edge[2]
          if target not in chains:
            chains[target] = chains[current] + [edge]
            queue.append(target)
      for target, chain in chains.items():
        if chain and _part(target) in forbidden:
          file, line, first = chain[0]
          via = ' -> '.join(e[2] for e in chain)
          found.append(f'{file}:{line}: {name} ({importer}) imports {first}'
                       f', reaching {target} ({_part(target)}): {via}')
          break
  return found


def _roots(repo: pathlib.Path) -> Dict[str, pathlib.Path]:
  # data_tools/ installs as official_projects_backbone_reuse.data_tools.
  return {PACKAGE: repo / PACKAGE, f'{PACKAGE}.data_tools': repo / 'data_tools'}


def test_the_core_never_imports_the_tools_and_configs_stand_alone():
  graph = import_graph(_roots(REPO))
  assert len(graph) > 80 and sum(map(len, graph.values())) > 200  # all read
  found = violations(graph)
  assert not found, '\n'.join(found)


@pytest.mark.parametrize('where, line, said', [
    ('tasks/detection.py', 'def f():\n  from {pkg}.analysis import report\n',
     'tasks/detection.py:2: {pkg}.tasks.detection (core) imports '
     '{pkg}.analysis.report, reaching {pkg}.analysis.report (analysis)'),
    ('configs/loading.py', 'from {pkg}.modeling import helper\n',
     'configs/loading.py:1: {pkg}.configs.loading (configs) imports '
     '{pkg}.modeling.helper, reaching {pkg}.runtime.checks (runtime): '
     '{pkg}.modeling.helper -> {pkg}.runtime.checks'),
    ('configs/loading.py', 'from ..runtime import checks\n',
     'configs/loading.py:1: {pkg}.configs.loading (configs) imports '
     '{pkg}.runtime.checks, reaching {pkg}.runtime.checks (runtime)'),
])
def test_a_wrong_way_import_is_named_with_its_file_and_line(tmp_path, where,
                                                            line, said):
  """The checker finds function-level, transitive and relative imports."""
  pkg = tmp_path / PACKAGE
  files = {'__init__.py': '', 'configs/__init__.py': '',
           'configs/loading.py': '', 'modeling/__init__.py': '',
           'modeling/helper.py': f'from {PACKAGE}.runtime import checks\n',
           'runtime/__init__.py': '', 'runtime/checks.py': '',
           'tasks/__init__.py': '', 'tasks/detection.py': '',
           'analysis/__init__.py': '', 'analysis/report.py': ''}
  files[where] = line.format(pkg=PACKAGE)
  for name, text in files.items():
    os.makedirs(pkg / os.path.dirname(name), exist_ok=True)
    (pkg / name).write_text(text)
  found = violations(import_graph({PACKAGE: pkg}))
  expected = said.format(pkg=PACKAGE)
  assert [f for f in found if f.endswith(expected) or expected in f], found
  # modeling -> runtime is allowed: only the file of the planted import fails.
  assert len(found) == 1, found


def _console_scripts() -> Dict[str, Tuple[str, str]]:
  """setup.cfg's console scripts: name -> (module, function)."""
  config = configparser.ConfigParser()
  config.read(REPO / 'setup.cfg')
  scripts = config['options.entry_points']['console_scripts']
  return {name.strip(): tuple(target.strip().split(':'))
          for name, target in (line.split('=')
                               for line in scripts.strip().splitlines())}


def _commands() -> List[str]:
  """The modules of the console scripts setup.cfg installs.

  Those of the converters `data_tools.commands` starts stand for it."""
  modules = {module for module, _ in _console_scripts().values()}
  assert launcher.__name__ in modules  # imports no TensorFlow itself
  return sorted(modules - {launcher.__name__} | {
      f'{PACKAGE}.data_tools.{name}' for name in launcher.CONVERTERS})


def test_every_console_script_names_a_function():
  for name, (module, function) in _console_scripts().items():
    assert callable(getattr(importlib.import_module(module), function,
                            None)), f'setup.cfg: {name} = {module}:{function}'


def test_commands_choose_keras_2_first_and_the_library_leaves_it_alone():
  """TF_USE_LEGACY_KERAS is set by each command before TensorFlow is
  imported (`legacy_keras`), never by importing the library."""
  modules = _modules(_roots(REPO))
  init = ast.parse(modules[PACKAGE].read_text())
  assert len(init.body) == 1 and isinstance(init.body[0].value, ast.Constant)
  keras2 = f'{PACKAGE}.legacy_keras'
  commands = _commands()
  assert len(commands) >= 19
  for command in commands:
    tree = ast.parse(modules[command].read_text())
    imports = [n for n in tree.body if isinstance(n, (ast.Import,
                                                      ast.ImportFrom))]
    first = next(n for n in imports
                 if (n.module if isinstance(n, ast.ImportFrom) else
                     n.names[0].name).split('.')[0]
                 not in sys.stdlib_module_names)
    assert (first.module, first.names[0].name) == (PACKAGE, 'legacy_keras'), (
        f'{modules[command]}:{first.lineno}: the first import that is not '
        'the standard library must be legacy_keras')
  graph = import_graph(_roots(REPO))
  importers = {name for name, edges in graph.items()
               if any(edge[2] == keras2 for edge in edges)}
  assert importers == set(commands), importers ^ set(commands)


def test_files_stay_short():
  """A file over 450 lines is split by what its parts do (tests too)."""
  long = [f'{path.relative_to(REPO)}: {n} lines'
          for folder in (PACKAGE, 'data_tools', 'tests')
          for path in sorted((REPO / folder).rglob('*.py'))
          for n in [len(path.read_text().splitlines())] if n > 450]
  assert not long, long


LICENSE_HEADER = """\
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
"""


def _python_files() -> List[pathlib.Path]:
  """The repository's tracked .py files (its folders' outside a git clone)."""
  try:
    listed = subprocess.run(['git', 'ls-files', '*.py'], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.split()
    return [REPO / name for name in listed]
  except (OSError, subprocess.CalledProcessError):
    return [path for folder in (PACKAGE, 'data_tools', 'tests', 'experiments')
            for path in sorted((REPO / folder).rglob('*.py'))]


def test_every_python_file_carries_the_license_header():
  """Model Garden's Apache 2.0 header opens each file (after a shebang)."""
  files = _python_files()
  assert len(files) > 100  # all found
  missing = [str(path.relative_to(REPO)) for path in files
             for text in [path.read_text()]
             if not (text.partition('\n')[2] if text.startswith('#!') else
                     text).startswith(LICENSE_HEADER)]
  assert not missing, missing


def test_every_docstring_opens_with_a_one_line_summary():
  """Model Garden's habit: a summary line, then a blank line (tests aside)."""
  nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
  without = [f'{path.relative_to(REPO)}: {getattr(node, "name", "module")}'
             for path in _python_files() if 'tests' not in path.parts
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, nodes)
             for text in [ast.get_docstring(node, clean=False)] if text
             for lines in [text.strip('\n').splitlines()]
             if len(lines) > 1 and lines[1].strip()]
  assert not without, without
