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

"""backbone-reuse-convert-detection: Model Garden's examples of a COCO-format
set, the box rule, and every bad input refused in one line, leaving
nothing (split from tests/test_data_tools.py, whose `_small_coco` set the
tests break).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils
import pytest
import tensorflow as tf

from official_projects_backbone_reuse.data_tools import cli
from official_projects_backbone_reuse.data_tools import commands
from official_projects_backbone_reuse.data_tools import convert_classification
from official_projects_backbone_reuse.data_tools import convert_detection
from official_projects_backbone_reuse.data_tools.cli import DataError
from official.vision.data import create_coco_tf_record
from official.vision.dataloaders import tf_example_decoder
from tests.test_data_tools import _descendants
from tests.test_data_tools import _listing
from tests.test_data_tools import _load
from tests.test_data_tools import _records
from tests.test_data_tools import _small_coco
from tests.test_data_tools import _write_json


def test_detection_round_trip(tiny_world):
  decoder = tf_example_decoder.TfExampleDecoder(include_mask=True)
  content = _load(tiny_world.det_val_json)
  images = {str(i['id']): i for i in content['images']}
  seen = set()
  for record in _records(tiny_world.det_val_pattern):
    decoded = decoder.decode(tf.constant(record))
    source_id = decoded['source_id'].numpy().decode()
    image = images[source_id]
    seen.add(source_id)
    anns = [a for a in content['annotations']
            if str(a['image_id']) == source_id]
    height, width = image['height'], image['width']
    assert decoded['image'].shape == (height, width, 3)
    boxes = decoded['groundtruth_boxes'].numpy() * ([height, width] * 2)
    expected = [[a['bbox'][1], a['bbox'][0], a['bbox'][1] + a['bbox'][3],
                 a['bbox'][0] + a['bbox'][2]] for a in anns]
    np.testing.assert_allclose(boxes, expected, atol=1e-3)
    assert decoded['groundtruth_classes'].numpy().tolist() == [
        a['category_id'] for a in anns]
    mask_areas = decoded['groundtruth_instance_masks'].numpy().sum(axis=(1, 2))
    np.testing.assert_allclose(mask_areas, [a['area'] for a in anns],
                               rtol=0.01)
  assert seen == set(images)


def _uncompressed(binary):
  """`binary`'s RLE with counts as run lengths (column-major, from 0s)."""
  flat = np.asfortranarray(binary).reshape(-1, order='F')
  changes = np.flatnonzero(np.diff(flat)) + 1
  ends = np.concatenate([changes, [flat.size]])
  counts = np.diff(np.concatenate([[0], ends])).tolist()
  if flat[0]:
    counts = [0] + counts
  return {'size': list(binary.shape), 'counts': counts}


def test_examples_are_model_gardens_with_the_same_mask_pixels(tmp_path):
  # Model Garden's maker, masks included, against ours (masks deflated
  # otherwise): every feature but the mask bytes equal, the mask pixels
  # equal, for each form a segmentation takes.
  content, image_dir, ann = _small_coco(tmp_path)
  binary = np.zeros((30, 40), np.uint8)
  binary[4:20, 7:15] = 1
  binary[0:3, 30:40] = 1
  rle = _uncompressed(binary)
  compressed = mask_utils.encode(np.asfortranarray(binary))
  compressed['counts'] = compressed['counts'].decode()
  polygons = ann(13, 1, [1, 1, 30, 20])
  polygons['segmentation'].append([20, 15, 30, 15, 25, 25])
  forms = [  # (ours, as Model Garden's maker takes it)
      (polygons, polygons),
      (dict(polygons, segmentation=compressed), dict(polygons,
                                                     segmentation=[rle])),
      (dict(polygons, segmentation=rle), dict(polygons, segmentation=[rle])),
      (dict(polygons, iscrowd=1, segmentation=compressed),
       dict(polygons, iscrowd=1, segmentation=rle)),
      (dict(polygons, iscrowd=1, segmentation=rle),
       dict(polygons, iscrowd=1, segmentation=rle))]
  image, id_to_name = content['images'][0], {1: 'thing'}
  ours = convert_detection.create_example(
      image, image_dir, image['file_name'], [o for o, _ in forms], id_to_name,
      include_masks=True).features.feature
  theirs, _ = create_coco_tf_record.create_tf_example(
      image, [image_dir], bbox_annotations=[t for _, t in forms],
      id_to_name_map=id_to_name, include_masks=True)
  theirs = theirs.features.feature
  assert sorted(ours) == sorted(theirs)
  for key in theirs:
    if key != 'image/object/mask':
      assert ours[key] == theirs[key], key
  pixels = [[tf.io.decode_png(png).numpy() for png in f[
      'image/object/mask'].bytes_list.value] for f in (ours, theirs)]
  assert len(pixels[0]) == len(forms)
  for mine, model_gardens in zip(*pixels):
    np.testing.assert_array_equal(mine, model_gardens)
  assert pixels[0][0].max() == 1 and pixels[0][1][..., 0].sum() == binary.sum()


def _drop_top_key(_image_dir, content):
  return {k: v for k, v in content.items() if k != 'annotations'}


def _drop_height(_image_dir, content):
  first = {k: v for k, v in content['images'][0].items() if k != 'height'}
  return dict(content, images=[first, content['images'][1]])


def _remove_image(image_dir, content):
  os.remove(os.path.join(image_dir, '2.jpg'))
  return content


def _corrupt_image(image_dir, content):
  with open(os.path.join(image_dir, '2.jpg'), 'r+b') as f:
    f.truncate(60)
  return content


def _wrong_size(_image_dir, content):
  return dict(content, images=[dict(content['images'][0], width=41),
                               content['images'][1]])


def _change_last_annotation(**changes):
  def change(_image_dir, content):
    *kept, last = content['annotations']
    return dict(content, annotations=kept + [dict(last, **changes)])
  return change


def _change_categories(categories):
  def change(_image_dir, content):
    return dict(content, categories=categories)
  return change


def _declare_size(path, side):
  """The JPEG's header then declares side x side pixels (a small file)."""
  data = bytearray(open(path, 'rb').read())
  sof = data.index(b'\xff\xc0')  # baseline frame: length, precision, h, w
  data[sof + 5:sof + 9] = side.to_bytes(2, 'big') * 2
  open(path, 'wb').write(bytes(data))


def _declared_size(side):
  def change(image_dir, content):
    _declare_size(os.path.join(image_dir, '2.jpg'), side)
    return content
  return change


def _file_name_outside(absolute):
  """Image 2 names a real JPEG above --image_dir (relative or absolute)."""
  def change(image_dir, content):
    outside = os.path.join(os.path.dirname(image_dir), 'outside.jpg')
    shutil.copy(os.path.join(image_dir, '2.jpg'), outside)
    name = outside if absolute else '../outside.jpg'
    return dict(content, images=[content['images'][0],
                                 dict(content['images'][1], file_name=name)])
  return change


def _annotated_as_viewed(image_dir, content):
  """Image 2 is stored 40x30 with EXIF orientation 6 (viewed 30x40), and
  the JSON gives the viewed size, as an annotation tool that applies EXIF
  would: its boxes are not in the stored layout, which the boxes of COCO
  and of these converters are."""
  exif = Image.Exif()
  exif[0x0112] = 6
  Image.new('RGB', (40, 30)).save(os.path.join(image_dir, '2.jpg'),
                                  exif=exif.tobytes())
  return dict(content, images=[content['images'][0], dict(
      content['images'][1], width=30, height=40)])


BAD_DETECTION_INPUTS = {  # case: (how to break the input, text in the error)
    'missing_file': (None, ['missing.json', 'not found']),
    'not_json': ('text', ['train.json', 'JSON']),
    'missing_top_key': (_drop_top_key, ['train.json', "'annotations'"]),
    'missing_record_key': (_drop_height,
                           ['train.json', 'images[0]', "'height'"]),
    'missing_image': (_remove_image, ['2.jpg', 'not found']),
    'corrupt_image': (_corrupt_image, ['2.jpg', 'cannot decode']),
    'wrong_size': (_wrong_size, ['1.jpg', '41x30', '40x30']),
    'size_as_viewed': (_annotated_as_viewed, [
        '2.jpg', 'gives width x height 30x40', 'stores 40x30',
        'EXIF orientation 6', 'stored layout', 'exif_transpose']),
    'unknown_category': (_change_last_annotation(category_id=7),
                         ['annotation id 12', 'category_id 7']),
    'unknown_image': (_change_last_annotation(image_id=99),
                      ['annotation id 12', 'image_id 99']),
    'nan_polygon': (_change_last_annotation(
        segmentation=[[float('nan'), 10, 28, 10, 28, 18]]),
                    ['annotation id 12', 'finite numbers', 'nan']),
    'far_polygon': (_change_last_annotation(
        segmentation=[[1e9, 10, 28, 10, 28, 18]]),
                    ['annotation id 12', 'more than one image size']),
    'bool_in_bbox': (_change_last_annotation(bbox=[True, 10, 8, 8]),
                     ['annotation id 12', 'bbox', 'True']),
    'duplicate_annotation_id': (_change_last_annotation(id=11),
                                ['annotations: id 11 appears twice']),
    'string_image_id': (_change_last_annotation(id='12'),
                        ["annotations: expected an integer id, found '12'"]),
    'background_category': (_change_categories(
        [{'id': 0, 'name': 'bg'}, {'id': 1, 'name': 'thing'}]),
                            ['categories: id 0', 'background']),
    'no_images': (lambda _, c: dict(c, images=[], annotations=[]),
                  ["train.json: 'images' is empty"]),
    'duplicate_category': (_change_categories(
        [{'id': 1, 'name': 'a'}, {'id': 1, 'name': 'b'}]),
                           ['categories: id 1 appears twice']),
    'huge_size_in_json': (lambda _, c: dict(c, images=[
        dict(c['images'][0], width=30000, height=30000), c['images'][1]]),
                          ['image id 1', '30000x30000', 'limit']),
    'huge_size_in_file': (_declared_size(9000),  # under PIL's own limit
                          ['2.jpg', 'declares 9000x9000', 'limit']),
    'file_name_above_root': (_file_name_outside(False), [
        'image id 2', "'../outside.jpg' leads outside the image folder"]),
    'absolute_file_name': (_file_name_outside(True), [
        'image id 2', 'outside.jpg', 'leads outside the image folder']),
    'bomb_in_file': (_declared_size(30000),  # over PIL's: it refuses first
                     ['2.jpg', '900000000 pixels', 'limit']),
    'string_in_bbox': (_change_last_annotation(bbox=['a', 1, 2, 3]),
                       ['annotation id 12', 'bbox', "['a', 1, 2, 3]"]),
    'string_category_id': (_change_last_annotation(category_id='x'),
                           ['annotation id 12', "category_id 'x'"]),
    'list_image_id': (_change_last_annotation(image_id=[2]),
                      ['annotation id 12', 'image_id [2]']),
    'string_area': (_change_last_annotation(area='big'),
                    ['annotation id 12', "'area'", "found 'big'"]),
    'string_iscrowd': (_change_last_annotation(iscrowd='0'),
                       ['annotation id 12', "'iscrowd'", "found '0'"]),
    'string_width': (lambda _, c: dict(c, images=[
        dict(c['images'][0], width='40'), c['images'][1]]),
                     ['image id 1', "'width'", "found '40'"]),
    'number_category_name': (_change_categories([{'id': 1, 'name': 5}]),
                             ['categories: id 1', "'name'", 'found 5']),
    'more_shards_than_images': (lambda _, c: dict(
        c, images=c['images'][:1], annotations=c['annotations'][:1]),
                                ['--num_shards=2: expected at most the '
                                 'number of records, 1']),
}


def test_every_reader_refuses_an_image_over_the_pixel_limit(tmp_path):
  """One limit (common/images.py) for the converters and detect, checked
  from the header: the small file below declares 81 MP."""
  from official_projects_backbone_reuse.serving import detect
  folder = tmp_path / 'images' / 'thing'
  folder.mkdir(parents=True)
  big = folder / '1.jpg'
  Image.new('RGB', (40, 30)).save(big)
  _declare_size(big, 9000)
  with pytest.raises(detect.DetectError, match='declares 9000x9000'):
    detect.read_image(str(big))
  with pytest.raises(DataError, match='1.jpg: .*declares 9000x9000'):
    convert_classification.convert_classification(
        str(tmp_path / 'images'), str(tmp_path / 'out' / 'cls'), num_shards=1)
  assert _listing(tmp_path / 'out') == []


@pytest.mark.parametrize('case', sorted(BAD_DETECTION_INPUTS))
def test_bad_detection_input_fails_cleanly(tmp_path, capsys, case):
  change, expected = BAD_DETECTION_INPUTS[case]
  content, image_dir, _ = _small_coco(tmp_path)
  annotation_file = str(tmp_path / 'train.json')
  if change is None:
    annotation_file = str(tmp_path / 'missing.json')
  elif change == 'text':
    (tmp_path / 'train.json').write_text('{"images": [')
  else:
    _write_json(tmp_path / 'train.json', change(image_dir, content))
  out = tmp_path / 'out'
  status = convert_detection.main([
      '--annotation_file', annotation_file, '--image_dir', image_dir,
      '--output_prefix', str(out / 'train'), '--num_shards', '2'])
  err = capsys.readouterr().err
  assert status == 2 and err.startswith('error: ')
  assert all(text in err for text in expected), err
  assert not out.exists()  # not even an empty folder
  assert not [f for f in _listing(image_dir) if '.tmp' in f]


# Inputs that once ran away with memory (an 18 GB rasterisation of a NaN
# polygon) or would (image-size bombs), converted under a memory limit so
# that a regression fails here instead of taking the machine down.
MEMORY_CASES = ('nan_polygon', 'far_polygon', 'huge_size_in_json',
                'huge_size_in_file', 'bomb_in_file')
_UNDER_LIMIT = """
import json, resource, sys
limit = 4 << 30  # bytes of address space: TensorFlow's import needs ~3 GB
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from official_projects_backbone_reuse.data_tools import convert_detection
print(json.dumps([convert_detection.main(argv)
                  for argv in json.loads(sys.argv[1])]))
"""


@pytest.mark.slow
def test_memory_sensitive_inputs_end_cleanly_under_a_memory_limit(tmp_path):
  argvs, outs = [], []
  for case in MEMORY_CASES:
    change, _ = BAD_DETECTION_INPUTS[case]
    case_dir = tmp_path / case
    case_dir.mkdir()
    content, image_dir, _ = _small_coco(case_dir)
    out = case_dir / 'out'
    outs.append(out)
    argvs.append(['--annotation_file', _write_json(
        case_dir / 'train.json', change(image_dir, content)), '--image_dir',
                  image_dir, '--output_prefix', str(out / 'train'),
                  '--num_shards=1'])  # two images: the default 4 is refused
  proc = subprocess.run([sys.executable, '-c', _UNDER_LIMIT,
                         json.dumps(argvs)], capture_output=True, text=True,
                        timeout=300)
  assert proc.returncode == 0, proc.stderr[-2000:]
  assert json.loads(proc.stdout.strip().splitlines()[-1]) == [2] * len(
      MEMORY_CASES)
  errors = [l for l in proc.stderr.splitlines() if l.startswith('error: ')]
  assert len(errors) == len(MEMORY_CASES), proc.stderr[-2000:]
  for case, error in zip(MEMORY_CASES, errors):
    assert all(text in error for text in BAD_DETECTION_INPUTS[case][1]), error
  assert all(_listing(out) == [] for out in outs)


def test_degenerate_boxes_are_skipped_and_partial_ones_clipped(tmp_path,
                                                               capsys):
  content, image_dir, ann = _small_coco(tmp_path)
  content['annotations'] += [
      ann(20, 1, [5, 5, 0, 4]), ann(21, 1, [5, 5, 4, -1]),  # degenerate
      ann(22, 2, [45, 2, 5, 5]),  # outside the 40x30 image
      ann(23, 2, [-4, 20, 10, 15])]  # partly outside: clipped
  annotation_file = _write_json(tmp_path / 'train.json', content)
  status = convert_detection.main([
      '--annotation_file', annotation_file, '--image_dir', image_dir,
      '--output_prefix', str(tmp_path / 'out' / 'train'), '--num_shards', '1'])
  captured = capsys.readouterr()
  summary = json.loads(captured.out)
  assert status == 0
  assert (summary['annotations_written'], summary['skipped_degenerate'],
          summary['skipped_outside'], summary['clipped']) == (4, 2, 1, 1)
  assert summary['first_ids'] == {'skipped_degenerate': [20, 21],
                                  'skipped_outside': [22], 'clipped': [23]}
  assert 'warning: clipped 1 annotation(s)' in captured.err
  decoder = tf_example_decoder.TfExampleDecoder(include_mask=True)
  second = decoder.decode(tf.constant(_records(summary['output_files'][0])[1]))
  boxes = second['groundtruth_boxes'].numpy() * [30, 40, 30, 40]
  np.testing.assert_allclose(boxes[-1], [20, 0, 30, 6], atol=1e-4)
  assert _listing(tmp_path / 'out') == ['train-00000-of-00001.tfrecord']


def _fork_server_imports_tensorflow(pid):
  try:
    with open(f'/proc/{pid}/cmdline') as f:
      if 'forkserver' not in f.read():
        return False
    with open(f'/proc/{pid}/maps') as f:
      return 'libtensorflow' in f.read()
  except OSError:
    return False


def test_ctrl_c_in_a_terminal_stops_a_conversion_with_one_line(tmp_path):
  # A terminal's Ctrl-C reaches every process of the command: here while
  # its workers' fork server imports TensorFlow (the command too, or it
  # has begun converting).
  content, image_dir, _ = _small_coco(tmp_path)
  annotation_file = _write_json(tmp_path / 'train.json', content)
  out = tmp_path / 'out'
  proc = subprocess.Popen(
      [os.path.join(os.path.dirname(sys.executable),
                    'backbone-reuse-convert-detection'),
       f'--annotation_file={annotation_file}', f'--image_dir={image_dir}',
       f'--output_prefix={out}/train', '--num_shards=1',
       '--num_processes=2'],
      stderr=subprocess.PIPE, text=True, start_new_session=True)
  deadline = time.time() + 60
  while not any(_fork_server_imports_tensorflow(pid)
                for pid in _descendants(proc.pid)):
    assert time.time() < deadline and proc.poll() is None
    time.sleep(0.01)
  os.killpg(proc.pid, signal.SIGINT)
  err = proc.stderr.read()
  assert proc.wait(timeout=60) == 130
  assert err.strip().splitlines()[-1] == (
      'error: Ctrl-C: stopped; nothing was written')
  assert 'Traceback' not in err and 'KeyboardInterrupt' not in err, err
  assert not out.exists()


@pytest.mark.parametrize('argv,one', [
    ([], False), (['--num_processes', '1'], True),
    (['--num_processes=1'], True), (['--num_processes=1',
                                     '--num_processes', '3'], False),
    (['--num_processes'], False), (['--output_prefix', '1'], False)])
def test_a_command_starts_its_workers_unless_asked_for_one_process(
    argv, one, monkeypatch):
  monkeypatch.setattr(cli, 'default_processes', lambda: 2)
  assert commands.asks_one_process(argv) == one
