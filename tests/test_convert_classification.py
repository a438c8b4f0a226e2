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

"""backbone-reuse-convert-classification: folder-per-class images to Model
Garden's classification examples; bad input is one line and leaves
nothing (split from tests/test_data_tools.py).
"""
import json
import os
import pathlib

from PIL import Image
import pytest
import tensorflow as tf

from official_projects_backbone_reuse.data_tools import convert_classification
from official.vision.dataloaders import classification_input
from tests.test_data_tools import _records


def test_classification_round_trip(tiny_world):
  decoder = classification_input.Decoder()
  root = os.path.join(tiny_world.root, 'classification', 'train')
  expected = {f'{name}/{f}': label
              for label, name in enumerate(tiny_world.class_names)
              for f in os.listdir(os.path.join(root, name))}
  found = {}
  for record in _records(tiny_world.cls_train_pattern):
    decoded = decoder.decode(tf.constant(record))
    example = tf.train.Example.FromString(record)
    name = example.features.feature['image/filename'].bytes_list.value[0]
    found[name.decode()] = int(decoded['image/class/label'])
    image = tf.io.decode_jpeg(decoded['image/encoded'], channels=3)
    assert image.shape == (64, 64, 3)
  assert found == expected
  labels = pathlib.Path(tiny_world.cls_labels_file).read_text()
  assert labels.split() == list(tiny_world.class_names)


def test_classification_sorted_labels_and_reencoding(tmp_path, capsys):
  """PNG, WebP, BMP (any case) become JPEG; other files are counted."""
  for name, colour in (('zebra', (0, 0, 0)), ('apple', (255, 0, 0))):
    folder = tmp_path / 'root' / name
    folder.mkdir(parents=True)
    for image_name in ('a.png', 'b.webp', 'c.BMP'):
      Image.new('RGB', (8, 6), colour).save(folder / image_name)
    (folder / 'notes.txt').write_text('not an image')
  prefix = str(tmp_path / 'out' / 'cls')
  assert convert_classification.main([
      '--image_root', str(tmp_path / 'root'), '--output_prefix', prefix,
      '--num_shards', '1']) == 0
  captured = capsys.readouterr()
  summary = json.loads(captured.out)
  assert (summary['images'], summary['skipped_files']) == (6, 2)
  assert summary['first_skipped_files'] == [
      str(tmp_path / 'root' / name / 'notes.txt') for name in ('apple', 'zebra')]
  assert 'warning: skipped 2 file(s) that are not images' in captured.err
  for record in _records(prefix + '-*.tfrecord'):
    feature = tf.train.Example.FromString(record).features.feature
    encoded = feature['image/encoded'].bytes_list.value[0]
    assert encoded[:2] == b'\xff\xd8'
    assert feature['image/format'].bytes_list.value[0] == b'jpeg'
    label = feature['image/class/label'].int64_list.value[0]
    red = tf.io.decode_jpeg(encoded).numpy()[..., 0].mean()
    assert label == (0 if red > 128 else 1)  # apple < zebra
  assert pathlib.Path(prefix + '-labels.txt').read_text() == 'apple\nzebra\n'


def _classification_case(tmp_path, case):
  """A broken image tree and the path its error must name."""
  root = tmp_path / 'root'
  if case == 'missing_root':
    return root, root
  (root / 'good').mkdir(parents=True)
  Image.new('RGB', (8, 8)).save(root / 'good' / 'a.jpg')
  if case == 'no_class_folders':
    (tmp_path / 'flat').mkdir()
    (tmp_path / 'flat' / 'a.jpg').write_bytes(b'x')
    return tmp_path / 'flat', tmp_path / 'flat'
  if case == 'empty_class':
    (root / 'empty').mkdir()
    return root, root / 'empty'
  (root / 'good' / 'b.jpg').write_bytes(b'not an image')
  return root, root / 'good' / 'b.jpg'


@pytest.mark.parametrize(
    'case', ['missing_root', 'no_class_folders', 'empty_class', 'corrupt'])
def test_bad_classification_input_fails_cleanly(tmp_path, capsys, case):
  root, expected = _classification_case(tmp_path, case)
  out = tmp_path / 'out'
  status = convert_classification.main([
      '--image_root', str(root), '--output_prefix', str(out / 'cls'),
      '--num_shards', '1'])
  err = capsys.readouterr().err
  assert status == 2 and err.startswith(f'error: {expected}: ')
  assert not out.exists()
