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

"""SavedModel export and the detection CLI, on tiny detectors.

One RetinaNet with series adapters is built, perturbed away from its
initialisation, adapters included (so only a restored export can reproduce
it), checkpointed as Model Garden's trainer does (`model=`), exported once
and shared by the tests.
"""
import json
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from official.core import exp_factory
from official.core import task_factory
from official.modeling import hyperparams

from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common.errors import CheckpointError
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.common.errors import UserError
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.serving import detect
from official_projects_backbone_reuse.serving import export_saved_model
from official_projects_backbone_reuse.serving import label_map
from tests import reuse_helpers as h
from tests import runtime_helpers as rh

RETINANET_YAML = h.RETINANET_YAML
SIGNATURES = {'serving_default', 'serve_image_bytes', 'serve_tf_example'}
LABELS = {1: 'circle', 2: 'square', 3: 'triangle'}
# Scores of a barely trained detector are low; keep every candidate box.
_GENERATOR = {'pre_nms_score_threshold': 0.0, 'pre_nms_top_k': 200,
              'max_num_detections': 10}


def _run(module, *args):
  return rh.run(rh.python_m(module, *args))


def _perturbed_checkpoint(params, directory):
  """A 'trained' checkpoint: the task's model, moved off its init values."""
  model = task_factory.get_task(params.task).build_model()
  rng = np.random.default_rng(0)
  for v in model.variables:
    noise = rng.uniform(-0.1, 0.1, v.shape)
    v.assign(v * (1 + noise) + 0.01 * noise)
  tf.train.Checkpoint(model=model).save(os.path.join(directory, 'ckpt'))
  return model


def _test_image(path, height=100, width=150):
  """A non-square PNG, so resizing to the model input is not the identity."""
  yy, xx = np.mgrid[:height, :width]
  image = np.stack([xx * 255 // width, yy * 255 // height,
                    np.full_like(xx, 90)], -1).astype(np.uint8)
  image[20:60, 30:90] = [240, 40, 40]
  Image.fromarray(image).save(path)
  return image


@pytest.fixture(scope='module')
def trained_retinanet(tmp_path_factory):
  """A tiny RetinaNet's config and 'trained' checkpoint (root/model_dir)."""
  root = tmp_path_factory.mktemp('retinanet')
  annotations = root / 'annotations.json'
  annotations.write_text(json.dumps({'images': [], 'annotations': [],
                                     'categories': [
                                         {'id': k, 'name': v}
                                         for k, v in LABELS.items()]}))
  params = exp_factory.get_exp_config('backbone_reuse_retinanet')
  params = hyperparams.override_params_dict(params, str(RETINANET_YAML),
                                            is_strict=True)
  params = hyperparams.override_params_dict(params, {'task': {
      'annotation_file': str(annotations),
      'model': {
          'input_size': [128, 128, 3], 'num_classes': 4,
          'backbone': {'resnet': {'model_id': 10}},
          'backbone_adapter': {'type': 'series'},
          'decoder': {'fpn': {'num_filters': 16}},
          'head': {'num_convs': 1, 'num_filters': 16},
          'detection_generator': _GENERATOR}}}, is_strict=True)
  params.validate()
  params.lock()
  model = _perturbed_checkpoint(params, root / 'model_dir')
  return dict(root=root, params=params, model=model)


@pytest.fixture(scope='module')
def retinanet(trained_retinanet):
  """`trained_retinanet` exported, and a test image."""
  root, params = trained_retinanet['root'], trained_retinanet['params']
  export_dir = export_saved_model.export(params, str(root / 'model_dir'),
                                         str(root / 'export'))
  image = _test_image(root / 'image.png')
  return dict(trained_retinanet, export_dir=export_dir, image=image,
              image_path=str(root / 'image.png'))


@pytest.fixture(scope='module')
def detect_cli(retinanet):
  """`python -m ...detect` on the export, in a fresh process."""
  out = retinanet['root'] / 'detections'
  result = _run('official_projects_backbone_reuse.serving.detect',
                f'--saved_model={retinanet["export_dir"]}',
                f'--image={retinanet["image_path"]}', f'--output_dir={out}',
                '--min_score=0', f'--output_json={out / "detections.json"}')
  assert result.returncode == 0, result.stderr[-3000:]
  return dict(out=out, detections=json.loads(
      (out / 'detections.json').read_text()))


@pytest.mark.slow
def test_fresh_process_matches_trained_model(retinanet, detect_cli):
  # The reference is the trained model itself in Model Garden's serving path.
  module = export_saved_model.BackboneReuseDetectionModule(
      retinanet['params'], batch_size=1, input_image_size=[128, 128],
      model=retinanet['model'])
  expected = {k: v.numpy()[0] for k, v in
              module.serve(tf.constant(retinanet['image'][None])).items()}
  n = int(expected['num_detections'])
  assert n > 0
  # RetinaNet serves boxes in the resized frame by default: undo the scale.
  scale = np.tile(expected['image_info'][2], 2)
  boxes = np.clip(expected['detection_boxes'][:n] / scale, 0,
                  [100, 150, 100, 150])

  (got,) = detect_cli['detections']
  assert (got['height'], got['width']) == (100, 150)
  assert got['num_detections'] == n
  np.testing.assert_allclose(got['boxes'], boxes, atol=1e-3)
  np.testing.assert_allclose(got['scores'], expected['detection_scores'][:n],
                             atol=1e-5)
  assert got['classes'] == expected['detection_classes'][:n].tolist()
  assert got['class_names'] == [LABELS.get(c, str(c)) for c in got['classes']]
  saved = [name for name, _ in tf.train.list_variables(
      os.path.join(retinanet['export_dir'], 'variables', 'variables'))]
  assert any('adapter_norm2/norm/gamma' in name for name in saved)


@pytest.mark.slow
def test_three_signatures_agree(retinanet):
  export_dir = retinanet['export_dir']
  assert json.loads(open(os.path.join(export_dir, 'label_map.json')).read()
                    ) == {str(k): v for k, v in LABELS.items()}
  signatures = tf.saved_model.load(export_dir).signatures
  assert SIGNATURES <= set(signatures)
  png = open(retinanet['image_path'], 'rb').read()
  example = tf.train.Example(features=tf.train.Features(feature={
      'image/encoded': tf.train.Feature(
          bytes_list=tf.train.BytesList(value=[png]))})).SerializeToString()
  reference = signatures['serving_default'](
      inputs=tf.constant(retinanet['image'][None]))
  for name, inputs in (('serve_image_bytes', png),
                       ('serve_tf_example', example)):
    outputs = signatures[name](inputs=tf.constant([inputs]))
    for key in ('detection_boxes', 'detection_scores', 'detection_classes',
                'num_detections', 'image_info'):
      np.testing.assert_allclose(outputs[key], reference[key], atol=1e-5,
                                 err_msg=f'{name}: {key}')


@pytest.mark.slow
def test_png_written(retinanet, detect_cli):
  png = detect_cli['out'] / 'image_detections.png'
  with Image.open(png) as image:
    assert image.format == 'PNG'
    assert image.size == (150, 100)
    drawn = np.asarray(image.convert('RGB'))
  assert not np.array_equal(drawn, retinanet['image'])  # Boxes drawn.
  assert sorted(p.name for p in detect_cli['out'].iterdir()) == [
      'detections.json', 'image_detections.png']  # No temporary files left.


def test_missing_checkpoint_fails_cleanly(tmp_path):
  # The export command stops with this as its one line and exit 2
  # (test_train_cli runs one).
  missing = tmp_path / 'no_run' / 'ckpt-7'
  params = loading.load_experiment('backbone_reuse_retinanet',
                                   [RETINANET_YAML], '')
  with pytest.raises(UserError) as e:
    export_saved_model.export(params, str(missing), str(tmp_path / 'export'))
  assert 'checkpoint_path' in str(e.value) and str(missing) in str(e.value)
  assert list(tmp_path.iterdir()) == []


def test_a_checkpoint_of_another_model_is_reported_by_variable(
    trained_retinanet, tmp_path):
  """The training restore's report, not "Found N Python objects that were
  not bound", and no export left."""
  params = trained_retinanet['params'].replace(
      task={'model': {'decoder': {'fpn': {'num_filters': 8}}}})
  export_dir = tmp_path / 'export'
  with pytest.raises(CheckpointError) as e:
    export_saved_model.export(
        params, str(trained_retinanet['root'] / 'model_dir'), str(export_dir))
  message = str(e.value)
  assert 'does not match the model: ' in message
  assert '182 variables match, 0 are missing from the checkpoint, 38 have another shape' in message
  assert ('shape mismatch: model/_decoder/layer_with_weights-0/bias '
          '(lateral_5/bias:0, shape [8]): checkpoint has shape [16]') in message
  assert list(tmp_path.iterdir()) == []


def test_config_and_export_dir_errors(upstream, tmp_path):
  bad_yaml = tmp_path / 'bad.yaml'
  bad_yaml.write_text('task:\n  model:\n    no_such_key: 1\n')
  with pytest.raises(ConfigError, match='bad.yaml'):
    loading.load_experiment('backbone_reuse_retinanet', [str(bad_yaml)], '')
  with pytest.raises(ConfigError, match='no_such_exp'):
    loading.load_experiment('no_such_exp', [], '')
  earlier = tmp_path / 'export'
  earlier.mkdir()
  (earlier / 'saved_model.pb').write_text('an earlier export')
  with pytest.raises(export_saved_model.ExportError, match='overwrite'):
    # Any checkpoint: the export_dir is checked before the model is built.
    export_saved_model.export(h.retinanet_config(), upstream, str(earlier))
  assert (earlier / 'saved_model.pb').read_text() == 'an earlier export'


@pytest.mark.slow
def test_mask_rcnn_export(tmp_path):
  params = exp_factory.get_exp_config('backbone_reuse_maskrcnn')
  params = hyperparams.override_params_dict(params, {'task': {
      'annotation_file': None,
      'model': {
          'input_size': [128, 128, 3], 'num_classes': 4, 'include_mask': True,
          'backbone': {'resnet': {'model_id': 10}},
          'decoder': {'fpn': {'num_filters': 16}},
          'rpn_head': {'num_convs': 1, 'num_filters': 16},
          'detection_head': {'num_convs': 0, 'num_fcs': 1, 'fc_dims': 32},
          'mask_head': {'num_convs': 1, 'num_filters': 16},
          'roi_generator': {'test_pre_nms_top_k': 200,
                            'test_num_proposals': 20},
          'detection_generator': _GENERATOR}}}, is_strict=True)
  params.validate()
  params.lock()
  _perturbed_checkpoint(params, tmp_path / 'model_dir')
  export_dir = export_saved_model.export(params, str(tmp_path / 'model_dir'),
                                         str(tmp_path / 'export'))
  _test_image(tmp_path / 'image.png')
  signatures = tf.saved_model.load(export_dir).signatures
  assert SIGNATURES <= set(signatures)
  outputs = signatures['serving_default'](
      inputs=tf.zeros([1, 100, 150, 3], tf.uint8))
  assert outputs['detection_masks'].shape[:2] == [1, 10]
  (got,) = detect.detect(export_dir, [str(tmp_path / 'image.png')])
  assert got['num_detections'] > 0
  boxes = np.array(got['boxes'])
  assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= 100).all()
  assert (boxes[:, [1, 3]] <= 150).all()


def test_boxes_to_original_pixels():
  # A 100x150 image served at 128x128: scale 128/150, no offset.
  scale = 128 / 150
  image_info = np.array([[100, 150], [85.33, 128], [scale, scale], [0, 0]])
  pixels = np.array([[10., 20., 50., 80.], [0., 0., 100., 150.]])
  outputs = {'num_detections': np.array([2]),
             'detection_scores': np.array([[0.9, 0.2]]),
             'detection_classes': np.array([[1., 7.]]),
             'image_info': image_info[None]}
  for normalized, served in ((False, pixels * scale),
                             (True, pixels / [100, 150, 100, 150])):
    got = detect._detections(dict(outputs, detection_boxes=served[None]), 0,
                             normalized, 0.0, LABELS)
    np.testing.assert_allclose(got['boxes'], pixels, atol=1e-4)
    assert got['class_names'] == ['circle', '7']
  kept = detect._detections(dict(outputs, detection_boxes=pixels[None]), 0,
                            False, 0.5, LABELS)
  assert (kept['num_detections'], kept['classes']) == (1, [1])


@pytest.mark.parametrize('content, said', [
    ('{"1": "circle", ', 'damaged file'),
    ('["circle"]', 'damaged file'),
    ('{"one": "circle"}', "invalid literal for int() with base 10: 'one'"),
    ('{"1": 7}', 'class names (strings)'),
])
def test_a_damaged_label_map_is_named(tmp_path, content, said):
  (tmp_path / 'label_map.json').write_text(content)
  with pytest.raises(UserError, match='label_map.json: expected') as e:
    label_map.read(str(tmp_path))
  assert said in str(e.value)


def test_annotations_without_categories_are_named(tmp_path):
  path = tmp_path / 'val.json'
  path.write_text('{"images": []}')
  with pytest.raises(UserError, match=rf"annotation_file={path}: cannot "
                     r"read the class names .*\('categories'\)"):
    label_map.from_annotations(str(path))


def _bad_detect_input(case, root):
  """run_cli's arguments for a bad input, on a fake export (its
  saved_model.pb is not a SavedModel: every case ends before or at the
  load)."""
  export = root / 'export'
  export.mkdir()
  (export / 'saved_model.pb').write_bytes(b'not a SavedModel')
  (export / 'params.yaml').write_text('task: {}\n')
  image = root / 'a.png'
  Image.new('RGB', (30, 20)).save(image)
  args = dict(saved_model_dir=str(export), image_paths=[str(image)],
              output_dir=str(root / 'out'), min_score=0.5, output_json=None)
  a_file = root / 'file'
  a_file.write_text('')
  if case == 'no_image':
    args['image_paths'] = []
  elif case == 'min_score':
    args['min_score'] = 1.5
  elif case == 'same_names':
    (root / 'b').mkdir()
    Image.new('RGB', (30, 20)).save(root / 'b' / 'a.png')
    args['image_paths'].append(str(root / 'b' / 'a.png'))
  elif case == 'output_dir_file':
    args['output_dir'] = str(a_file)
  elif case == 'output_json_under_file':
    args['output_json'] = str(a_file / 'x.json')
  elif case == 'no_saved_model':
    args['saved_model_dir'] = str(root / 'nothing')
  elif case == 'no_params':
    os.remove(export / 'params.yaml')
  elif case in ('python_tag_params', 'params_without_task'):
    (export / 'params.yaml').write_text(
        'task: !!python/object/apply:os.system [ls]\n'
        if case == 'python_tag_params' else 'runtime: {}\n')
  elif case == 'damaged_label_map':
    (export / 'label_map.json').write_text('{"1": ')
  elif case == 'missing_image':
    args['image_paths'] = [str(root / 'none.png')]
  elif case == 'corrupt_image':
    image.write_bytes(b'\x89PNG broken')
  elif case == 'text_as_image':
    args['image_paths'] = [str(a_file)]
  return args


BAD_DETECT_INPUTS = {  # case: the words of its one line
    'no_image': '--image is required',
    'min_score': '--min_score=1.5: expected a value in [0, 1]',
    'same_names': 'two images share a file name',
    'output_dir_file': 'expected a folder to write, found a file',
    'output_json_under_file': 'file is a file',
    'no_saved_model': 'nothing: no SavedModel there',
    'no_params': 'no params.yaml in it or its parent',
    'python_tag_params': "params.yaml is not the params.yaml of an export "
                         '(a `task:` mapping; plain YAML, no Python tags): '
                         'could not determine a constructor',
    'params_without_task': "params.yaml is not the params.yaml of an export",
    'damaged_label_map': 'label_map.json: expected',
    'missing_image': 'none.png: cannot be read as an image',
    'corrupt_image': 'a.png: cannot be read as an image',
    'text_as_image': 'file: cannot be read as an image',
    'damaged_saved_model': 'cannot be loaded, the export is damaged',
}


@pytest.mark.parametrize('case', sorted(BAD_DETECT_INPUTS))
def test_bad_detect_input_fails_cleanly(tmp_path, case):
  args = _bad_detect_input(case, tmp_path)
  before = sorted(os.listdir(tmp_path))
  with pytest.raises(UserError) as e:
    detect.run_cli(**args)
  assert BAD_DETECT_INPUTS[case] in errors.one_line(e.value)
  assert sorted(os.listdir(tmp_path)) == before  # no output folder made
