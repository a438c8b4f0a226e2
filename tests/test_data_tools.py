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

"""Tests of data_tools: the procedural world, and the shard writer through
the detection converter (tests/test_convert_detection.py has the
converter's own, tests/test_convert_classification.py the other's).

Run: python -m pytest tests/test_data_tools.py -q
"""

import glob
import hashlib
import io
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import lvis
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
import pytest
import tensorflow as tf

from official_projects_backbone_reuse.data_tools import convert_classification
from official_projects_backbone_reuse.data_tools import convert_detection
from official_projects_backbone_reuse.data_tools import make_procedural_dataset
from official_projects_backbone_reuse.data_tools import procedural
from official_projects_backbone_reuse.data_tools import procedural_layout
from official_projects_backbone_reuse.data_tools.cli import DataError
from official_projects_backbone_reuse.data_tools.shards import write_tfrecord_shards

TINY = dict(cls_images_per_class=1, cls_val_per_class=1, det_train_images=4,
            det_val_images=2, progress_stream=io.StringIO())


def _tree_digest(root):
  paths = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]
  return {os.path.relpath(p, root): hashlib.sha256(
      pathlib.Path(p).read_bytes()).hexdigest() for p in paths}


def _records(pattern):
  files = sorted(glob.glob(pattern))
  return [r.numpy() for r in tf.data.TFRecordDataset(files)]


def _load(path):
  return json.loads(pathlib.Path(path).read_text())


def _listing(folder):
  return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


# ---------------------------------------------------------------- the world


def _make(path, seed):
  make_procedural_dataset.make_dataset(str(path), seed=seed, **TINY)
  return _tree_digest(str(path))


def test_same_seed_gives_identical_files(tmp_path):
  first, second = _make(tmp_path / 'a', 3), _make(tmp_path / 'b', 3)
  assert first == second
  assert len([k for k in first if k.endswith('.jpg')]) == 24 * 2 + 4 + 2
  other = _make(tmp_path / 'c', 4)
  train_json = 'detection/annotations/train.json'
  assert other[train_json] != first[train_json]


def test_default_sizes_are_long_tailed():
  for seed in (0, 1):
    plans = procedural_layout.plan_detection_split(seed, 'train', 500)
    statistics = procedural_layout.detection_statistics(plans)
    groups = [procedural_layout.frequency_group(n)
              for n in statistics['image_count']]
    assert {'r', 'c', 'f'} <= set(groups), (seed, statistics)
    assert min(statistics['image_count']) >= 1
    assert all(2 <= len(p.objects) <= 8 for p in plans)
    categories = procedural_layout.categories_json(statistics)
    assert [c['frequency'] for c in categories] == groups


def test_min_object_size_draws_larger_objects():
  def sides(**size):
    plans = procedural_layout.plan_detection_split(0, 'train', 100, **size)
    return np.array([max(o.bbox[2:]) for p in plans for o in p.objects])

  default, large = sides(), sides(min_object_size=48.0)
  assert default.min() < 24 and np.median(large) > 1.4 * np.median(default)
  # Packing may shrink an object to fit, rarely below the smallest size.
  assert np.mean(large >= 0.9 * 48) > 0.9


def test_annotations_load_in_coco_and_lvis(tiny_world):
  train = _load(tiny_world.det_train_json)
  val = _load(tiny_world.det_val_json)
  COCO(tiny_world.det_val_json)
  dataset = lvis.LVIS(tiny_world.det_val_json)
  assert sorted(dataset.cats) == list(range(1, 25))
  assert [c['frequency'] for c in train['categories']] == [
      c['frequency'] for c in val['categories']]
  assert [c['name'] for c in train['categories']] == list(
      tiny_world.class_names)
  for content in (train, val):
    by_image = {}
    for a in content['annotations']:
      by_image.setdefault(a['image_id'], []).append(a)
    for image in content['images']:
      assert image['coco_url'].endswith('/' + image['file_name'])
      assert 256 <= image['height'] <= 320 and 256 <= image['width'] <= 320
      anns = by_image.get(image['id'], [])
      present = {a['category_id'] for a in anns}
      assert not present & set(image['neg_category_ids'])
      boxes = [a['bbox'] for a in anns]
      for i, (x, y, w, h) in enumerate(boxes):  # no two objects overlap
        assert 0 <= x and x + w <= image['width'] and y + h <= image['height']
        for x2, y2, w2, h2 in boxes[i + 1:]:
          assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y
      for a in anns:
        rle = mask_utils.frPyObjects(a['segmentation'], image['height'],
                                     image['width'])
        assert float(mask_utils.area(rle).sum()) == a['area'] > 0
  summary = _load(os.path.join(tiny_world.root, 'dataset.json'))
  assert summary['class_names'] == list(tiny_world.class_names)
  assert summary['detection']['train']['images'] == 24


def test_objects_are_painted_exactly_over_their_masks():
  rng = np.random.default_rng(0)
  object_class = procedural.CLASSES[0]  # red solid circle
  placement = procedural.at_corner(
      procedural.sample_placement(rng, 40), object_class.shape, 10, 12)
  image = procedural.render(rng, 80, 90, [(object_class, placement)])
  mask = mask_utils.decode(procedural.polygon_rle(
      placement.polygon(object_class.shape), 80, 90)).astype(bool)
  red = (image[..., 0] > 130) & (image[..., 1] < 110) & (image[..., 2] < 110)
  assert (red[mask].mean() > 0.97) and (red[~mask].mean() < 0.05)


def test_the_large_upstream_set_is_finer_and_holds_the_world_classes(
    tmp_path, capsys):
  command = ['--output_dir', str(tmp_path / 'large'), '--large_upstream_set',
             '--cls_val_per_class=0']
  for wrong, said in (('--det_train_images=2', '--det_train_images: does '
                       'not apply with --large_upstream_set'),
                      ('--voc_layout', '--voc_layout: does not apply'),
                      ('--cls_images_per_class=0', 'cls_images_per_class: '
                       'expected an integer >= 1, found 0')):
    assert make_procedural_dataset.main(command + [wrong]) == 2
    assert capsys.readouterr().err.startswith(f'error: {said}')
  assert _listing(tmp_path) == []
  assert make_procedural_dataset.main(
      command + ['--cls_images_per_class=1']) == 0
  assert json.loads(capsys.readouterr().out)['num_classes'] == 240
  names = _load(str(tmp_path / 'large' / 'dataset.json'))['class_names']
  assert len(names) == len(set(names)) == 240
  assert {c.name for c in procedural.CLASSES} < set(names)
  train = tmp_path / 'large' / 'classification' / 'train'
  assert _listing(train) == sorted(names)
  assert all(_listing(train / n) == ['0000.jpg'] for n in names)
  assert _load(str(tmp_path / 'large' / 'dataset.json'))['num_classes'] == 240
  with pytest.raises(DataError, match='non-empty'):
    make_procedural_dataset.make_large_upstream_set(str(tmp_path / 'large'))
  (tmp_path / 'file').write_text('mine')  # an output that is a user's file
  assert make_procedural_dataset.main(
      ['--output_dir', str(tmp_path / 'file'), '--large_upstream_set']) == 2
  assert capsys.readouterr().err == (f'error: --output_dir={tmp_path / "file"}'
                                     ': expected a folder to write, found a '
                                     'file.\n')
  assert (tmp_path / 'file').read_text() == 'mine'


def test_make_dataset_refuses_non_empty_folder_and_overwrites(tmp_path):
  out = tmp_path / 'world'
  out.mkdir()
  (out / 'keep.txt').write_text('mine')
  with pytest.raises(DataError, match='non-empty'):
    make_procedural_dataset.make_dataset(str(out), **TINY)
  assert _listing(out) == ['keep.txt']
  make_procedural_dataset.make_dataset(str(out), overwrite=True, **TINY)
  assert _listing(out) == ['classification', 'dataset.json', 'detection']
  assert _listing(tmp_path) == ['world']


def test_failed_generation_leaves_nothing(tmp_path, monkeypatch):
  calls = []

  def failing_encode(image):
    calls.append(image)
    if len(calls) > 5:
      raise RuntimeError('disk full')
    return b'jpeg'

  monkeypatch.setattr(procedural, 'encode_jpeg', failing_encode)
  with pytest.raises(RuntimeError):
    make_procedural_dataset.make_dataset(str(tmp_path / 'world'), **TINY)
  assert _listing(tmp_path) == []


def test_make_dataset_command(tmp_path, capsys):
  out = str(tmp_path / 'world')
  args = ['--output_dir', out, '--cls_images_per_class', '1',
          '--cls_val_per_class', '0', '--det_train_images', '2',
          '--det_val_images', '0']
  assert make_procedural_dataset.main(args) == 0
  assert json.loads(capsys.readouterr().out)['detection']['val']['images'] == 0
  assert make_procedural_dataset.main(args) == 2
  assert 'error: ' in capsys.readouterr().err
  fresh = ['--output_dir', str(tmp_path / 'other')] + args[2:]
  assert make_procedural_dataset.main(fresh + ['--long_tail_ratio=inf']) == 2
  assert capsys.readouterr().err.startswith(
      'error: long_tail_ratio: expected a finite number >= 1, found inf')
  for size in ('200', 'nan'):
    assert make_procedural_dataset.main(
        fresh + [f'--min_object_size={size}']) == 2
    assert capsys.readouterr().err == (
        'error: min_object_size: expected a size in pixels from 4 to 120, '
        f'found {float(size)}\n')
  assert make_procedural_dataset.main(fresh + ['--seed=-1']) == 2
  assert capsys.readouterr().err.startswith(
      'error: seed: expected an integer >= 0, found -1')
  assert not (tmp_path / 'other').exists()
  (tmp_path / 'file').write_text('mine')
  for output, said in (('file', 'expected a folder to write, found a file'),
                       ('file/world', 'cannot be written, ')):
    assert make_procedural_dataset.main(
        ['--output_dir', str(tmp_path / output)] + args[2:]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f'error: --output_dir={tmp_path / output}: {said}'
                   + (f'{tmp_path / "file"} is a file.' if '/' in output
                      else '.')]
  assert sorted(os.listdir(tmp_path)) == ['file', 'world']


# ---------------------------- the shard writer, by the detection converter


def _small_coco(tmp_path, size=(40, 30)):
  """Two JPEG images of `size` (width, height) and three annotations."""
  image_dir = tmp_path / 'images'
  image_dir.mkdir()
  images = []
  for image_id in (1, 2):
    name = f'{image_id}.jpg'
    Image.new('RGB', size, (90, 90, 90)).save(image_dir / name)
    images.append({'id': image_id, 'file_name': name, 'width': size[0],
                   'height': size[1]})

  def ann(ann_id, image_id, bbox):
    x, y, w, h = bbox
    return {'id': ann_id, 'image_id': image_id, 'category_id': 1,
            'bbox': bbox, 'area': float(max(w, 0) * max(h, 0)), 'iscrowd': 0,
            'segmentation': [[x, y, x + w, y, x + w, y + h, x, y + h]]}

  annotations = [ann(10, 1, [2, 3, 10, 8]), ann(11, 2, [5, 5, 6, 6]),
                 ann(12, 2, [20, 10, 8, 8])]
  content = {'images': images, 'annotations': annotations,
             'categories': [{'id': 1, 'name': 'thing'}]}
  return content, str(image_dir), ann


def _write_json(path, content):
  path.write_text(json.dumps(content))
  return str(path)


def _dead_pid():
  proc = subprocess.Popen(['true'])
  proc.wait()
  return proc.pid


def test_an_output_prefix_owns_its_shards(tmp_path, capsys):
  content, image_dir, _ = _small_coco(tmp_path)
  shutil.copy(os.path.join(image_dir, '2.jpg'),  # 3 images for 3 shards
              os.path.join(image_dir, '3.jpg'))
  content['images'].append(dict(content['images'][1], id=3,
                                file_name='3.jpg'))
  annotation_file = _write_json(tmp_path / 'train.json', content)
  out = tmp_path / 'out'

  def convert(*extra):
    return convert_detection.main([
        '--annotation_file', annotation_file, '--image_dir', image_dir,
        '--output_prefix', str(out / 'train'), '--num_shards=3', *extra])

  assert convert('--num_shards=2') == 0
  two = _listing(out)
  assert convert('--num_shards=3') == 2  # train-* would match five shards
  assert ('2 shard(s) of an earlier conversion to this prefix' in
          capsys.readouterr().err)
  assert _listing(out) == two
  for bad, said in (('--num_shards=10000000',
                     '--num_shards=10000000: expected 1 to'),
                    (f'--output_prefix={image_dir}/1.jpg/train',
                     '1.jpg is a file'),
                    (f'--output_prefix={image_dir}/train',
                     'the output lies inside the input --image_dir='),
                    ('--num_shards=2', 'train-00000-of-00002.tfrecord: the '
                     'file exists; pass --overwrite to replace it.')):
    assert convert(bad) == 2 and said in capsys.readouterr().err
  assert _listing(out) == two
  assert convert('--num_shards=3', '--overwrite') == 0
  assert _listing(out) == [f'train-0000{i}-of-00003.tfrecord' for i in range(3)]

  # A conversion running to the same prefix is refused; what a killed one
  # left (its lock, its temporaries) is cleaned up by the next one.
  lock = out / '.train.lock'
  lock.write_text(str(os.getpid()))
  assert convert('--num_shards=3', '--overwrite') == 2
  assert f'another conversion (pid {os.getpid()}) is writing' in (
      capsys.readouterr().err)
  dead = _dead_pid()
  lock.write_text(str(dead))
  left = out / f'.train-00000-of-00003.tfrecord.tmp-{dead}-0123abcd'
  left.write_bytes(b'half')
  alive = out / f'.train-00001-of-00003.tfrecord.tmp-{os.getpid()}-0123abcd'
  alive.write_bytes(b'being written')
  assert convert('--num_shards=3', '--overwrite') == 0
  assert not lock.exists() and not left.exists() and alive.exists()


def _descendants(pid):
  children = subprocess.run(['pgrep', '-P', str(pid)], text=True,
                            capture_output=True).stdout.split()
  return children + [d for c in children for d in _descendants(c)]


@pytest.mark.slow
def test_sigterm_stops_a_data_command_cleanly(tmp_path):
  out = tmp_path / 'world'
  proc = subprocess.Popen(
      [sys.executable, '-m', 'official_projects_backbone_reuse.data_tools.'
       'make_procedural_dataset', f'--output_dir={out}',
       '--cls_images_per_class=400'], stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 60
  writing = f'{tmp_path}/.world.tmp-*/classification/train/*/*.jpg'
  while not glob.glob(writing):
    assert time.time() < deadline and proc.poll() is None
    time.sleep(0.05)  # until it is writing images
  proc.send_signal(signal.SIGTERM)
  err = proc.stderr.read()
  assert proc.wait(timeout=60) == 143
  assert err.strip().splitlines()[-1] == (
      'error: SIGTERM: stopped; nothing was written')
  assert _listing(tmp_path) == []


@pytest.mark.slow
def test_sigterm_stops_a_parallel_conversion_and_its_workers(tiny_world,
                                                             tmp_path):
  content = _load(tiny_world.det_train_json)
  image = content['images'][0]
  # One image listed 3,000 times: long enough a conversion to stop.
  content['images'] = [dict(image, id=i) for i in range(1, 3001)]
  content['annotations'] = [
      dict(a, id=i, image_id=i) for i, a in enumerate(
          [a for a in content['annotations'] if a['image_id'] == image['id']]
          [:1] * 3000, start=1)]
  annotation_file = _write_json(tmp_path / 'many.json', content)
  out = tmp_path / 'out'
  proc = subprocess.Popen(
      [sys.executable, '-m', 'official_projects_backbone_reuse.data_tools.'
       'convert_detection', f'--annotation_file={annotation_file}',
       f'--image_dir={tiny_world.root}/detection/train/images',
       f'--output_prefix={out}/train', '--num_processes=2'],
      stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 120
  while not glob.glob(f'{out}/.train-*.tmp-*'):
    assert time.time() < deadline and proc.poll() is None
    time.sleep(0.05)  # until it is writing shards
  # multiprocessing's resource tracker, its fork server and, below that,
  # the two workers, once the server has imported the converter.
  while len(_descendants(proc.pid)) < 4:
    assert time.time() < deadline and proc.poll() is None
    time.sleep(0.05)
  time.sleep(1)  # the workers are encoding
  workers = _descendants(proc.pid)
  assert len(workers) == 4
  proc.send_signal(signal.SIGTERM)
  err = proc.stderr.read()
  assert proc.wait(timeout=60) == 143
  assert err.strip().splitlines()[-1] == (
      'error: SIGTERM: stopped; nothing was written')
  assert 'Traceback' not in err
  assert _listing(out) == []
  deadline = time.time() + 10  # the fork server sees its caller is gone
  while [pid for pid in workers if os.path.exists(f'/proc/{pid}')]:
    assert time.time() < deadline, [
        open(f'/proc/{pid}/cmdline').read() for pid in workers
        if os.path.exists(f'/proc/{pid}')]
    time.sleep(0.05)


def _digests(pattern):
  return [hashlib.sha256(open(p, 'rb').read()).hexdigest()
          for p in sorted(glob.glob(pattern))]


def test_worker_processes_write_the_same_shards(tiny_world, tmp_path):
  """As the tiny world's single-process conversion, bit for bit."""
  root = tiny_world.root
  convert_detection.convert_detection(
      tiny_world.det_train_json,
      os.path.join(root, 'detection', 'train', 'images'),
      str(tmp_path / 'det_train'), num_shards=2, num_processes=2,
      progress_stream=io.StringIO())
  convert_classification.convert_classification(
      os.path.join(root, 'classification', 'train'),
      str(tmp_path / 'cls_train'), num_shards=2, num_processes=2,
      class_names=tiny_world.class_names, progress_stream=io.StringIO())
  assert _digests(str(tmp_path / 'det_train-*')) == _digests(
      tiny_world.det_train_pattern)
  assert _digests(str(tmp_path / 'cls_train-*.tfrecord')) == _digests(
      tiny_world.cls_train_pattern)


def test_failed_shard_writing_leaves_nothing(tmp_path):
  def examples():
    yield tf.train.Example().SerializeToString()
    raise RuntimeError('decoder crashed')

  with pytest.raises(RuntimeError):
    write_tfrecord_shards(str(tmp_path / 'x'), examples(), 3, 3,
                          extra_files={str(tmp_path / 'x-labels.txt'): b'a'},
                          progress_stream=io.StringIO())
  assert _listing(tmp_path) == []
