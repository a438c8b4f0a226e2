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

"""The Mask R-CNN training input with Copy-Paste (`task.train_data.copy_paste`).

Model Garden's own reader, decoder and Mask R-CNN parser, with one step
before parsing (the reader's `sample_fn`): each example is zipped with one
of an independently shuffled stream of the same files (examples with a
non-crowd object), both are decoded and jittered and the second pasted on
the first (`copy_paste`). The composite reaches Model Garden's
parser at the output size, so its own flip and scale jitter are set off
(they already happened, per image); everything after (anchor and mask
targets, padding, augmenters) is Model Garden's. All in tf.data ops, per
input pipeline, under every distribution strategy.
"""
from typing import Optional

import tensorflow as tf

from official.common import dataset_fn as dataset_fn_lib
from official.vision.dataloaders import input_reader
from official.vision.dataloaders import input_reader_factory
from official.vision.dataloaders import maskrcnn_input
from official.vision.dataloaders import tf_example_decoder

from official_projects_backbone_reuse.dataloaders import copy_paste


def _has_object(serialized: tf.Tensor) -> tf.Tensor:
  """Whether a serialized example has a non-crowd object (no decoding)."""
  parsed = tf.io.parse_single_example(serialized, {
      'image/object/class/label': tf.io.VarLenFeature(tf.int64),
      'image/object/is_crowd': tf.io.VarLenFeature(tf.int64)})
  count = tf.shape(parsed['image/object/class/label'].values)[0]
  # No is_crowd feature means no crowds, as Model Garden's decoder reads it.
  crowds = tf.reduce_sum(tf.cast(parsed['image/object/is_crowd'].values > 0,
                                 tf.int32))
  return count > crowds


class BinaryMaskDecoder(tf_example_decoder.TfExampleDecoder):
  """Decodes examples with uint8 masks, for Copy-Paste.

  Model Garden's decoder with the masks kept uint8 0/1 (PNG value over
  `mask_binarize_threshold`, or nonzero), not float32: Copy-Paste gathers
  and composes full-size masks, four times less memory to move."""

  def __init__(self, mask_binarize_threshold=None, **kwargs):
    super().__init__(include_mask=True, **kwargs)
    self._threshold = mask_binarize_threshold

  def _decode_masks(self, parsed_tensors):
    def decode_png(png_bytes):
      mask = tf.io.decode_png(png_bytes, channels=1, dtype=tf.uint8)[..., 0]
      if self._threshold is not None:
        return tf.cast(tf.cast(mask, tf.float32) > self._threshold, tf.uint8)
      return tf.minimum(mask, 1)

    masks = parsed_tensors['image/object/mask']
    return tf.cond(
        tf.size(masks) > 0,
        lambda: tf.map_fn(decode_png, masks, fn_output_signature=tf.TensorSpec(
            [None, None], tf.uint8)),
        lambda: tf.zeros([0, parsed_tensors['image/height'],
                          parsed_tensors['image/width']], tf.uint8))


def pairs_fn(task_config, params, decode):
  """The reader's `sample_fn`: serialized examples -> decoded composites.

  The records stay serialized until here (Model Garden's shuffle buffer
  holds records, not decoded images), the second stream is shuffled as
  records too, and each pair is decoded inside the parallel map."""
  options, parser = params.copy_paste, params.parser
  size = task_config.model.input_size[:2]

  def composite(destination, source, seed):
    seeds = tf.random.experimental.stateless_split(seed, 3)
    destination, source = decode(destination), decode(source)
    jittered = [copy_paste.jitter(example, size, parser.aug_scale_min,
                                  parser.aug_scale_max, parser.aug_rand_hflip,
                                  seeds[i], choose_seed)
                for i, (example, choose_seed) in enumerate(
                    ((destination, None), (source, seeds[2])))]
    pasted = copy_paste.paste(
        *jittered, tf.ones_like(jittered[1]['classes'], tf.bool),
        occluded_area_threshold=options.occluded_area_threshold,
        box_moved_threshold=options.box_moved_threshold,
        blend_sigma=options.blend_sigma)
    return copy_paste.as_decoded(pasted, destination['source_id'])

  def sample_fn(dataset: tf.data.Dataset) -> tf.data.Dataset:
    sources = dataset.filter(_has_object).shuffle(
        options.source_shuffle_buffer_size,
        seed=None if params.seed is None else params.seed + 1)
    seeds = tf.data.Dataset.random(seed=params.seed).batch(2)
    # Every draw is stateless from its pair's seed: parallel and ordered.
    return tf.data.Dataset.zip((dataset, sources, seeds)).map(
        composite, num_parallel_calls=tf.data.AUTOTUNE)

  return sample_fn


def anchor_args(model) -> dict:
  """Returns the parser arguments that come from the model config.

  The arguments every Model Garden detection parser takes from the
  model config: output size, levels and anchors."""
  return dict(output_size=model.input_size[:2], min_level=model.min_level,
              max_level=model.max_level, num_scales=model.anchor.num_scales,
              aspect_ratios=model.anchor.aspect_ratios,
              anchor_size=model.anchor.anchor_size)


def build_inputs(task_config, params,
                 input_context: Optional[tf.distribute.InputContext] = None,
                 dataset_fn=None) -> tf.data.Dataset:
  """Builds the training inputs with Copy-Paste before the parser.

  What Model Garden's `MaskRCNNTask.build_inputs` builds, with the
  Copy-Paste step before its parser."""
  decoder_config = params.decoder.get()
  decoder = BinaryMaskDecoder(
      regenerate_source_id=decoder_config.regenerate_source_id,
      mask_binarize_threshold=decoder_config.mask_binarize_threshold)
  model, parsing = task_config.model, params.parser
  parser = maskrcnn_input.Parser(
      **anchor_args(model),
      rpn_match_threshold=parsing.rpn_match_threshold,
      rpn_unmatched_threshold=parsing.rpn_unmatched_threshold,
      rpn_batch_size_per_im=parsing.rpn_batch_size_per_im,
      rpn_fg_fraction=parsing.rpn_fg_fraction,
      aug_rand_hflip=False, aug_rand_vflip=False,  # done per image before
      aug_scale_min=1.0, aug_scale_max=1.0,
      aug_type=parsing.aug_type,
      skip_crowd_during_training=parsing.skip_crowd_during_training,
      max_num_instances=parsing.max_num_instances,
      include_mask=True,
      outer_boxes_scale=model.outer_boxes_scale,
      mask_crop_size=parsing.mask_crop_size,
      dtype=params.dtype)
  reader = input_reader_factory.input_reader_generator(
      params,
      dataset_fn=dataset_fn or dataset_fn_lib.pick_dataset_fn(
          params.file_type),
      decoder_fn=None,  # decoded in pairs, by `pairs_fn`
      combine_fn=input_reader.create_combine_fn(params),
      sample_fn=pairs_fn(task_config, params, decoder.decode),
      parser_fn=parser.parse_fn(params.is_training))
  return reader.read(input_context=input_context)
