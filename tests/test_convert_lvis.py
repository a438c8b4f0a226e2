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

"""Tests of the LVIS v1 -> Model Garden TFRecord converter.

Run: python -m pytest tests/test_convert_lvis.py -q
"""

import glob
import json
import os
import pathlib
import sys

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
import pytest
import tensorflow as tf

from official_projects_backbone_reuse.data_tools import convert_lvis
from official.vision.dataloaders import tf_example_decoder

URL = 'http://images.cocodataset.org'
FEDERATED = {key: tf.io.VarLenFeature(tf.int64)
             for key in ('image/lvis/neg_category_ids',
                         'image/lvis/not_exhaustive_category_ids')}


def _listing(folder):
  return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def _read_shards(prefix):
  """source_id -> (decoded by Model Garden, federated ids, filename)."""
  decoder = tf_example_decoder.TfExampleDecoder(include_mask=True)
  files = sorted(glob.glob(f'{prefix}-*.tfrecord'))
  found = {}
  for record in tf.data.TFRecordDataset(files):
    decoded = decoder.decode(record)
    parsed = tf.io.parse_single_example(record, FEDERATED)
    federated = {key.split('/')[-1]: tf.sparse.to_dense(value).numpy().tolist()
                 for key, value in parsed.items()}
    filename = tf.train.Example.FromString(record.numpy()).features.feature[
        'image/filename'].bytes_list.value[0].decode()
    found[int(decoded['source_id'].numpy())] = (decoded, federated, filename)
  return found


def _expected_mask(annotation, height, width):
  segmentation = annotation['segmentation']
  if isinstance(segmentation, dict):
    segmentation = [dict(segmentation, counts=segmentation['counts'].encode())]
    return mask_utils.decode(segmentation)[..., 0]
  return mask_utils.decode(
      mask_utils.frPyObjects(segmentation, height, width)).max(axis=2)


def _check_against_json(content, found):
  """Boxes, classes, masks and federated ids of every image match the JSON."""
  assert sorted(found) == sorted(i['id'] for i in content['images'])
  for image in content['images']:
    decoded, federated, _ = found[image['id']]
    anns = [a for a in content['annotations'] if a['image_id'] == image['id']]
    height, width = image['height'], image['width']
    assert decoded['image'].shape == (height, width, 3)
    boxes = decoded['groundtruth_boxes'].numpy() * ([height, width] * 2)
    expected = [[a['bbox'][1], a['bbox'][0], a['bbox'][1] + a['bbox'][3],
                 a['bbox'][0] + a['bbox'][2]] for a in anns]
    np.testing.assert_allclose(boxes.reshape(-1, 4),
                               np.reshape(expected, (-1, 4)), atol=1e-3)
    assert decoded['groundtruth_classes'].numpy().tolist() == [
        a['category_id'] for a in anns]
    masks = decoded['groundtruth_instance_masks'].numpy()
    for mask, annotation in zip(masks, anns):
      np.testing.assert_array_equal(
          mask, _expected_mask(annotation, height, width))
    assert federated == {key: image[key] for key in convert_lvis.FEDERATED_KEYS}


def test_procedural_world_round_trip(tiny_world, tmp_path, capsys):
  prefix = str(tmp_path / 'out' / 'lvis_val')
  status = convert_lvis.main([
      '--annotation_file', tiny_world.det_val_json, '--image_root',
      os.path.join(tiny_world.root, 'detection'), '--output_prefix', prefix,
      '--num_shards', '2'])
  summary = json.loads(capsys.readouterr().out)
  content = json.loads(pathlib.Path(tiny_world.det_val_json).read_text())
  assert status == 0
  assert (summary['images'], summary['annotations_written'],
          summary['skipped_images'], summary['num_categories']) == (
              len(content['images']), len(content['annotations']), 0, 24)
  assert _listing(tmp_path / 'out') == [
      'lvis_val-00000-of-00002.tfrecord', 'lvis_val-00001-of-00002.tfrecord']
  found = _read_shards(prefix)
  _check_against_json(content, found)
  assert any(federated['neg_category_ids']
             for _, federated, _ in found.values())
  for image in content['images']:
    assert found[image['id']][2] == f'val/images/{image["file_name"]}'


def _jpeg(path, size, colour):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.new('RGB', size, colour).save(path)


def _small_lvis(tmp_path):
  """A COCO root (train2017/, val2017/), a flat folder, and LVIS-style JSON
  (no file_name, no iscrowd) with polygon and RLE masks."""
  coco, flat = tmp_path / 'coco', tmp_path / 'flat'
  _jpeg(coco / 'train2017' / '000000000009.jpg', (40, 30), (200, 30, 30))
  _jpeg(coco / 'val2017' / '000000000139.jpg', (48, 32), (30, 200, 30))
  _jpeg(flat / '000000000285.jpg', (36, 28), (30, 30, 200))
  rle_mask = np.zeros((32, 48), np.uint8, order='F')
  rle_mask[4:20, 10:30] = 1
  rle_mask[8:12, 14:18] = 0
  rle = mask_utils.encode(rle_mask)
  rle = {'size': [32, 48], 'counts': rle['counts'].decode()}

  def image(image_id, folder, size, neg, not_exhaustive):
    return {'id': image_id, 'width': size[0], 'height': size[1],
            'coco_url': f'{URL}/{folder}/{image_id:012d}.jpg',
            'neg_category_ids': neg,
            'not_exhaustive_category_ids': not_exhaustive}

  def ann(ann_id, image_id, category_id, bbox, segmentation=None):
    x, y, w, h = bbox
    return {'id': ann_id, 'image_id': image_id, 'category_id': category_id,
            'bbox': bbox, 'area': float(w * h), 'segmentation': segmentation
            or [[x, y, x + w, y, x + w, y + h, x, y + h]]}

  content = {
      'images': [image(9, 'train2017', (40, 30), [7], []),
                 image(139, 'val2017', (48, 32), [1, 1203], [7]),
                 image(285, 'val2017', (36, 28), [], [1])],
      'annotations': [ann(1, 9, 1, [2, 3, 10, 8]),
                      ann(2, 9, 1203, [20, 5, 12, 20]),
                      ann(3, 139, 7, [10, 4, 20, 16], rle),
                      ann(4, 285, 1203, [4, 4, 8, 6])],
      'categories': [{'id': i, 'name': f'c{i}', 'frequency': 'r'}
                     for i in (1, 7, 1203)],
  }
  return content, str(coco), str(flat)


def _write_json(tmp_path, content):
  path = tmp_path / 'lvis.json'
  path.write_text(json.dumps(content))
  return str(path)


def test_coco_roots_rle_and_large_category_ids(tmp_path, capsys):
  content, coco, flat = _small_lvis(tmp_path)
  prefix = str(tmp_path / 'out' / 'val')
  status = convert_lvis.main([
      '--annotation_file', _write_json(tmp_path, content), '--image_root',
      coco, '--image_root', flat, '--output_prefix', prefix,
      '--num_shards', '1'])
  summary = json.loads(capsys.readouterr().out)
  assert status == 0
  assert (summary['images'], summary['annotations_written'],
          summary['num_categories'], summary['max_category_id']) == (
              3, 4, 3, 1203)
  found = _read_shards(prefix)
  _check_against_json(content, found)
  assert {i: f for i, (_, _, f) in found.items()} == {
      9: 'train2017/000000000009.jpg', 139: 'val2017/000000000139.jpg',
      285: '000000000285.jpg'}
  assert found[139][0]['groundtruth_instance_masks'].numpy().sum() == 304


def test_missing_images_fail_or_are_skipped(tmp_path, capsys):
  content, coco, flat = _small_lvis(tmp_path)
  lost = f'{URL}/val2017/000000999999.jpg'
  content['images'].append({**content['images'][2], 'id': 999999,
                            'coco_url': lost})
  content['annotations'].append({**content['annotations'][3], 'id': 5,
                                 'image_id': 999999})
  args = ['--annotation_file', _write_json(tmp_path, content),
          '--image_root', f'{coco},{flat}', '--num_shards', '2',
          '--output_prefix', str(tmp_path / 'out' / 'val')]
  assert convert_lvis.main(args) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ')
  for text in ('1 of 4 image(s)', lost, coco, flat, '--skip_missing_images',
               '<root>/<folder>/<file>'):
    assert text in err, err
  assert _listing(tmp_path / 'out') == []

  assert convert_lvis.main(args + ['--skip_missing_images']) == 0
  captured = capsys.readouterr()
  summary = json.loads(captured.out)
  assert (summary['images'], summary['annotations_written'],
          summary['skipped_images'], summary['first_skipped_urls']) == (
              3, 4, 1, [lost])
  assert 'warning: skipped 1 image(s)' in captured.err
  assert sorted(_read_shards(str(tmp_path / 'out' / 'val'))) == [9, 139, 285]


def _set_image(index, **changes):
  def change(content):
    images = list(content['images'])
    images[index] = {k: v for k, v in {**images[index], **changes}.items()
                     if v is not None}
    return dict(content, images=images)
  return change


def _set_annotation(index, **changes):
  def change(content):
    annotations = list(content['annotations'])
    annotations[index] = dict(annotations[index], **changes)
    return dict(content, annotations=annotations)
  return change


BAD_LVIS_INPUTS = {  # case: (how to break the JSON, texts in the error)
    'unknown_neg_id': (_set_image(1, neg_category_ids=[1, 555]),
                       ['image id 139', "'neg_category_ids'",
                        'category id 555']),
    'missing_not_exhaustive': (
        _set_image(0, not_exhaustive_category_ids=None),
        ['image id 9', "missing key 'not_exhaustive_category_ids'"]),
    'missing_coco_url': (_set_image(2, coco_url=None),
                         ['lvis.json', 'images[2]', "'coco_url'"]),
    'wrong_size': (_set_image(0, width=41), ['000000000009.jpg', '41x30',
                                             '40x30']),
    'unknown_category': (_set_annotation(1, category_id=99),
                         ['annotation id 2', 'category_id 99']),
    'bad_rle': (_set_annotation(2, segmentation={'size': [32, 48],
                                                 'counts': [5, 3]}),
                ['annotation id 3', 'RLE', 'summing to 1536']),
    'lvis_v0.5_version': (lambda c: dict(c, info={'version': '0.5'}),
                          ['lvis.json', 'LVIS v0.5', "info.version '0.5'"]),
    'lvis_v0.5_images': (_set_image(0, coco_url='http://images.cocodataset'
                                    '.org/val2014/COCO_val2014_9.jpg'),
                         ['LVIS v0.5', 'COCO 2014 image urls']),
    'coco_url_above_root': (_set_image(2, coco_url=f'{URL}/../x/../2.jpg'),
                            ['image id 285', "'.' or '..' part",
                             'outside the image roots']),
    'no_annotations': (lambda c: dict(c, annotations=[]),
                       ["lvis.json: 'annotations' is empty"]),
    'not_json': ('text', ['lvis.json', 'JSON']),
    'missing_root': ('root', ['nowhere', 'image root not found']),
    'string_area': (_set_annotation(1, area='big'),
                    ['annotation id 2', "'area'", "found 'big'"]),
    'list_category_id': (_set_annotation(1, category_id=[1]),
                         ['annotation id 2', 'category_id [1]']),
    'string_width': (_set_image(0, width='640'),
                     ['image id 9', "'width'", "found '640'"]),
    'more_shards_than_images': (lambda c: dict(
        c, images=c['images'][:1], annotations=c['annotations'][:2]),
                                ['--num_shards=2: expected at most the '
                                 'number of records, 1']),
}


@pytest.mark.parametrize('case', sorted(BAD_LVIS_INPUTS))
def test_bad_lvis_input_fails_cleanly(tmp_path, capsys, case):
  change, expected = BAD_LVIS_INPUTS[case]
  content, coco, flat = _small_lvis(tmp_path)
  roots = [coco, flat]
  if change == 'text':
    annotation_file = str(tmp_path / 'lvis.json')
    pathlib.Path(annotation_file).write_text('{"images": [')
  else:
    if change == 'root':
      roots.append(str(tmp_path / 'nowhere'))
    else:
      content = change(content)
    annotation_file = _write_json(tmp_path, content)
  out = tmp_path / 'out'
  status = convert_lvis.main([
      '--annotation_file', annotation_file, '--image_root', ','.join(roots),
      '--output_prefix', str(out / 'val'), '--num_shards', '2'])
  err = capsys.readouterr().err
  assert status == 2 and err.startswith('error: ')
  assert all(text in err for text in expected), err
  assert not out.exists()  # not even an empty folder


def test_command_line_exits_with_status_2(tmp_path, capsys, monkeypatch):
  content, coco, _ = _small_lvis(tmp_path)
  monkeypatch.setattr(sys, 'argv', [
      'backbone-reuse-convert-lvis', '--annotation_file',
      _write_json(tmp_path, content), '--image_root', coco,
      '--output_prefix', str(tmp_path / 'out' / 'val')])
  # The console script is `sys.exit(main())`; main reads sys.argv.
  assert convert_lvis.main() == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and '1 of 3 image(s)' in err
  assert _listing(tmp_path / 'out') == []
