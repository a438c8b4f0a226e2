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

"""`backbone-reuse-analyse`: class-wise AP against training annotation count.

A tiny synthetic LVIS world (7 categories r/c/f, 4 images with boxes and
polygon masks, one category without val objects) and three runs: a noisy
reference, a perfect run and a noisy run without detections for the rare
classes. The outputs are checked against `lvis_evaluator.evaluate`.

Run: python -m pytest tests/test_class_curves.py -q
"""
import contextlib
import csv
import io
import json
import math
import os
from unittest import mock

import numpy as np
from pycocotools import mask as mask_api
import pytest
import tensorflow as tf

from official_projects_backbone_reuse.analysis import class_ap_outputs
from official_projects_backbone_reuse.analysis import class_ap_smoothing
from official_projects_backbone_reuse.analysis import class_curves
from official_projects_backbone_reuse.evaluation import lvis_evaluator

SIGMA = 40.0
RUNS = ('finetune', 'freeze', 'scratch')  # finetune: the default reference.
FREQUENCIES = {1: 'r', 2: 'r', 3: 'c', 4: 'c', 5: 'f', 6: 'f', 7: 'c'}
TRAIN_COUNTS = {1: 2, 2: 7, 3: 30, 4: 55, 5: 120, 6: 200, 7: 15}
SIDES = (20, 60, 140)  # LVIS small, medium, large.
SIZE = 300


def _polygon(box):
  x, y, w, h = box
  return [x, y, x + w, y + 0.2 * h, x + 0.8 * w, y + h, x + 0.1 * w,
          y + 0.9 * h]


def make_val():
  """LVIS v1 val: categories 1..6 have objects; 7 has none (AP NaN)."""
  rng = np.random.default_rng(0)
  images, annotations = [], []
  for i in range(4):
    image_id = 10 + i
    images.append({'id': image_id, 'height': SIZE, 'width': SIZE,
                   'neg_category_ids': [7] if i == 0 else [],
                   'not_exhaustive_category_ids': []})
    for category_id in (1 + i % 2, 3 + i % 2, 5, 6):
      side = SIDES[(i + category_id) % 3]
      x, y = (float(v) for v in rng.uniform(0, SIZE - side, 2))
      box = [x, y, float(side), float(side) * 0.9]
      polygon = _polygon(box)
      rle = mask_api.merge(mask_api.frPyObjects([polygon], SIZE, SIZE))
      annotations.append({
          'id': len(annotations) + 1, 'image_id': image_id,
          'category_id': category_id, 'bbox': box,
          'area': float(mask_api.area(rle)), 'segmentation': [polygon]})
  categories = [{'id': c, 'name': f'thing{c}', 'frequency': f}
                for c, f in FREQUENCIES.items()]
  return {'images': images, 'categories': categories,
          'annotations': annotations}


def make_train():
  """A COCO-style train JSON with TRAIN_COUNTS annotations per category."""
  categories = [c for c, n in TRAIN_COUNTS.items() for _ in range(n)]
  return {'images': [{'id': 1}],
          'categories': [{'id': c, 'name': f'thing{c}'} for c in TRAIN_COUNTS],
          'annotations': [{'id': i + 1, 'image_id': 1, 'category_id': c}
                          for i, c in enumerate(categories)]}


def make_predictions(val, noise, seed, skip=()):
  """A detection per object (jittered by `noise` x its size), and a false
  positive per image."""
  rng = np.random.default_rng(seed)
  detections = []
  for ann in val['annotations']:
    if ann['category_id'] in skip:
      continue
    x, y, w, h = ann['bbox']
    box = [x + noise * w * rng.normal(), y + noise * h * rng.normal(), w, h]
    detections.append({'image_id': ann['image_id'],
                       'category_id': ann['category_id'], 'bbox': box,
                       'score': float(rng.uniform(0.3, 1.0)),
                       'segmentation': [_polygon(box)]})
  if noise:
    for ann in val['annotations'][::3]:
      box = [float(v) for v in rng.uniform(0, SIZE - 40, 2)] + [40.0, 40.0]
      detections.append({'image_id': ann['image_id'],
                         'category_id': ann['category_id'], 'bbox': box,
                         'score': float(rng.uniform(0.3, 1.0)),
                         'segmentation': [_polygon(box)]})
  return detections


def _write_json(path, data):
  with open(path, 'w') as f:
    json.dump(data, f)
  return str(path)


@pytest.fixture(scope='module')
def world(tmp_path_factory):
  base = tmp_path_factory.mktemp('class_curves')
  val = make_val()
  predictions = {
      'finetune': make_predictions(val, 0.15, seed=1),
      'freeze': make_predictions(val, 0.0, seed=2),
      'scratch': make_predictions(val, 0.25, seed=3, skip=(1, 2)),
  }
  paths = {name: _write_json(base / f'{name}.json', dets)
           for name, dets in predictions.items()}
  return {
      'base': base, 'val': val, 'predictions': predictions,
      'val_path': _write_json(base / 'val.json', val),
      'train_path': _write_json(base / 'train.json', make_train()),
      'run_flags': [f'--run={name}={paths[name]}' for name in RUNS],
      'evaluations': {
          iou: {name: lvis_evaluator.evaluate(val, dets, iou)
                for name, dets in predictions.items()}
          for iou in ('bbox', 'segm')},
  }


def _argv(world, output_dir, *extra):
  return world['run_flags'] + [
      f'--val_annotations={world["val_path"]}',
      f'--train_annotations={world["train_path"]}',
      f'--output_dir={output_dir}', f'--sigma={SIGMA}'] + list(extra)


@pytest.fixture(scope='module')
def analysis(world):
  """The command's outputs with default flags, into an existing directory
  holding a stale class_ap.csv (replaced with --overwrite only)."""
  output_dir = world['base'] / 'out'
  output_dir.mkdir()
  (output_dir / 'class_ap.csv').write_text('stale')
  stderr = io.StringIO()
  with contextlib.redirect_stderr(stderr):
    assert class_curves.main(_argv(world, output_dir)) == 2
  assert stderr.getvalue() == (
      f'error: --output_dir={output_dir}/class_ap.csv: the file exists; pass '
      '--overwrite to replace it.\n')
  assert os.listdir(output_dir) == ['class_ap.csv']
  stdout = io.StringIO()
  with contextlib.redirect_stdout(stdout):
    assert class_curves.main(_argv(world, output_dir, '--overwrite')) == 0
  return output_dir, stdout.getvalue()


def _read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def test_outputs_and_summary(analysis):
  output_dir, stdout = analysis
  assert sorted(os.listdir(output_dir)) == [
      'class_ap.csv', 'relative_ap_bbox.csv', 'relative_ap_bbox.png',
      'relative_ap_segm.csv', 'relative_ap_segm.png', 'tables.md']
  assert 'reference: finetune' in stdout
  assert 'box AP: finetune ' in stdout and 'mask AP: finetune ' in stdout
  assert f'wrote {output_dir / "tables.md"}' in stdout


def test_class_ap_csv_equals_evaluate(world, analysis):
  rows = _read_csv(analysis[0] / 'class_ap.csv')
  assert [int(r['category_id']) for r in rows] == sorted(FREQUENCIES)
  for row in rows:
    category_id = int(row['category_id'])
    assert row['name'] == f'thing{category_id}'
    assert row['frequency'] == FREQUENCIES[category_id]
    assert int(row['train_annotations']) == TRAIN_COUNTS[category_id]
    for iou, by_run in world['evaluations'].items():
      assert int(row['val_annotations']) == (
          by_run['finetune']['per_category_num_gt'][category_id])
      for name in RUNS:
        want = by_run[name]['per_category_ap'][category_id]
        got = row[f'ap_{iou}_{name}']
        if math.isnan(want):
          assert got == '' and category_id == 7
        else:
          assert float(got) == pytest.approx(want, abs=1e-12)
  aps = {r['category_id']: r for r in rows}
  assert float(aps['5']['ap_bbox_freeze']) == pytest.approx(1.0)
  assert float(aps['1']['ap_bbox_scratch']) == 0.0  # no detections


def test_gaussian_smooth_hand_computed():
  # At x = 10 with sigma = 10: weights e^-0.5, 1, e^-2.
  got = class_ap_smoothing.gaussian_smooth([0, 10, 30], [1.0, 2.0, 4.0],
                                           [10.0], sigma=10.0)
  e1, e2 = math.exp(-0.5), math.exp(-2.0)
  assert got[0] == pytest.approx((e1 + 2 + 4 * e2) / (e1 + 1 + e2))
  assert got[0] == pytest.approx(1.807184, abs=1e-6)
  # Far from every class the weights underflow; the ratio does not.
  far = class_ap_smoothing.gaussian_smooth([0, 10], [1.0, 3.0], [1000.0],
                                           sigma=1)
  assert far[0] == pytest.approx(3.0)
  assert np.isnan(class_ap_smoothing.gaussian_smooth([], [], [1.0], 1.0)).all()


@pytest.mark.parametrize('iou', ['bbox', 'segm'])
def test_relative_ap_csv_is_the_smoothed_difference(world, analysis, iou):
  rows = _read_csv(analysis[0] / f'relative_ap_{iou}.csv')
  assert list(rows[0]) == ['train_annotations', 'freeze', 'scratch']
  grid = [float(r['train_annotations']) for r in rows]
  assert grid == sorted(grid) and grid[0] == 2 and grid[-1] == 200
  by_run = world['evaluations'][iou]
  ref = by_run['finetune']['per_category_ap']
  ids = [c for c in sorted(ref) if not math.isnan(ref[c])]
  for name in ('freeze', 'scratch'):
    ap = by_run[name]['per_category_ap']
    diffs = [100 * (ap[c] - ref[c]) for c in ids]
    want = class_ap_smoothing.gaussian_smooth(
        [TRAIN_COUNTS[c] for c in ids], diffs, grid, SIGMA)
    got = [float(r[name]) for r in rows]
    np.testing.assert_allclose(got, want, atol=1e-9)
  # One class far below the others: the curve starts near its difference.
  scratch = by_run['scratch']['per_category_ap']
  assert float(rows[0]['scratch']) < 0 and scratch[1] == 0.0


@pytest.mark.parametrize('iou', ['bbox', 'segm'])
def test_plots_are_png_images(analysis, iou):
  path = analysis[0] / f'relative_ap_{iou}.png'
  data = path.read_bytes()
  assert data.startswith(b'\x89PNG\r\n\x1a\n') and len(data) > 10_000
  image = tf.io.decode_png(data)
  assert image.shape[0] > 200 and image.shape[1] > 300


def _cell(value):
  return '-' if value == -1 else f'{100 * value:.1f}'


def _delta(value, reference):
  if value == -1 or reference == -1:
    return '-'
  return f'{100 * (value - reference):+.1f}'


def test_tables_hold_the_evaluate_metrics(world, analysis):
  text = (analysis[0] / 'tables.md').read_text()
  assert '## Box AP (bbox)' in text and '## Mask AP (segm)' in text
  for iou, by_run in world['evaluations'].items():
    section = text.split(f'({iou})')[1]
    for names in (('AP', 'APr', 'APc', 'APf'), ('AP', 'APs', 'APm', 'APl')):
      assert '| run | ' + ' | '.join(names) + ' |' in section
      ref = by_run['finetune']['metrics']
      assert ('| finetune (reference) | ' +
              ' | '.join(_cell(ref[n]) for n in names) + ' |') in section
      for name in ('freeze', 'scratch'):
        metrics = by_run[name]['metrics']
        assert (f'| {name} | ' + ' | '.join(_cell(metrics[n]) for n in names)
                + ' |') in section
        assert (f'| {name} - finetune | ' + ' | '.join(
            _delta(metrics[n], ref[n]) for n in names) + ' |') in section
  freeze = world['evaluations']['bbox']['freeze']['metrics']
  assert _cell(freeze['APr']) == '100.0'
  assert class_ap_outputs.format_ap(-1.0) == '-'


def test_reference_and_iou_types_flags(world, tmp_path):
  output_dir = tmp_path / 'bbox_only'
  assert class_curves.main(_argv(world, output_dir, '--reference=freeze',
                                 '--iou_types=bbox')) == 0
  assert sorted(os.listdir(output_dir)) == [
      'class_ap.csv', 'relative_ap_bbox.csv', 'relative_ap_bbox.png',
      'tables.md']
  rows = _read_csv(output_dir / 'relative_ap_bbox.csv')
  assert list(rows[0]) == ['train_annotations', 'finetune', 'scratch']
  assert '| freeze (reference) |' in (output_dir / 'tables.md').read_text()


def test_default_iou_types_without_masks(world):
  boxes_only = {n: [{k: v for k, v in d.items() if k != 'segmentation'}
                    for d in dets]
                for n, dets in world['predictions'].items()}
  assert class_curves.choose_iou_types('', boxes_only, {}) == ['bbox']
  assert class_curves.choose_iou_types('', world['predictions'], {}) == [
      'bbox', 'segm']


def test_train_counts_from_instance_count():
  train = {'categories': [{'id': 1, 'instance_count': 5},
                          {'id': 2, 'instance_count': 0}]}
  assert class_curves.count_train_annotations(train, 'x') == {1: 5, 2: 0}
  assert class_curves.count_train_annotations(make_train(), 'x') == (
      TRAIN_COUNTS)


def _bad_inputs(world, base):
  """(name, argv, words the error must contain) per bad input."""
  def write(name, data):
    return _write_json(base / name, data)
  runs = world['run_flags']
  first = runs[0].split('=', 2)[2]
  no_score = [dict(world['predictions']['freeze'][0])]
  del no_score[0]['score']
  unknown_cat = [dict(world['predictions']['freeze'][0], category_id=99)]
  no_masks = [dict(world['predictions']['freeze'][0])]
  first_det = world['predictions']['freeze'][0]
  negative_box = [dict(first_det, bbox=[4, 4, -6, 8])]
  text_in_box = [dict(first_det, bbox=[4, '4', 6, 8])]
  text_score = [dict(first_det, score='0.9')]
  counts = {'categories': [{'id': 1, 'instance_count': 'many'}]}
  del no_masks[0]['segmentation']
  common = [f'--val_annotations={world["val_path"]}',
            f'--train_annotations={world["train_path"]}', '--sigma=40']
  return [
      ('one run', runs[:1] + common, ['--run', 'at least two']),
      ('duplicate', runs[:2] + [f'--run=finetune={first}'] + common,
       ['finetune', 'twice']),
      ('reference', runs + common + ['--reference=nope'],
       ['--reference', 'nope']),
      ('missing', runs[:2] + [f'--run=x={base}/none.json'] + common,
       ['none.json', 'does not exist']),
      ('not a list', runs[:2] + [f'--run=x={write("d.json", {"a": 1})}'] +
       common, ['d.json', 'list']),
      ('no score', runs[:2] + [f'--run=x={write("s.json", no_score)}'] +
       common, ['s.json', "'score'"]),
      ('category', runs[:2] + [f'--run=x={write("c.json", unknown_cat)}'] +
       common, ['c.json', 'category_id 99']),
      ('sigma 0', runs + common + ['--sigma=0'], ['--sigma']),
      ('sigma < 0', runs + common + ['--sigma=-5'], ['--sigma']),
      ('val', runs + [f'--val_annotations={base}/nov.json',
                      f'--train_annotations={world["train_path"]}'],
       ['--val_annotations', 'nov.json']),
      ('train', runs + [f'--val_annotations={world["val_path"]}',
                        f'--train_annotations={write("t.json", {})}'],
       ['t.json', 'annotations']),
      ('segm', runs[:2] + [f'--run=x={write("m.json", no_masks)}'] + common +
       ['--iou_types=bbox,segm'], ['m.json', 'segmentation']),
      ('iou type', runs + common + ['--iou_types=bbox,keypoints'],
       ['--iou_types', 'keypoints']),
      ('negative box', runs[:2] + [f'--run=x={write("n.json", negative_box)}']
       + common, ['n.json', 'entry 0', '[4, 4, -6, 8]', 'not negative']),
      ('text in box', runs[:2] + [f'--run=x={write("b.json", text_in_box)}']
       + common, ['b.json', "[4, '4', 6, 8]", 'finite numbers']),
      ('text score', runs[:2] + [f'--run=x={write("t.json", text_score)}']
       + common, ['t.json', "score '0.9'", 'finite number']),
      ('text count', runs + [f'--val_annotations={world["val_path"]}',
                             f'--train_annotations={write("i.json", counts)}'],
       ['i.json', "instance_count 'many'"]),
  ]


def test_bad_inputs_exit_2_and_write_nothing(world, tmp_path, capsys):
  for name, argv, words in _bad_inputs(world, tmp_path):
    output_dir = tmp_path / 'out'
    assert class_curves.main(argv + [f'--output_dir={output_dir}']) == 2, name
    err = capsys.readouterr().err
    assert err.startswith('error: '), (name, err)
    for word in words:
      assert word in err, (name, word, err)
    assert not output_dir.exists(), name


def test_output_dir_that_is_a_file(world, tmp_path, capsys):
  path = tmp_path / 'file'
  path.write_text('')
  assert class_curves.main(_argv(world, path)) == 2
  assert (f'--output_dir={path}: expected a folder to write, found a file'
          in capsys.readouterr().err)
  # Checked before the work: under a file, or where it cannot be written.
  assert class_curves.main(_argv(world, path / 'out')) == 2
  assert f'{path} is a file' in capsys.readouterr().err


def test_failure_while_writing_leaves_no_partial_files(world, tmp_path):
  output_dir = tmp_path / 'out'
  output_dir.mkdir()
  (output_dir / 'tables.md').write_text('old')
  with mock.patch.object(tf.io.gfile, 'rename', side_effect=OSError('full')):
    assert class_curves.main(_argv(world, output_dir, '--overwrite')) == 2
  assert os.listdir(output_dir) == ['tables.md']
  assert (output_dir / 'tables.md').read_text() == 'old'
