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

"""Unsupervised proposals (`backbone-reuse-proposals`): selective search on
the images of detection TFRecords, written back as one-class boxes."""
import glob
import io

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from official.vision.dataloaders import tf_example_decoder

from official_projects_backbone_reuse.data_tools import proposals

_SMALL = proposals.Settings(min_box_size=8, min_segment_size=20)


def _scene(seed=0):
  """A noisy grey background with a red 20x30 and a blue 40x24 rectangle
  (ymin, xmin, ymax, xmax edges: (10, 12, 30, 42) and (60, 50, 100, 74))."""
  rng = np.random.default_rng(seed)
  image = np.clip(128 + rng.normal(0, 4, (128, 96, 3)), 0, 255)
  image[10:30, 12:42] = [220, 30, 30]
  image[60:100, 50:74] = [30, 40, 220]
  return image.astype(np.uint8)


def test_selective_search_finds_the_objects_and_stays_in_the_image():
  image = _scene()
  boxes = proposals.selective_search(image, _SMALL)
  assert np.array_equal(boxes, proposals.selective_search(image, _SMALL))
  assert boxes.min() >= 0
  assert np.all(boxes[:, 2] <= 128) and np.all(boxes[:, 3] <= 96)
  assert np.all(boxes[:, :2] < boxes[:, 2:])
  found = {tuple(b) for b in boxes.astype(int).tolist()}
  assert (10, 12, 30, 42) in found and (60, 50, 100, 74) in found
  # The last region is the whole image: the hierarchy merged everything.
  assert tuple(boxes[-1].astype(int)) == (0, 0, 128, 96)


def test_filter_keeps_soco_s_rule_in_order_without_duplicates():
  boxes = np.array([[0, 0, 40, 40],      # kept
                    [0, 0, 31, 60],      # under 32 px high
                    [0, 0, 33, 100],     # aspect 3.03
                    [0, 0, 90, 90],      # sqrt(area / image) 0.9
                    [10, 10, 50, 50],    # kept
                    [0, 0, 40, 40]],     # duplicate
                   np.float64)
  kept = proposals.filter_boxes(boxes, 100, 100)
  assert kept.tolist() == [[0, 0, 40, 40], [10, 10, 50, 50]]
  first = proposals.filter_boxes(boxes, 100, 100,
                                 proposals.Settings(max_proposals=1))
  assert first.tolist() == [[0, 0, 40, 40]]


def _record(image, source_id, labels=(3,)):
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, 'PNG')
  feature = {
      'image/encoded': [buffer.getvalue()], 'image/format': [b'png'],
      'image/source_id': [source_id],
      'image/height': image.shape[0], 'image/width': image.shape[1],
      'image/object/class/label': list(labels),
      'image/object/bbox/ymin': [0.1] * len(labels),
  }
  example = tf.train.Example()
  for key, value in feature.items():
    value = value if isinstance(value, list) else [value]
    target = example.features.feature[key]
    if isinstance(value[0], bytes):
      target.bytes_list.value.extend(value)
    elif isinstance(value[0], float):
      target.float_list.value.extend(value)
    else:
      target.int64_list.value.extend(value)
  return example.SerializeToString()


def _write(path, records):
  with tf.io.TFRecordWriter(str(path)) as writer:
    for record in records:
      writer.write(record)


def _args(input_pattern, prefix, processes):
  return ['--input_pattern', input_pattern, '--output_prefix', prefix,
          '--num_shards', '1', '--num_processes', str(processes),
          '--min_box_size', '8', '--min_segment_size', '20']


def test_the_command_writes_one_class_boxes_model_garden_reads(tmp_path,
                                                               capsys):
  flat = np.full((64, 64, 3), 90, np.uint8)  # one segment: the whole image
  _write(tmp_path / 'in-0.tfrecord', [_record(_scene(0), b'a'),
                                      _record(flat, b'flat')])
  _write(tmp_path / 'in-1.tfrecord', [_record(_scene(1), b'b')])
  pattern = str(tmp_path / 'in-*')
  assert proposals.main(_args(pattern, str(tmp_path / 'one/p'), 1)) == 0
  assert proposals.main(_args(pattern, str(tmp_path / 'two/p'), 2)) == 0
  summary = capsys.readouterr().out
  assert '"without_proposals": 1' in summary and '"written": 2' in summary
  one = sorted(glob.glob(str(tmp_path / 'one/p-*')))
  two = sorted(glob.glob(str(tmp_path / 'two/p-*')))
  assert open(one[0], 'rb').read() == open(two[0], 'rb').read()

  decoder = tf_example_decoder.TfExampleDecoder()
  decoded = [decoder.decode(r) for r in tf.data.TFRecordDataset(one)]
  assert [d['source_id'].numpy() for d in decoded] == [b'a', b'b']
  for d in decoded:
    assert d['groundtruth_classes'].shape[0] > 1
    assert set(d['groundtruth_classes'].numpy()) == {proposals.CLASS_ID}
    boxes = d['groundtruth_boxes'].numpy()
    assert boxes.min() >= 0 and boxes.max() <= 1
    assert not d['groundtruth_is_crowd'].numpy().any()


def test_a_record_without_an_image_is_named(tmp_path, capsys):
  _write(tmp_path / 'in-0.tfrecord', [_record(_scene(), b'a'), b'garbage'])
  status = proposals.main(_args(str(tmp_path / 'in-*'),
                                str(tmp_path / 'out/deeper/p'), 1))
  assert status == 2
  error = capsys.readouterr().err.strip().splitlines()[-1]
  assert error.startswith('error: ') and 'in-0.tfrecord (record 1)' in error
  assert not (tmp_path / 'out').exists()  # not even an empty folder


@pytest.mark.parametrize('flag, value, expected', [
    ('--max_aspect_ratio', '0.5', 'a finite number >= 1'),
    ('--max_aspect_ratio', 'inf', 'a finite number >= 1'),
    ('--scale', '0', 'a finite number > 0'),
    ('--scale', 'nan', 'a finite number > 0'),
    ('--sigma', 'nan', 'a finite number > 0'),
    ('--sigma', '-1', 'a finite number > 0'),
    ('--min_segment_size', '0', 'an integer >= 1'),
    ('--min_box_size', '-inf', 'a finite number >= 0'),
    ('--max_relative_size', 'nan', 'a finite number in (0, 1]'),
    ('--max_relative_size', '1.5', 'a finite number in (0, 1]'),
    ('--max_proposals', '-1', 'an integer >= 0'),
    ('--num_processes', '0', 'at least 1'),
    ('--num_shards', '0', '1 to'),
])
def test_bad_settings_are_named_before_any_work(tmp_path, capsys, flag,
                                                value, expected):
  # The input does not exist: a flag refused first is checked before it.
  status = proposals.main(_args(str(tmp_path / 'in-*'),
                                str(tmp_path / 'out/p'), 1) +
                          [f'{flag}={value}'])
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 2 and len(err) == 1, err
  assert err[0].startswith(f'error: {flag}={value}: expected {expected}'), err
  assert not (tmp_path / 'out').exists()


def test_more_shards_than_records_is_refused(tmp_path, capsys):
  _write(tmp_path / 'in-0.tfrecord', [_record(_scene(), b'a')])
  status = proposals.main(_args(str(tmp_path / 'in-*'),
                                str(tmp_path / 'out/p'), 1) +
                          ['--num_shards=2'])
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 2 and err == ['error: --num_shards=2: expected at most '
                                 'the number of records, 1 (a shard would '
                                 'be empty)']
  assert not (tmp_path / 'out').exists()


def test_a_truncated_input_file_is_named(tmp_path, capsys):
  _write(tmp_path / 'in-0.tfrecord', [_record(_scene(), b'a')] * 2)
  data = (tmp_path / 'in-0.tfrecord').read_bytes()
  (tmp_path / 'in-0.tfrecord').write_bytes(data[:-20])
  status = proposals.main(_args(str(tmp_path / 'in-*'),
                                str(tmp_path / 'out/p'), 1))
  assert status == 2
  error = capsys.readouterr().err.strip().splitlines()[-1]
  assert 'in-0.tfrecord: record 1 is truncated or damaged' in error
  assert not glob.glob(str(tmp_path / 'out/*'))
