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

"""Low-label sets: a seeded share of the images with all their labels,
smaller sets inside larger ones, and bad arguments as one line."""
import json

import pytest

from official_projects_backbone_reuse.data_tools import label_fraction


def _content(images=40):
  """Image i holds i % 3 objects (some none)."""
  annotations = [(i, n) for i in range(1, images + 1) for n in range(i % 3)]
  return {
      'images': [{'id': i, 'file_name': f'{i}.jpg', 'width': 10,
                  'height': 10} for i in range(1, images + 1)],
      'categories': [{'id': 1, 'name': 'a'}],
      'annotations': [{'id': k + 1, 'image_id': image, 'category_id': 1,
                       'bbox': [0, 0, 5, 5], 'area': 25, 'iscrowd': 0}
                      for k, (image, _) in enumerate(annotations)],
  }


def test_sets_are_nested_seeded_and_keep_every_label():
  content = _content()
  sets = label_fraction.fractions(content, [5, 25, 50, 100], seed=0)
  ids = {p: [i['id'] for i in s['images']] for p, s in sets.items()}
  assert [len(ids[p]) for p in (5, 25, 50, 100)] == [2, 10, 20, 40]
  assert set(ids[5]) < set(ids[25]) < set(ids[50]) < set(ids[100])
  assert all(v == sorted(v) for v in ids.values())  # file order kept
  assert sets[100] == content
  for chosen in sets.values():
    wanted = [a for a in content['annotations']
              if a['image_id'] in {i['id'] for i in chosen['images']}]
    assert sorted(chosen['annotations'], key=lambda a: a['id']) == wanted
    assert chosen['categories'] == content['categories']
  again = label_fraction.fractions(content, [25], seed=0)[25]
  other = label_fraction.fractions(content, [25], seed=1)[25]
  assert again == sets[25] and other['images'] != sets[25]['images']
  # A share too small for one image still gives one.
  assert len(label_fraction.fractions(content, [0.1], 0)[0.1]['images']) == 1


def test_the_command_writes_every_set(tmp_path, capsys):
  path = tmp_path / 'train.json'
  path.write_text(json.dumps(_content()))
  out = tmp_path / 'low'
  status = label_fraction.main(['--annotation_file', str(path),
                                '--output_dir', str(out), '--percents',
                                '2.5,10', '--seeds', '0,1'])
  assert status == 0
  assert sorted(p.name for p in out.iterdir()) == [
      '10pct_seed0.json', '10pct_seed1.json', '2.5pct_seed0.json',
      '2.5pct_seed1.json']
  summary = json.loads(capsys.readouterr().out)
  assert summary['sets']['10pct_seed0']['images'] == 4
  written = json.loads((out / '10pct_seed1.json').read_text())
  assert written == label_fraction.fractions(_content(), [10], 1)[10]


def _unknown_image(content):
  content['annotations'][0]['image_id'] = 99


def _no_images(content):
  content['images'], content['annotations'] = [], []


@pytest.mark.parametrize('args, change, message', [
    (['--percents', '0'], None, '--percents: expected numbers in (0, 100]'),
    (['--percents', '150'], None, '--percents: expected numbers in (0, 100]'),
    (['--percents', 'x'], None, "--percents: expected N,N,..., found 'x'"),
    (['--seeds', 'a'], None, "--seeds: expected N-M or N,N,..., found 'a'"),
    ([], _unknown_image, 'train.json: annotation id 1 has image_id 99, '
     "which is not the id of any entry in 'images'"),
    ([], _no_images, "train.json: 'images' is empty"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, change, message):
  content = _content()
  if change:
    change(content)
  path = tmp_path / 'train.json'
  path.write_text(json.dumps(content))
  status = label_fraction.main(['--annotation_file', str(path),
                                '--output_dir', str(tmp_path / 'out' / 'low')]
                               + args)
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 2 and len(err) == 1 and message in err[0], err
  assert not (tmp_path / 'out').exists()
