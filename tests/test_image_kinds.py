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

"""Images as real datasets hold them (issue 30.5), on tiny files made here:
each kind is stored by every converter and read by `detect` the same way
(one rule, common/images.py), and what Model Garden's decoders read back is
the RGB picture, in the stored layout the boxes refer to.

Each picture is 32x16: two 16x16 blocks of one colour (JPEG keeps flat
blocks nearly exact), compared at the block centres.
"""
import io
import json
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import images as images_lib
from official_projects_backbone_reuse.common.errors import UserError
from official_projects_backbone_reuse.data_tools import convert_classification
from official_projects_backbone_reuse.data_tools import convert_detection
from official_projects_backbone_reuse.data_tools import convert_lvis
from official_projects_backbone_reuse.data_tools import convert_voc
from official_projects_backbone_reuse.data_tools import voc_layout
from official_projects_backbone_reuse.serving import detect
from official.vision.dataloaders import classification_input
from official.vision.dataloaders import tf_example_decoder
from tests.test_data_tools import _records

LEFT, RIGHT = (200, 30, 60), (20, 180, 90)
WIDTH, HEIGHT = 32, 16
BOX = [2, 3, 10, 8]  # x, y, width, height in the stored layout


def _picture(mode='RGB'):
  pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
  pixels[:, :16], pixels[:, 16:] = LEFT, RIGHT
  return Image.fromarray(pixels).convert(mode)


def _grey(colour):
  return Image.new('RGB', (1, 1), colour).convert('L').getpixel((0, 0))


RGB = (LEFT, RIGHT)
GREY = tuple((_grey(c),) * 3 for c in RGB)


def _saver(mode='RGB', file_format='JPEG', **options):
  def save(path):
    picture = _picture()
    # An exact palette of the two colours (not Pillow's default web one).
    picture = (picture.quantize(colors=2) if mode == 'P' else
               picture.convert(mode))
    picture.save(path, format=file_format, **options)
  return save


def _save_rgba(path):
  picture = _picture('RGBA')
  picture.putalpha(100)  # dropped, as tf.io.decode_image(channels=3) does
  picture.save(path, format='PNG')


def _save_16bit_grey(path):
  # High bytes 200 and 30: 8-bit is value >> 8 (TensorFlow's
  # convert_image_dtype); Pillow's own convert would clip both to 255.
  values = np.zeros((HEIGHT, WIDTH), np.uint16)
  values[:, :16], values[:, 16:] = 200 * 256 + 240, 30 * 256 + 17
  Image.fromarray(values).save(path, format='PNG')


def _save_exif_rotated(path):
  exif = Image.Exif()
  exif[0x0112] = 6  # view rotated 90 degrees clockwise; stored 32x16
  _picture().save(path, format='JPEG', quality=95, exif=exif.tobytes())


# kind: (file name, writer, block colours, whether the bytes are kept)
KINDS = {
    'progressive_jpeg': ('a.jpg', _saver(quality=95, progressive=True), RGB,
                         True),
    'grey_jpeg': ('a.jpg', _saver('L', quality=95), GREY, True),
    'cmyk_jpeg': ('a.jpg', _saver('CMYK', quality=95), RGB, False),
    'grey_png': ('a.png', _saver('L', 'PNG'), GREY, False),
    'palette_png': ('a.png', _saver('P', 'PNG'), RGB, False),
    'rgba_png': ('a.png', _save_rgba, RGB, False),
    'grey_16bit_png': ('a.png', _save_16bit_grey,
                       ((200,) * 3, (30,) * 3), False),
    'gif': ('a.gif', _saver('P', 'GIF'), RGB, False),
    'png_named_jpg': ('a.jpg', _saver(file_format='PNG'), RGB, False),
    'jpeg_named_png': ('a.png', _saver(quality=95), RGB, True),
    'exif_rotated_jpeg': ('a.jpg', _save_exif_rotated, RGB, True),
}


def _check_pixels(pixels, colours):
  """The stored layout (not the EXIF view) and the block colours."""
  assert pixels.shape == (HEIGHT, WIDTH, 3)
  np.testing.assert_allclose(pixels[8, [8, 24]].astype(int), colours,
                             atol=4)


def _coco(file_name, width=WIDTH, height=HEIGHT):
  x, y, w, h = BOX
  return {'images': [{'id': 1, 'file_name': file_name, 'width': width,
                      'height': height}],
          'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1,
                           'bbox': BOX, 'area': float(w * h), 'iscrowd': 0,
                           'segmentation': [[x, y, x + w, y, x + w, y + h,
                                             x, y + h]]}],
          'categories': [{'id': 1, 'name': 'thing'}]}


def _convert_detection(tmp_path, image_dir, file_name, **size):
  annotation_file = tmp_path / 'train.json'
  annotation_file.write_text(json.dumps(_coco(file_name, **size)))
  prefix = str(tmp_path / 'out' / 'det')
  status = convert_detection.main([
      '--annotation_file', str(annotation_file), '--image_dir',
      str(image_dir), '--output_prefix', prefix, '--num_shards', '1',
      '--num_processes', '1'])
  return status, prefix


def _convert_classification(tmp_path, image_root):
  prefix = str(tmp_path / 'out' / 'cls')
  status = convert_classification.main([
      '--image_root', str(image_root), '--output_prefix', prefix,
      '--num_shards', '1', '--num_processes', '1'])
  return status, prefix


def _encoded(prefix):
  (record,) = _records(prefix + '-*.tfrecord')
  feature = tf.train.Example.FromString(record).features.feature
  return record, feature['image/encoded'].bytes_list.value[0]


@pytest.mark.parametrize('kind', sorted(KINDS))
def test_every_reader_sees_the_same_rgb_pixels(tmp_path, capsys, kind):
  file_name, write, colours, kept = KINDS[kind]
  root = tmp_path / 'images'
  folder = root / 'thing'
  folder.mkdir(parents=True)
  path = folder / file_name
  write(path)

  status, prefix = _convert_detection(tmp_path, folder, file_name)
  assert status == 0, capsys.readouterr().err
  record, stored = _encoded(prefix)
  assert stored[:2] == b'\xff\xd8'  # always a JPEG: the rule is one format
  assert (stored == path.read_bytes()) == kept
  decoded = tf_example_decoder.TfExampleDecoder(include_mask=True).decode(
      tf.constant(record))
  _check_pixels(decoded['image'].numpy(), colours)
  x, y, w, h = BOX  # the boxes are where the annotation put them
  np.testing.assert_allclose(
      decoded['groundtruth_boxes'].numpy() * ([HEIGHT, WIDTH] * 2),
      [[y, x, y + h, x + w]], atol=1e-4)

  status, prefix = _convert_classification(tmp_path, root)
  assert status == 0, capsys.readouterr().err
  record, stored_cls = _encoded(prefix)
  assert stored_cls == stored  # the same rule, in the same place
  encoded = classification_input.Decoder().decode(
      tf.constant(record))['image/encoded']
  # The classification parser reads JPEG only (decode_and_crop_jpeg).
  _check_pixels(tf.io.decode_jpeg(encoded, channels=3).numpy(), colours)

  _check_pixels(detect.read_image(str(path)), colours)


def test_voc_and_lvis_store_what_convert_detection_stores(tmp_path, capsys):
  """VOC and LVIS use convert_detection's examples: a 16-bit PNG and a
  CMYK JPEG named .jpg, as VOC's JPEGImages/ and COCO's folders name
  every image, are stored as the COCO converter stores them."""
  for kind in ('grey_16bit_png', 'cmyk_jpeg'):
    case = tmp_path / kind
    images = case / 'images'
    images.mkdir(parents=True)
    KINDS[kind][1](images / '000000000001.jpg')
    status, prefix = _convert_detection(case, images, '000000000001.jpg')
    assert status == 0, capsys.readouterr().err
    _, expected = _encoded(prefix)

    voc_layout.write_voc_layout(str(case / 'train.json'), str(images),
                                str(case / 'voc' / 'VOC2007'), 'test')
    summary = convert_voc.convert_voc(
        str(case / 'voc'), [('2007', 'test')], str(case / 'voc_out' / 'v'),
        num_shards=1, class_names=('thing',), progress_stream=io.StringIO())
    assert _encoded(str(case / 'voc_out' / 'v'))[1] == expected, summary

    lvis = _coco('unused')
    lvis['images'][0]['coco_url'] = 'http://x/val2017/000000000001.jpg'
    lvis['images'][0].update(neg_category_ids=[],
                             not_exhaustive_category_ids=[])
    lvis['categories'][0]['frequency'] = 'f'
    del lvis['images'][0]['file_name']
    (case / 'lvis.json').write_text(json.dumps(lvis))
    os.makedirs(case / 'coco')
    os.rename(images, case / 'coco' / 'val2017')
    convert_lvis.convert_lvis(str(case / 'lvis.json'), [str(case / 'coco')],
                              str(case / 'lvis_out' / 'l'), num_shards=1,
                              progress_stream=io.StringIO())
    assert _encoded(str(case / 'lvis_out' / 'l'))[1] == expected


def _save_truncated(path):
  _picture().save(path, format='JPEG', quality=95)
  content = path.read_bytes()
  path.write_bytes(content[:-40])  # the end of the scan is missing


def _save_array(array):
  def save(path):
    Image.fromarray(array).save(path, format='TIFF')
  return save


def test_the_converters_check_refuses_a_damaged_jpeg_as_a_full_decode_does():
  """stored_jpeg decodes a kept JPEG at 1/8 scale to check it: a damaged
  file (a flipped byte, a cut, zeroed bytes) must fail exactly when
  decoding all its pixels fails."""
  rng = np.random.default_rng(0)
  buffer = io.BytesIO()
  Image.fromarray(rng.integers(0, 256, (96, 128, 3), np.uint8)).save(
      buffer, format='JPEG', quality=90, progressive=False)
  content = buffer.getvalue()

  def fails(check, data):
    try:
      check(data)
    except (OSError, ValueError, SyntaxError):
      return True
    return False

  def full_decode(data):
    with Image.open(io.BytesIO(data)) as image:
      image.load()

  outcomes = set()
  for _ in range(60):
    damaged = bytearray(content)
    at = int(rng.integers(len(content)))
    kind = int(rng.integers(3))
    if kind == 0:
      damaged[at] ^= 0xFF
    elif kind == 1:
      damaged = damaged[:at]
    else:
      damaged[at:at + 40] = bytes(len(damaged[at:at + 40]))
    full = fails(full_decode, bytes(damaged))
    assert fails(images_lib.stored_jpeg, bytes(damaged)) == full, (kind, at)
    outcomes.add(full)
  assert outcomes == {True, False}  # both kinds of damage were drawn


# kind: (file name, writer, the words of its one-line error)
BAD_IMAGES = {
    'text_named_jpg': ('a.jpg', lambda p: p.write_text('not an image'),
                       'no image format Pillow reads'),
    'truncated_jpeg': ('a.jpg', _save_truncated, 'truncated'),
    'float_tiff': ('a.tif', _save_array(np.zeros((HEIGHT, WIDTH),
                                                 np.float32)),
                   '32-bit floating-point pixels (mode F)'),
    'int32_tiff': ('a.tif', _save_array(np.zeros((HEIGHT, WIDTH), np.int32)),
                   '32-bit integer pixels (mode I)'),
}


@pytest.mark.parametrize('kind', sorted(BAD_IMAGES))
def test_every_reader_refuses_a_bad_image_naming_it(tmp_path, capsys, kind):
  file_name, write, words = BAD_IMAGES[kind]
  root = tmp_path / 'images'
  folder = root / 'thing'
  folder.mkdir(parents=True)
  path = folder / file_name
  write(path)
  for convert in (lambda: _convert_detection(tmp_path, folder, file_name),
                  lambda: _convert_classification(tmp_path, root)):
    status, _ = convert()
    err = capsys.readouterr().err
    assert status == 2 and err.startswith(f'error: {path}: '), err
    assert words in err and err.count('\n') == 1, err
    assert not (tmp_path / 'out').exists()

  export = tmp_path / 'export'  # never loaded: the image is read first
  export.mkdir()
  (export / 'saved_model.pb').write_bytes(b'not a SavedModel')
  (export / 'params.yaml').write_text('task: {}\n')
  with pytest.raises(UserError) as e:
    detect.run_cli(str(export), [str(path)], str(tmp_path / 'out'), 0.5,
                   None)
  line = errors.one_line(e.value)
  assert line.startswith(f'--image {path}: ') and words in line, line
  assert not (tmp_path / 'out').exists()


def test_detect_says_it_ignores_exif_orientation(tmp_path, capsys):
  """Boxes and drawings are in the stored layout, as the converters store
  images and as COCO's boxes are; detect says so for a tagged image."""
  path = tmp_path / 'a.jpg'
  _save_exif_rotated(path)
  export = tmp_path / 'export'
  export.mkdir()
  (export / 'saved_model.pb').write_bytes(b'not a SavedModel')
  (export / 'params.yaml').write_text('task: {}\n')
  with pytest.raises(UserError, match='the export is damaged'):
    detect.run_cli(str(export), [str(path)], str(tmp_path / 'out'), 0.5,
                   None)
  assert (f'note: {path}: EXIF orientation 6 is not applied: boxes are in '
          f'the stored {WIDTH}x{HEIGHT} pixel layout') in (
              capsys.readouterr().err)
