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

"""backbone-reuse-show-inputs: the training samples a detector gets, drawn
with their targets; RetinaNet's boxes decoded back from its anchor targets;
Mask R-CNN's mask crops pasted back into their boxes."""
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from official_projects_backbone_reuse.analysis import input_samples
from official_projects_backbone_reuse.configs import recipes as recipes_lib

LVIS_MASKRCNN = (
    'backbone_reuse_maskrcnn:'
    + recipes_lib.experiment_file('small/lvis_maskrcnn.yaml') + '+'
    + recipes_lib.experiment_file('augment/copy_paste.yaml'))


def _override(tiny_world, input_path=None):
  return (f'task.train_data.input_path={input_path or tiny_world.det_train_pattern},'
          f'task.annotation_file={tiny_world.det_val_json},'
          'task.model.input_size=[128,128,3]')


def test_a_grid_of_copy_paste_samples_same_for_a_seed(tiny_world, tmp_path,
                                                      capsys):
  output = tmp_path / 'samples' / 'grid.png'
  args = [LVIS_MASKRCNN, f'--params_override={_override(tiny_world)}',
          f'--output={output}', '--images=3', '--columns=2', '--seed=5']
  assert input_samples.main(args) == 0
  assert capsys.readouterr().out.startswith(f'{output}: 3 training samples')
  picture = np.asarray(Image.open(output))
  assert picture.shape == (128 * 2 + 4, 128 * 2 + 4, 3)
  assert (picture[128 + 4:, 128 + 4:] == 255).all()  # the empty fourth cell
  first = output.read_bytes()
  assert input_samples.main(args) == 2  # not over its output unasked
  assert capsys.readouterr().err == (
      f'error: --output={output}: the file exists; pass --overwrite to '
      'replace it.\n')
  assert input_samples.main(args + ['--overwrite']) == 0
  assert output.read_bytes() == first


def test_mask_rcnn_samples_carry_their_masks_inside_their_boxes(tiny_world):
  from tests import reuse_helpers as h
  params = h.set_data(h.maskrcnn_config(), tiny_world.det_train_pattern)
  params.task.train_data.copy_paste.enabled = True
  drawn = input_samples.samples(params, 2, seed=1)
  assert len(drawn) == 2
  for sample in drawn:
    assert sample['image'].shape == (128, 128, 3)
    assert sample['image'].dtype == np.uint8
    assert len(sample['classes']) and (sample['classes'] > 0).all()
    assert len(sample['masks']) == len(sample['boxes'])
    for mask, (y0, x0, y1, x1) in zip(sample['masks'], sample['boxes']):
      rows, cols = np.nonzero(mask)
      assert len(rows)
      assert rows.min() >= y0 - 1 and rows.max() < y1 + 1
      assert cols.min() >= x0 - 1 and cols.max() < x1 + 1


def test_pasted_masks_fill_their_boxes_as_cropped():
  crops = np.zeros((2, 28, 28), np.float32)
  crops[0] = 1.0
  crops[1, :, :14] = 1.0  # left half
  boxes = np.array([[10, 20, 30, 50], [100, 110, 140, 130]], np.float32)
  masks = input_samples._pasted_masks(crops, boxes, 128, 128, 1.0)
  expected = np.zeros((2, 128, 128), np.uint8)
  expected[0, 10:30, 20:50] = 1
  expected[1, 100:128, 110:120] = 1  # clipped at the image's bottom edge
  np.testing.assert_array_equal(masks, expected)


def test_retinanet_boxes_are_decoded_back_from_the_anchor_targets():
  from official.vision.dataloaders import retinanet_input
  parser = retinanet_input.Parser(
      output_size=[128, 128], min_level=3, max_level=5, num_scales=3,
      aspect_ratios=[0.5, 1.0, 2.0], anchor_size=4.0)
  boxes = np.array([[0.1, 0.1, 0.5, 0.3], [0.4, 0.5, 0.9, 0.95],
                    [0.45, 0.05, 0.6, 0.2]], np.float32)
  decoded = {
      'image': tf.zeros([256, 256, 3], tf.uint8), 'source_id': '1',
      'height': 256, 'width': 256,
      'groundtruth_classes': tf.constant([3, 7, 3], tf.int64),
      'groundtruth_is_crowd': tf.zeros([3], tf.bool),
      'groundtruth_area': tf.ones([3]),
      'groundtruth_boxes': tf.constant(boxes)}
  _, labels = parser.parse_fn(is_training=True)(decoded)  # no jitter set
  labels = tf.nest.map_structure(lambda t: t.numpy()[None], labels)
  found = input_samples._retinanet_targets(labels, 0)
  order = np.lexsort(found['boxes'].T[::-1])
  np.testing.assert_allclose(found['boxes'][order],
                             boxes[np.lexsort(boxes.T[::-1])] * 128,
                             atol=1e-3)
  assert sorted(found['classes']) == [3, 3, 7]


@pytest.mark.parametrize('extra, message', [
    (['--images=0'], '--images=0: expected at least 1.'),
    (['--input_path'], "task.train_data.input_path: '{}' matches no file."),
])
def test_bad_input_is_one_line(tiny_world, tmp_path, capsys, extra, message):
  output = tmp_path / 'grid.png'
  missing = str(tmp_path / 'absent-*')
  override = _override(tiny_world, missing if '--input_path' in extra
                       else None)
  args = [LVIS_MASKRCNN, f'--params_override={override}',
          f'--output={output}'] + [e for e in extra if e != '--input_path']
  assert input_samples.main(args) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert err == [f'error: {message.format(missing)}']
  assert not os.path.exists(output)
