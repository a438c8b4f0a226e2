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

"""The private upstream APIs the project relies on are all still there.

Imports only: no model is built. A failure names each private API that is
gone and the code of this project that uses it (`private_apis.missing`).
"""
import os
import re
import subprocess
import sys

import pytest

from official_projects_backbone_reuse import private_apis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCANNED = ('official_projects_backbone_reuse', 'data_tools')
REGISTER = os.path.join(ROOT, 'official_projects_backbone_reuse',
                        'private_apis.py')
# Module paths that are not public API when imported from.
PRIVATE_MODULES = re.compile(
    r'\b(tf_keras\.src|keras\.src|tensorflow\.python|tensorflow\.core)'
    r'(\.\w+)*')


def _source_lines():
  """(path relative to ROOT, line number, line) of every scanned file."""
  for top in SCANNED:
    for folder, _, names in os.walk(os.path.join(ROOT, top)):
      for name in sorted(names):
        path = os.path.join(folder, name)
        if not name.endswith('.py') or path == REGISTER:
          continue
        with open(path, encoding='utf-8') as f:
          for number, line in enumerate(f, 1):
            yield os.path.relpath(path, ROOT), number, line.rstrip('\n')


def test_every_private_api_is_there():
  lines = private_apis.missing()
  assert not lines, '\n'.join(lines)


def test_a_removed_attribute_is_reported(monkeypatch):
  from official.vision.modeling.decoders import nasfpn  # pylint: disable=g-import-not-at-top
  monkeypatch.delattr(nasfpn.NASFPN, '_resample_feature_map')
  lines = [l for l in private_apis.missing()
           if '_resample_feature_map' in l]
  assert len(lines) == 1, private_apis.missing()
  assert lines[0].startswith(
      'official.vision.modeling.decoders.nasfpn.NASFPN._resample_feature_map '
      'is gone (used by modeling/bottleneck_nasfpn.py: BottleneckNASFPN ')
  assert 'tf-models-official is pinned in setup.cfg' in lines[0]


Api = private_apis.PrivateApi


@pytest.mark.parametrize('api, expected', [
    (Api('json.JSONDecoder', '_gone', private_apis.ATTRIBUTE, 'a.py: f'),
     'json.JSONDecoder._gone is gone (used by a.py: f)'),
    (Api('json.JSONDecoder.__init__', '_gone', private_apis.ASSIGNED,
         'a.py: f'),
     'json.JSONDecoder.__init__ no longer sets ._gone (used by a.py: f)'),
    (Api('json.JSONDecoder.decode', '_gone', private_apis.MENTIONED,
         'a.py: f'),
     'json.JSONDecoder.decode no longer mentions _gone (used by a.py: f)'),
    (Api('json.no_such_module.Thing', '_gone', private_apis.ATTRIBUTE,
         'a.py: f'),
     "json.no_such_module.Thing is gone (No module named "
     "'json.no_such_module'), and with it _gone (used by a.py: f)"),
    (Api('json.NoSuchClass.method', '_gone', private_apis.ASSIGNED,
         'a.py: f'),
     'json.NoSuchClass.method is gone ('),
])
def test_a_missing_entry_names_owner_attribute_and_user(api, expected):
  lines = private_apis.missing([api])
  assert len(lines) == 1
  assert lines[0].startswith(expected), lines[0]
  assert api.owner in lines[0] and api.name in lines[0]
  assert 'adapt the project before upgrading' in lines[0]


def test_present_entries_of_each_check_pass():
  assert private_apis.missing([
      Api('json.JSONDecoder', 'decode', private_apis.ATTRIBUTE, ''),
      Api('json.JSONDecoder.__init__', 'strict', private_apis.ASSIGNED, ''),
      Api('json.JSONDecoder.decode', 'raw_decode', private_apis.MENTIONED,
          ''),
  ]) == []


def test_every_protected_access_is_registered():
  """A `# pylint: disable=protected-access` line uses a listed attribute."""
  registered = {api.name for api in private_apis.PRIVATE_APIS}
  unlisted = []
  for path, number, line in _source_lines():
    if not re.search(r'pylint:\s*disable=[\w,-]*protected-access', line):
      continue
    used = set(re.findall(r'\.(_\w+)', line.split('#')[0]))
    if not used & registered:
      unlisted.append(f'{path}:{number}: {line.strip()}')
  assert not unlisted, (
      'Private upstream attributes used here are not listed in '
      'official_projects_backbone_reuse/private_apis.py PRIVATE_APIS (add '
      'them, with the attribute on the line that uses it):\n  '
      + '\n  '.join(unlisted))


def test_every_private_module_import_is_registered():
  """Imports from tf_keras.src, tensorflow.python/core name a listed owner."""
  owners = {api.owner for api in private_apis.PRIVATE_APIS}
  unlisted = []
  for path, number, line in _source_lines():
    code = line.split('#')[0]
    if not re.match(r'\s*(from|import)\s', code):
      continue
    for found in PRIVATE_MODULES.finditer(code):
      module = found.group(0)
      names = re.findall(r'import\s+(.*)', code)
      candidates = {module} | {f'{module}.{n.split(" as ")[0].strip()}'
                               for n in (names[0].split(',') if names else [])}
      if not any(o == c or o.startswith(c + '.')
                 for o in owners for c in candidates):
        unlisted.append(f'{path}:{number}: {line.strip()}')
  assert not unlisted, (
      'Imports from non-public modules that are not listed in '
      'official_projects_backbone_reuse/private_apis.py PRIVATE_APIS:\n  '
      + '\n  '.join(unlisted))


def test_importing_the_register_imports_nothing_upstream():
  code = ('import importlib.util, sys\n'
          f'spec = importlib.util.spec_from_file_location("r", {REGISTER!r})\n'
          'spec.loader.exec_module(importlib.util.module_from_spec(spec))\n'
          'print(sorted(m for m in ("tensorflow", "tf_keras", "official", '
          '"lvis") if m in sys.modules))\n')
  out = subprocess.run([sys.executable, '-c', code], capture_output=True,
                       text=True, check=True).stdout
  assert out.strip() == '[]'
