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

"""backbone-reuse-convert-voc on the tiny world written in VOC's layout:
boxes back where they were (VOC's 1-based inclusive corners), difficult
flags kept, the COCO-format JSON beside the shards; bad VOC input is one
line and leaves nothing."""
import json
import os
import re

import pytest
import tensorflow as tf

from official_projects_backbone_reuse.data_tools import convert_voc
from official_projects_backbone_reuse.data_tools import voc_layout
from official_projects_backbone_reuse.data_tools.cli import DataError


@pytest.fixture(scope='module')
def voc_world(tiny_world, tmp_path_factory):
  root = tmp_path_factory.mktemp('voc')
  detection = os.path.join(tiny_world.root, 'detection')
  for split, source in (('trainval', 'train'), ('test', 'val')):
    voc_layout.write_voc_layout(
        os.path.join(detection, 'annotations', f'{source}.json'),
        os.path.join(detection, source, 'images'),
        str(root / 'VOC2007'), split)
  return str(root)


def test_voc_layout_converts_back_to_the_same_boxes(voc_world, tiny_world,
                                                    tmp_path):
  prefix = str(tmp_path / 'test07')
  summary = convert_voc.convert_voc(
      voc_world, [('2007', 'test')], prefix, num_shards=2,
      class_names=tiny_world.class_names)
  with open(tiny_world.det_val_json) as f:
    original = json.load(f)
  with open(summary['annotation_file']) as f:
    converted = json.load(f)
  assert summary['images'] == len(original['images']) == 8
  assert [c['name'] for c in converted['categories']] == list(
      tiny_world.class_names)
  names = {c['id']: c['name'] for c in original['categories']}
  before = sorted((names[a['category_id']], *a['bbox'])
                  for a in original['annotations'] if not a['iscrowd'])
  after = sorted((tiny_world.class_names[a['category_id'] - 1], *a['bbox'])
                 for a in converted['annotations'])
  assert len(before) == len(after)
  for old, new in zip(before, after):  # VOC rounds corners to pixels
    assert old[0] == new[0]
    assert max(abs(o - n) for o, n in zip(old[1:], new[1:])) <= 1.0
  difficult = [a for a in converted['annotations'] if a['difficult']]
  assert 0 < len(difficult) == summary['difficult']
  assert all(min(a['bbox'][2:]) < 21 for a in difficult)
  records = sum(1 for path in summary['output_files']
                for _ in tf.data.TFRecordDataset(path))
  assert records == 8


def test_make_dataset_writes_the_voc_layout(tmp_path):
  import io
  from official_projects_backbone_reuse.data_tools import make_procedural_dataset
  make_procedural_dataset.make_dataset(
      str(tmp_path / 'world'), cls_images_per_class=1, cls_val_per_class=0,
      det_train_images=2, det_val_images=1, progress_stream=io.StringIO(),
      voc_layout=True)
  voc = tmp_path / 'world' / 'voc' / 'VOC2007'
  lists = {split: (voc / 'ImageSets' / 'Main' / f'{split}.txt').read_text()
           .split() for split in ('trainval', 'test')}
  assert [len(lists['trainval']), len(lists['test'])] == [2, 1]
  for name in lists['trainval'] + lists['test']:
    assert (voc / 'Annotations' / f'{name}.xml').is_file()
    assert (voc / 'JPEGImages' / f'{name}.jpg').is_file()


def _broken(voc_world, tmp_path, change):
  """A copy of the VOC2007 test split with one change."""
  import shutil
  root = tmp_path / 'broken'
  shutil.copytree(voc_world, root, symlinks=True)
  folder = root / 'VOC2007'
  first = (folder / 'ImageSets' / 'Main' / 'test.txt').read_text().split()[0]
  change(folder, first)
  return str(root), str(folder / 'Annotations' / f'{first}.xml')


def _xml_replaced(pattern, replacement):
  """A change of the first image's XML: its first match of `pattern`."""
  def change(folder, name):
    path = folder / 'Annotations' / f'{name}.xml'
    path.write_text(re.sub(pattern, replacement, path.read_text(), count=1))
  return change


@pytest.mark.parametrize('change, message', [
    (lambda f, n: (f / 'ImageSets' / 'Main' / 'test.txt').unlink(),
     'ImageSets/Main/test.txt: split list not found'),
    (lambda f, n: (f / 'Annotations' / f'{n}.xml').write_text('<annotation'),
     '{xml}: not valid XML'),
    (_xml_replaced('<name>', '<name>x'),
     "{xml}: object 0: class 'x"),
    (_xml_replaced('<xmin>', '<xmin>a'),
     '{xml}: object 0: <bndbox/xmin> is'),
    (lambda f, n: (f / 'ImageSets' / 'Main' / 'test.txt').write_text(
        '../../../etc/passwd\n'),
     'leads outside'),
    (_xml_replaced('<difficult>[01]<', '<difficult>true<'),
     "{xml}: object 0: <difficult> is 'true', expected 0 or 1"),
    (_xml_replaced('<truncated>0<', '<truncated>2<'),
     "{xml}: object 0: <truncated> is '2', expected 0 or 1"),
    (lambda f, n: (f / 'ImageSets' / 'Main' / 'test.txt').write_text(
        (f / 'ImageSets' / 'Main' / 'test.txt').read_text() + f'{n}\n'),
     "ImageSets/Main/test.txt: image '{name}' is listed twice"),
])
def test_bad_voc_input_is_one_line_and_writes_nothing(
    voc_world, tiny_world, tmp_path, capsys, change, message):
  root, xml = _broken(voc_world, tmp_path, change)
  prefix = tmp_path / 'out' / 'test07'
  status = convert_voc.main([
      '--voc_root', root, '--sets', '2007:test',
      '--class_names', ','.join(tiny_world.class_names),
      '--output_prefix', str(prefix), '--num_processes', '1'])
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 2
  assert len(err) == 1 and err[0].startswith('error: ')
  name = os.path.splitext(os.path.basename(xml))[0]
  assert message.format(xml=xml, name=name) in err[0]
  assert not (tmp_path / 'out').exists()  # not even an empty folder


def test_an_image_in_two_of_the_sets_is_refused(voc_world, tiny_world,
                                                tmp_path):
  def also_in_trainval(folder, name):
    listing = folder / 'ImageSets' / 'Main' / 'trainval.txt'
    listing.write_text(listing.read_text() + f'{name}\n')
  root, _ = _broken(voc_world, tmp_path, also_in_trainval)
  with pytest.raises(DataError, match=r"test.txt: image '\w+' is also in "
                     r'.*trainval.txt'):
    convert_voc.to_coco(root, [('2007', 'trainval'), ('2007', 'test')],
                        tiny_world.class_names)
  with pytest.raises(DataError, match='--sets: 2007:test is given twice'):
    convert_voc.parse_sets('2007:test, 2007:test')


@pytest.mark.slow
def test_a_frozen_run_on_voc_reports_voc_metrics(upstream, voc_world,
                                                 tiny_world, tmp_path):
  from official_projects_backbone_reuse import train
  from tests import runtime_helpers as rh
  converted = {}
  for split in ('trainval', 'test'):
    converted[split] = convert_voc.convert_voc(
        voc_world, [('2007', split)], str(tmp_path / f'{split}07'),
        num_shards=1, class_names=tiny_world.class_names)
  params = rh.tiny_params(upstream, tiny_world, steps=2, batch=2)
  params.task.train_data.input_path = converted['trainval']['output_files'][0]
  params.task.validation_data.input_path = converted['test']['output_files'][0]
  params.task.annotation_file = converted['test']['annotation_file']
  params.task.evaluation.type = 'voc'
  params.trainer.validation_steps = -1  # all 8 test images
  logs = train.run_experiment(params, 'train_and_eval', str(tmp_path / 'run'),
                              tf.distribute.get_strategy())
  for name in ('AP50', 'AP50_voc07', 'AP70', 'AP'):
    assert 0.0 <= logs[name] <= 1.0, name
  per_class = [k for k in logs if k.startswith('AP50/')]
  assert len(per_class) == len(tiny_world.class_names)
  assert logs['AP70'] <= logs['AP50']
