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

"""Few-shot splits (FsDet's protocol): K-shot sets nested, seeded and
reproducible, holding at least K objects of each class from images that
have it; base sets without the novel classes."""
import json

import pytest

from official_projects_backbone_reuse.data_tools import convert_voc
from official_projects_backbone_reuse.data_tools import few_shot


def _content():
  """Three classes; class 1 in images 1-6 (one object each), class 2 in
  images 1-3 (image 3: three objects), class 3 only in image 7."""
  annotations = [(i, 1) for i in range(1, 7)] + [(1, 2), (2, 2)] + [
      (3, 2)] * 3 + [(7, 3)]
  return {
      'images': [{'id': i, 'file_name': f'{i}.jpg', 'width': 10,
                  'height': 10} for i in range(1, 8)],
      'categories': [{'id': c, 'name': n}
                     for c, n in ((1, 'a'), (2, 'b'), (3, 'c'))],
      'annotations': [{'id': n + 1, 'image_id': image, 'category_id': c,
                       'bbox': [0, 0, 5, 5], 'area': 25, 'iscrowd': 0}
                      for n, (image, c) in enumerate(annotations)],
  }


def _count(content, category, images):
  return sum(1 for a in content['annotations']
             if a['category_id'] == category and a['image_id'] in images)


def _generate_seeds(seeds):
  """FsDet's datasets/prepare_voc_few_shot.py `generate_seeds`, transcribed
  line for line; only `np.str` (removed from NumPy, an alias of `str`) is
  `str` and fvcore's PathManager.open is `open`. It reads and writes under
  `datasets/` of the working directory."""
  import copy
  import os
  import random
  import xml.etree.ElementTree as ET
  import numpy as np
  VOC_CLASSES = ['aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus',
                 'car', 'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
                 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa',
                 'train', 'tvmonitor']
  data = []
  data_per_cat = {c: [] for c in VOC_CLASSES}
  for year in [2007, 2012]:
    data_file = 'datasets/VOC{}/ImageSets/Main/trainval.txt'.format(year)
    with open(data_file) as f:
      fileids = np.loadtxt(f, dtype=str).tolist()
    data.extend(fileids)
  for fileid in data:
    year = "2012" if "_" in fileid else "2007"
    dirname = os.path.join("datasets", "VOC{}".format(year))
    anno_file = os.path.join(dirname, "Annotations", fileid + ".xml")
    tree = ET.parse(anno_file)
    clses = []
    for obj in tree.findall("object"):
      cls = obj.find("name").text
      clses.append(cls)
    for cls in set(clses):
      data_per_cat[cls].append(anno_file)

  result = {cls: {} for cls in data_per_cat.keys()}
  shots = [1, 2, 3, 5, 10]
  for i in range(seeds[0], seeds[1]):
    random.seed(i)
    for c in data_per_cat.keys():
      c_data = []
      for j, shot in enumerate(shots):
        diff_shot = shots[j] - shots[j-1] if j != 0 else 1
        shots_c = random.sample(data_per_cat[c], diff_shot)
        num_objs = 0
        for s in shots_c:
          if s not in c_data:
            tree = ET.parse(s)
            file = tree.find("filename").text
            year = tree.find("folder").text
            name = 'datasets/{}/JPEGImages/{}'.format(year, file)
            c_data.append(name)
            for obj in tree.findall("object"):
              if obj.find("name").text == c:
                num_objs += 1
            if num_objs >= diff_shot:
              break
        result[c][shot] = copy.deepcopy(c_data)
    save_path = 'datasets/vocsplit/seed{}'.format(i)
    os.makedirs(save_path, exist_ok=True)
    for c in result.keys():
      for shot in result[c].keys():
        filename = 'box_{}shot_{}_train.txt'.format(shot, c)
        with open(os.path.join(save_path, filename), 'w') as fp:
          fp.write('\n'.join(result[c][shot])+'\n')


def _voc0712(root, rng):
  """A VOC07+12 trainval layout (annotations only): 40 + 24 images, each
  class in at least six, one to three objects of each class an image has,
  set in a shuffled order of the XML (the draws count objects)."""
  classes = convert_voc.VOC_CLASSES
  for year, names in (('2007', [f'{i:06d}' for i in range(1, 41)]),
                      ('2012', [f'2008_{i:06d}' for i in range(1, 25)])):
    folder = root / f'VOC{year}'
    (folder / 'Annotations').mkdir(parents=True)
    (folder / 'ImageSets' / 'Main').mkdir(parents=True)
    order = rng.permutation(len(names))
    (folder / 'ImageSets' / 'Main' / 'trainval.txt').write_text(
        ''.join(f'{names[i]}\n' for i in order))
    for n, name in enumerate(names):
      held = {classes[n % 20], classes[(7 * n + 3 + len(year)) % 20]} | {
          classes[c] for c in rng.choice(20, rng.integers(0, 3))}
      objects = ''.join(
          f'<object><name>{c}</name><difficult>{int(rng.random() < .2)}'
          '</difficult><bndbox><xmin>2</xmin><ymin>3</ymin><xmax>40</xmax>'
          '<ymax>30</ymax></bndbox></object>'
          for c in held for _ in range(rng.integers(1, 4)))
      (folder / 'Annotations' / f'{name}.xml').write_text(
          f'<annotation><folder>VOC{year}</folder><filename>{name}.jpg'
          '</filename><size><width>64</width><height>48</height><depth>3'
          f'</depth></size>{objects}</annotation>')


@pytest.fixture(scope='module')
def fsdet_world(tmp_path_factory):
  """A VOC07+12 layout, FsDet's split files of seeds 1-29 made by its own
  generator, and the layout as our annotation file."""
  import numpy as np
  root = tmp_path_factory.mktemp('fsdet')
  _voc0712(root / 'datasets', np.random.default_rng(0))
  with pytest.MonkeyPatch.context() as monkeypatch:
    monkeypatch.chdir(root)
    _generate_seeds([1, 30])  # FsDet's default is 1-19; TFA's 1-29
  content = convert_voc.to_coco(
      str(root / 'datasets'), [('2007', 'trainval'), ('2012', 'trainval')],
      convert_voc.VOC_CLASSES)
  return root, content


def test_the_split_files_are_fsdets_file_for_file(fsdet_world):
  root, content = fsdet_world
  by_class = few_shot._objects_by_class(content)  # pylint: disable=protected-access
  repeats = 0
  for seed in range(1, 30):
    ours = few_shot.fsdet_lists(content, few_shot.sample_shots(
        content, few_shot.SHOTS, seed, by_class))
    folder = root / 'datasets' / 'vocsplit' / f'seed{seed}'
    assert sorted(ours) == sorted(p.name for p in folder.iterdir())
    for name, text in ours.items():
      assert (folder / name).read_text() == text, (seed, name)
      lines = text.splitlines()
      repeats += len(lines) != len(set(lines))
  assert len(ours) == 100 and repeats  # FsDet's repeated draws, kept


def _fsdet_loader(classnames, shot, seed):
  """FsDet's fsdet/data/meta_pascal_voc.py `load_filtered_voc_instances`,
  its few-shot branch, transcribed (np.str is str, PathManager.open is
  open); NumPy's global generator seeded as Detectron2 seeds it."""
  import os
  import xml.etree.ElementTree as ET
  import numpy as np
  np.random.seed(seed)
  fileids = {}
  split_dir = os.path.join("datasets", "vocsplit")
  split_dir = os.path.join(split_dir, "seed{}".format(seed))
  for cls in classnames:
    with open(os.path.join(split_dir,
                           "box_{}shot_{}_train.txt".format(shot, cls))) as f:
      fileids_ = np.loadtxt(f, dtype=str).tolist()
      if isinstance(fileids_, str):
        fileids_ = [fileids_]
      fileids_ = [fid.split("/")[-1].split(".jpg")[0] for fid in fileids_]
      fileids[cls] = fileids_
  dicts = []
  for cls, fileids_ in fileids.items():
    dicts_ = []
    for fileid in fileids_:
      year = "2012" if "_" in fileid else "2007"
      dirname = os.path.join("datasets", "VOC{}".format(year))
      anno_file = os.path.join(dirname, "Annotations", fileid + ".xml")
      jpeg_file = os.path.join(dirname, "JPEGImages", fileid + ".jpg")
      tree = ET.parse(anno_file)
      for obj in tree.findall("object"):
        r = {"file_name": jpeg_file, "image_id": fileid}
        cls_ = obj.find("name").text
        if cls != cls_:
          continue
        bbox = obj.find("bndbox")
        bbox = [float(bbox.find(x).text)
                for x in ["xmin", "ymin", "xmax", "ymax"]]
        bbox[0] -= 1.0
        bbox[1] -= 1.0
        r["annotations"] = [{"category_id": classnames.index(cls),
                             "bbox": bbox}]
        dicts_.append(r)
    if len(dicts_) > int(shot):
      dicts_ = np.random.choice(dicts_, int(shot), replace=False)
    dicts.extend(dicts_)
  return dicts


def test_k_boxes_per_class_as_fsdets_loader_takes_them(fsdet_world,
                                                      monkeypatch):
  import numpy as np
  root, content = fsdet_world
  monkeypatch.chdir(root)
  names = [c['name'] for c in content['categories']]
  for seed in (1, 2, 29):
    lists = few_shot.read_fsdet_lists(str(root / 'datasets' / 'vocsplit'),
                                      content, seed, few_shot.SHOTS)
    for k in few_shot.SHOTS:
      ours = few_shot.loader_set(content, lists[k], k,
                                 np.random.RandomState(seed))
      files = {i['id']: i['file_name'] for i in ours['images']}
      theirs = [(r['file_name'], r['annotations'][0]['category_id'],
                 r['annotations'][0]['bbox'])
                for r in _fsdet_loader(names, k, seed)]
      assert [(f'datasets/{files[a["image_id"]]}', a['category_id'] - 1,
               [x, y, x + w, y + h]) for a in ours['annotations']
              for x, y, w, h in [a['bbox']]] == theirs, (seed, k)
      counts = np.bincount([a['category_id'] for a in ours['annotations']])
      assert counts[1:].max() <= k  # at most K boxes of a class


def test_shots_are_nested_and_seeded():
  content = _content()
  shots = (1, 2, 3)
  chosen = few_shot.sample_shots(content, shots, seed=4)
  assert chosen == few_shot.sample_shots(content, shots, seed=4)
  assert any(few_shot.sample_shots(content, shots, seed=s) != chosen
             for s in range(5, 10))
  for seed in range(10):
    chosen = few_shot.sample_shots(content, shots, seed)
    for category in (1, 2, 3):
      for small, large in zip(shots, shots[1:]):
        assert chosen[large][category][:len(chosen[small][category])] == (
            chosen[small][category])  # nested
      assert all(_count(content, category, [i]) for i in chosen[3][category])


def test_a_draw_already_taken_is_taken_again_as_fsdet():
  content = _content()  # class 3 is in image 7 only
  assert few_shot.sample_shots(content, (1, 2, 3), 0)[3][3] == [7, 7, 7]
  with pytest.raises(few_shot.DataError, match="class 'b': 3 image"
                     r"\(s\) hold it, fewer than the 4 the 5-shot draw takes"):
    few_shot.sample_shots(content, (1, 5), 0)


def test_base_sets_drop_the_novel_classes_and_empty_images():
  content = _content()
  base = few_shot.base_set(content, novel_ids=[3])
  assert [i['id'] for i in base['images']] == [1, 2, 3, 4, 5, 6]
  assert all(a['category_id'] != 3 for a in base['annotations'])
  assert len(base['annotations']) == len(content['annotations']) - 1


def test_the_command_writes_every_split(tmp_path, capsys):
  path = tmp_path / 'trainval.json'
  path.write_text(json.dumps(_content()))
  out = tmp_path / 'splits'
  status = few_shot.main(['--annotation_file', str(path), '--output_dir',
                          str(out), '--seeds', '1-2', '--shots', '1,2',
                          '--novel', 'c'])
  assert status == 0
  written = sorted(p.relative_to(out).as_posix() for p in out.rglob('*.json'))
  assert written == ['base_split1.json', 'seed1/1shot.json',
                     'seed1/2shot.json', 'seed2/1shot.json',
                     'seed2/2shot.json']
  summary = json.loads(capsys.readouterr().out)
  assert summary['base']['1']['novel_category_ids'] == [3]
  assert sorted(p.name for p in (out / 'vocsplit' / 'seed1').iterdir()) == [
      f'box_{k}shot_{c}_train.txt' for k in (1, 2) for c in 'abc']
  assert (out / 'vocsplit' / 'seed1' / 'box_2shot_c_train.txt').read_text(
  ) == 'datasets/7.jpg\ndatasets/7.jpg\n'
  # Class c's one box listed twice: two records of it, as FsDet's loader.
  two = json.loads((out / 'seed1' / '2shot.json').read_text())
  assert [a['category_id'] for a in two['annotations']].count(3) == 2


def _unknown_category(content):
  content['annotations'][0]['category_id'] = 9


def _no_annotations(content):
  content['annotations'] = []


@pytest.mark.parametrize('args, change, message', [
    (['--novel', 'x'], None, "novel class 'x' is not a category"),
    (['--splits', '4'], None, '--splits: expected some of 1,2,3'),
    (['--shots', 'a'], None, "--shots: expected N-M or N,N,..., found 'a'"),
    (['--shots', '5,1'], None, '--shots: expected increasing positive'),
    (['--novel', 'c', '--seeds', '0'], None,
     "--seeds: FsDet's seed 0 is Kang et al.'s published split files"),
    (['--novel', 'c', '--fsdet_splits', '/nowhere'], None,
     '/nowhere/seed1/box_1shot_a_train.txt: cannot read the FsDet split '
     'file (--fsdet_splits): No such file or directory'),
    (['--novel', 'c'], _unknown_category, 'trainval.json: annotation id 1 has '
     'category_id 9, which is not the id of any entry in \'categories\''),
    (['--novel', 'c'], _no_annotations,
     "trainval.json: 'annotations' is empty"),
    (['--novel', 'c', '--fsdet_splits', '{tmp}/trainval.json'], None,
     'trainval.json/seed1/box_1shot_a_train.txt: cannot read the FsDet '
     'split file (--fsdet_splits): Not a directory'),
    (['--novel', 'c', '--fsdet_splits', '{tmp}/out'], None,
     'the output lies inside the input --fsdet_splits={tmp}/out'),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, change, message):
  content = _content()
  if change:
    change(content)
  path = tmp_path / 'trainval.json'
  path.write_text(json.dumps(content))
  status = few_shot.main(['--annotation_file', str(path), '--output_dir',
                          str(tmp_path / 'out' / 'splits')]
                         + [a.format(tmp=tmp_path) for a in args])
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 2 and len(err) == 1, err
  assert message.format(tmp=tmp_path) in err[0], err
  assert not (tmp_path / 'out').exists()
