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

"""Copy-Paste's compositing on hand-made objects: boxes tight around what
is left of each mask, occluded objects dropped by the per-object rule,
pasted objects carried, every empty case, and the choice of objects
deterministic for a seed."""
import numpy as np
import pytest
import tensorflow as tf

from official_projects_backbone_reuse.dataloaders import copy_paste

SIZE = 40


def _objects(rects, classes, colour):
  """Rectangles [y0, x0, y1, x1) as masks and boxes on a plain image."""
  masks = np.zeros((len(rects), SIZE, SIZE), np.float32)
  for mask, (y0, x0, y1, x1) in zip(masks, rects):
    mask[y0:y1, x0:x1] = 1
  return {'image': tf.fill([SIZE, SIZE, 3], tf.constant(colour, tf.uint8)),
          'boxes': tf.constant(np.reshape(rects, (-1, 4)), tf.float32),
          'classes': tf.constant(classes, tf.int32),
          'masks': tf.constant(masks)}


def _paste(destination, source, chosen=None, **kwargs):
  if chosen is None:
    chosen = [True] * len(source['classes'])
  result = copy_paste.paste(destination, source,
                            tf.constant(chosen, tf.bool), **kwargs)
  return {k: v.numpy() for k, v in result.items()}


def test_tight_boxes():
  masks = np.zeros((2, 10, 12), np.float32)
  masks[0, 2:5, 3:7] = 1
  masks[0, 8, 11] = 1  # a lone pixel in the corner widens the box
  np.testing.assert_array_equal(copy_paste.tight_boxes(masks).numpy(),
                                [[2, 3, 9, 12], [0, 0, 0, 0]])


def test_boxes_follow_what_is_left_and_covered_objects_go():
  destination = _objects([[0, 0, 20, 20], [30, 30, 35, 35]], [1, 2], 10)
  source = _objects([[10, 10, 30, 30], [28, 28, 38, 38]], [3, 4], 200)
  out = _paste(destination, source)
  # Object 1 keeps an L (300 px, its box unmoved); object 2 is covered.
  assert out['classes'].tolist() == [1, 3, 4]
  expected = np.ones((SIZE, SIZE), np.float32)
  expected[20:, :] = expected[:, 20:] = 0
  expected[10:20, 10:20] = 0
  np.testing.assert_array_equal(out['masks'][0], expected)
  np.testing.assert_array_equal(out['masks'][1:],
                                _objects([[10, 10, 30, 30], [28, 28, 38, 38]],
                                         [3, 4], 0)['masks'])
  np.testing.assert_array_equal(out['boxes'], [[0, 0, 20, 20],
                                               [10, 10, 30, 30],
                                               [28, 28, 38, 38]])
  np.testing.assert_array_equal(
      copy_paste.tight_boxes(out['masks']).numpy(), out['boxes'])
  covered = np.any(out['masks'][1:] > 0, axis=0)
  assert (out['image'][covered] == 200).all()
  assert (out['image'][~covered] == 10).all()
  assert out['image'].dtype == np.uint8


def test_the_visibility_rule_is_per_object():
  # Dropped: a strip losing its left 30 columns (100 px left, box moved 30
  # px). Kept, untouched: a small square elsewhere, although another
  # object moved (the tensorflow/tpu reduce_any would drop it).
  strip_and_small = _objects([[0, 0, 10, 40], [37, 36, 40, 40]], [1, 2], 0)
  left = _objects([[0, 0, 10, 30]], [9], 255)
  out = _paste(strip_and_small, left)
  assert out['classes'].tolist() == [2, 9]
  np.testing.assert_array_equal(out['boxes'][0], [37, 36, 40, 40])
  # Kept: moved 30 px but 400 px left, its box now tight around them.
  big = _objects([[0, 0, 40, 40]], [1], 0)
  out = _paste(big, _objects([[0, 0, 40, 30]], [9], 255))
  assert out['classes'].tolist() == [1, 9]
  np.testing.assert_array_equal(out['boxes'][0], [0, 30, 40, 40])
  # Kept: 70 px left (under 300) but the box moved 3 px only.
  small = _objects([[27, 20, 37, 30]], [1], 0)
  out = _paste(small, _objects([[27, 27, 37, 30]], [9], 255))
  assert out['classes'].tolist() == [1, 9]
  np.testing.assert_array_equal(out['boxes'][0], [27, 20, 37, 27])
  assert out['masks'][0].sum() == 70


def test_thresholds_are_config():
  destination = _objects([[0, 0, 10, 40]], [1], 0)
  source = _objects([[0, 0, 10, 30]], [2], 255)
  assert _paste(destination, source)['classes'].tolist() == [2]
  kept = _paste(destination, source, occluded_area_threshold=50)
  assert kept['classes'].tolist() == [1, 2]
  kept = _paste(destination, source, box_moved_threshold=30)
  assert kept['classes'].tolist() == [1, 2]


@pytest.mark.parametrize('case', ['no_destination_objects',
                                  'no_source_objects', 'none_chosen'])
def test_empty_cases(case):
  destination = _objects([[5, 5, 15, 15]], [1], 10)
  source = _objects([[0, 0, 20, 20]], [2], 200)
  if case == 'no_destination_objects':
    destination = _objects(np.zeros((0, 4)), [], 10)
  if case == 'no_source_objects':
    source = _objects(np.zeros((0, 4)), [], 200)
  out = _paste(destination, source, [False] if case == 'none_chosen' else None)
  expected = {'no_destination_objects': [2], 'no_source_objects': [1],
              'none_chosen': [1]}[case]
  assert out['classes'].tolist() == expected
  assert out['masks'].shape == (len(expected), SIZE, SIZE)
  assert out['boxes'].shape == (len(expected), 4)
  if case != 'no_destination_objects':
    np.testing.assert_array_equal(out['image'], destination['image'])
    np.testing.assert_array_equal(out['boxes'][0], [5, 5, 15, 15])


def test_many_objects():
  rng = np.random.default_rng(0)
  corners = rng.integers(0, 30, (2, 120, 2))
  rects = np.concatenate([corners[0], corners[0] + 1 + rng.integers(
      0, 10, (120, 2))], axis=1)
  destination = _objects(rects[:60], np.arange(60) % 7 + 1, 0)
  source = _objects(rects[60:], np.arange(60) % 5 + 1, 255)
  chosen = copy_paste.choose_objects(tf.constant(60), tf.constant([1, 2]))
  out = _paste(destination, source, chosen.numpy())
  assert len(out['classes']) == len(out['boxes']) == len(out['masks'])
  assert len(out['classes']) >= chosen.numpy().sum()
  np.testing.assert_array_equal(copy_paste.tight_boxes(out['masks']).numpy(),
                                out['boxes'])
  assert (out['masks'].sum(axis=(1, 2)) > 0).all()


def test_blending_softens_the_edge_only():
  destination = _objects([[0, 0, 40, 20]], [1], 0)
  source = _objects([[0, 20, 40, 40]], [2], 200)
  hard = _paste(destination, source)
  soft = _paste(destination, source, blend_sigma=2.0)
  assert set(np.unique(hard['image'])) == {0, 200}
  row = soft['image'][20, :, 0]
  assert row[0] == 0 and row[-1] == 200 and 0 < row[19] < row[20] < 200
  np.testing.assert_array_equal(soft['masks'], hard['masks'])


def test_the_choice_is_uniform_in_count_and_deterministic():
  def chosen(seed, n=4):
    return copy_paste.choose_objects(tf.constant(n),
                                     tf.constant([seed, 7])).numpy()
  np.testing.assert_array_equal(chosen(3), chosen(3))
  counts = np.bincount([chosen(s).sum() for s in range(500)], minlength=5)
  assert counts.min() > 60  # 100 expected for each of 0..4
  assert chosen(3, n=0).shape == (0,)


def test_it_runs_in_a_tf_data_map_with_unknown_counts():
  destination = _objects([[0, 0, 20, 20], [30, 30, 35, 35]], [1, 2], 10)
  source = _objects([[10, 10, 30, 30], [28, 28, 38, 38]], [3, 4], 200)

  def augment(dest, src):
    chosen = copy_paste.choose_objects(tf.shape(src['classes'])[0],
                                       tf.constant([5, 6]))
    return copy_paste.paste(dest, src, chosen)

  data = tf.data.Dataset.from_tensors((destination, source)).map(augment)
  assert data.element_spec['masks'].shape.as_list() == [None, SIZE, SIZE]
  out = next(iter(data))
  eager = augment(destination, source)
  for key in out:
    np.testing.assert_array_equal(out[key].numpy(), eager[key].numpy())


def _decoded_records(pattern, count):
  from official.vision.dataloaders import tf_example_decoder
  decoder = tf_example_decoder.TfExampleDecoder(include_mask=True)
  files = sorted(tf.io.gfile.glob(pattern))
  records = tf.data.TFRecordDataset(files).take(count)
  return [decoder.decode(r) for r in records]


def test_jitter_keeps_boxes_and_masks_together(tiny_world):
  decoded, = _decoded_records(tiny_world.det_train_pattern, 1)
  out = copy_paste.jitter(decoded, [128, 128], 0.5, 0.5, hflip=False,
                         seed=tf.constant([0, 1]))
  assert out['image'].shape == (128, 128, 3)
  assert out['masks'].shape[1:] == (128, 128)
  height, width = decoded['image'].shape[:2]
  scale = 0.5 * min(128 / height, 128 / width)
  expected = decoded['groundtruth_boxes'].numpy() * (
      [height, width, height, width]) * scale
  # Model Garden rounds the scaled size: scales differ a little per axis.
  np.testing.assert_allclose(out['boxes'].numpy(), expected, atol=0.5)
  np.testing.assert_allclose(  # nearest-neighbour masks: within 2 px
      copy_paste.tight_boxes(out['masks']).numpy(), expected, atol=2)


def test_jitter_is_model_gardens_resize_crop_and_pad(tiny_world):
  from official.vision.ops import preprocess_ops
  decoded, = _decoded_records(tiny_world.det_train_pattern, 1)
  image_size = tf.cast(tf.shape(decoded['image'])[:2], tf.float32)
  flips = set()
  for seed in range(6):  # scales 0.3-2.0: padded and cropped, flipped or not
    seed = tf.constant([seed, 7])
    out = copy_paste.jitter(decoded, [96, 112], 0.3, 2.0, True, seed)
    # The draws jitter makes, then Model Garden's way: flip the whole
    # image, resize it, crop at the offset, pad with zeros.
    seeds = tf.random.experimental.stateless_split(seed, 2)
    flip = bool(tf.random.stateless_uniform([], seeds[0]) < 0.5)
    flips.add(flip)
    scaled, _, offset = copy_paste._lsj_window(image_size, [96, 112], 0.3,
                                               2.0, seeds[1])
    image, masks = decoded['image'], decoded['groundtruth_instance_masks']
    if flip:
      image, masks = image[:, ::-1], masks[:, :, ::-1]
    y, x = offset.numpy().astype(int)
    def resized(tensor, method, padding=0.0):
      tensor = tf.image.resize(tensor, tf.cast(scaled, tf.int32),
                               method=method)[..., y:y + 96, x:x + 112, :]
      return tf.image.pad_to_bounding_box(tensor - padding, 0, 0, 96,
                                          112).numpy() + padding
    np.testing.assert_allclose(  # positions stepped in float32: ~1e-5 apart
        out['image'].numpy(), resized(image, 'bilinear',
                                      np.float32(preprocess_ops.MEAN_RGB)),
        atol=0.01)
    expected = resized(masks[..., None], 'nearest')[..., 0]
    present = expected.reshape(len(expected), -1).any(axis=1)
    np.testing.assert_array_equal(out['masks'].numpy(), expected[present])
  assert flips == {True, False}


def test_a_composite_goes_through_model_gardens_parser(tiny_world):
  from official.vision.dataloaders import maskrcnn_input
  destination, source = [
      copy_paste.jitter(d, [128, 128], 0.8, 1.25, True, tf.constant([i, 1]))
      for i, d in enumerate(_decoded_records(tiny_world.det_train_pattern, 2))]
  chosen = tf.ones_like(source['classes'], tf.bool)
  composite = copy_paste.paste(destination, source, chosen)
  decoded = copy_paste.as_decoded(composite, tf.constant('1'))
  parser = maskrcnn_input.Parser(  # its own jitter off: done above
      output_size=[128, 128], min_level=3, max_level=7, num_scales=1,
      aspect_ratios=[1.0], anchor_size=3, aug_rand_hflip=False,
      include_mask=True, mask_crop_size=28, max_num_instances=50)
  image, labels = parser.parse_fn(is_training=True)(decoded)
  count = len(composite['classes'])
  pasted = len(source['classes'])
  assert pasted > 0
  np.testing.assert_array_equal(composite['classes'][count - pasted:],
                                source['classes'])
  classes = labels['gt_classes'].numpy()
  np.testing.assert_array_equal(classes[:count], composite['classes'].numpy())
  assert (classes[count:] == -1).all()
  np.testing.assert_allclose(labels['gt_boxes'].numpy()[:count],
                             composite['boxes'].numpy(), atol=1e-3)
  assert image.shape == (128, 128, 3)


def _copy_paste_batches(tiny_world, seed, enabled=True, count=1,
                        context=None):
  from official.core import task_factory
  from tests import reuse_helpers as h
  params = h.set_data(h.maskrcnn_config(), tiny_world.det_train_pattern)
  params.task.train_data.seed = seed
  params.task.train_data.copy_paste.enabled = enabled
  params.task.train_data.copy_paste.source_shuffle_buffer_size = 8
  params.task.train_data.parser.aug_scale_min = 0.5
  params.task.train_data.parser.aug_scale_max = 1.5
  tf.random.set_seed(seed)  # Model Garden's parser samples RPN anchors
  task = task_factory.get_task(params.task)
  data = task.build_inputs(params.task.train_data, context)
  return [tf.nest.map_structure(lambda t: t.numpy(), batch)
          for batch in data.take(count)]


def test_the_training_input_pastes_and_is_deterministic(tiny_world):
  (images, labels), = _copy_paste_batches(tiny_world, seed=3)
  (again, again_labels), = _copy_paste_batches(tiny_world, seed=3)
  (plain, plain_labels), = _copy_paste_batches(tiny_world, 3, enabled=False)
  assert images.shape == plain.shape == (2, 128, 128, 3)
  np.testing.assert_array_equal(images, again)
  np.testing.assert_array_equal(labels['gt_boxes'], again_labels['gt_boxes'])
  assert not np.array_equal(images, plain)
  boxes = labels['gt_boxes'].reshape(-1, 4)
  boxes = boxes[labels['gt_classes'].reshape(-1) > 0]
  assert len(boxes) and (boxes >= 0).all() and (boxes <= 128).all()
  assert labels['gt_masks'].shape == plain_labels['gt_masks'].shape


def test_each_input_pipeline_composes_its_own_batch(tiny_world):
  # Two pipelines (a two-worker run): each reads its half of the files,
  # pairs within it and batches per replica (global batch 2 -> 1).
  (first, _), (second, _) = [
      _copy_paste_batches(tiny_world, 3, context=tf.distribute.InputContext(
          num_input_pipelines=2, input_pipeline_id=i,
          num_replicas_in_sync=2))[0] for i in range(2)]
  assert first.shape == second.shape == (1, 128, 128, 3)
  assert not np.array_equal(first, second)


@pytest.mark.parametrize('labels, crowds, expected', [
    ([], None, False), ([3], None, True), ([3, 4], [1, 1], False),
    ([3, 4], [1, 0], True)])
def test_sources_are_examples_with_a_non_crowd_object(labels, crowds,
                                                      expected):
  from official_projects_backbone_reuse.dataloaders import copy_paste_input
  feature = {'image/object/class/label': tf.train.Feature(
      int64_list=tf.train.Int64List(value=labels))}
  if crowds is not None:
    feature['image/object/is_crowd'] = tf.train.Feature(
        int64_list=tf.train.Int64List(value=crowds))
  example = tf.train.Example(features=tf.train.Features(feature=feature))
  assert bool(copy_paste_input._has_object(
      tf.constant(example.SerializeToString()))) == expected


def test_copy_paste_needs_masks():
  from official_projects_backbone_reuse.common.errors import ConfigError
  from official_projects_backbone_reuse.configs import validation
  from tests import reuse_helpers as h
  params = h.maskrcnn_config()
  params.task.train_data.copy_paste.enabled = True
  params.task.model.include_mask = False
  with pytest.raises(ConfigError, match='set task.model.include_mask'):
    validation.check_task_config(params.task, for_run=False)


def test_the_source_keeps_a_random_subset_of_what_its_crop_left(
    tiny_world):
  decoded, = _decoded_records(tiny_world.det_train_pattern, 1)
  def jittered(choose_seed):
    return copy_paste.jitter(decoded, [128, 128], 0.8, 1.0, True,
                             tf.constant([0, 1]), choose_seed)
  everything = jittered(None)
  boxes = [tuple(b) for b in everything['boxes'].numpy()]
  assert len(boxes) > 1
  counts = set()
  for seed in range(40):
    chosen = jittered(tf.constant([seed, 3]))
    assert chosen['masks'].dtype == tf.uint8
    which = [boxes.index(tuple(b)) for b in chosen['boxes'].numpy()]
    for key in ('classes', 'masks'):  # each object keeps its own
      np.testing.assert_array_equal(chosen[key],
                                    everything[key].numpy()[which])
    counts.add(len(which))
  assert counts == set(range(len(boxes) + 1))
  again = jittered(tf.constant([5, 3]))
  np.testing.assert_array_equal(again['masks'], jittered(
      tf.constant([5, 3]))['masks'])


@pytest.mark.parametrize('threshold', [None, 0.5])
def test_the_uint8_mask_decoder_is_model_gardens_binarised(tiny_world,
                                                           threshold):
  from official.vision.dataloaders import tf_example_decoder
  from official_projects_backbone_reuse.dataloaders import copy_paste_input
  record = next(iter(tf.data.TFRecordDataset(
      sorted(tf.io.gfile.glob(tiny_world.det_train_pattern)))))
  ours = copy_paste_input.BinaryMaskDecoder(
      mask_binarize_threshold=threshold).decode(record)
  theirs = tf_example_decoder.TfExampleDecoder(
      include_mask=True, mask_binarize_threshold=threshold).decode(record)
  assert ours['groundtruth_instance_masks'].dtype == tf.uint8
  assert theirs['groundtruth_instance_masks'].shape[0] > 0
  np.testing.assert_array_equal(
      ours['groundtruth_instance_masks'],
      theirs['groundtruth_instance_masks'].numpy() > (threshold or 0))
  assert set(ours) == set(theirs)
