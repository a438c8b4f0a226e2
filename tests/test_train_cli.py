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

"""One config path: train, export and report load experiments the same way
(`configs.loading.load_experiment`), refuse bad ones with one readable line
and exit status 2, writing nothing, and accept what Model Garden accepts
(comma-separated `input_path`, `--gin_file` / `--gin_params`).

The commands themselves run once, in subprocesses; every other case loads
the flags in this process, through the function `train.py` calls."""
import os
import types

import gin
import pytest
import tensorflow as tf

from official_projects_backbone_reuse.analysis import report
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common.errors import ConfigError
from official_projects_backbone_reuse.configs import loading
from official_projects_backbone_reuse.runtime import checks
from official_projects_backbone_reuse.runtime import input_files
from official_projects_backbone_reuse.runtime import integrity
from tests import reuse_helpers as h
from tests import runtime_helpers as rh

BASE = ['--experiment=backbone_reuse_retinanet',
        f'--config_file={h.RETINANET_YAML}']


def _last_error_line(proc):
  assert proc.returncode == 2, proc.stderr[-2000:]
  last = proc.stderr.strip().splitlines()[-1]
  assert last.startswith('error: '), last
  return last


def _train(tmp_path, *args):
  model_dir = tmp_path / 'run'
  proc = rh.run(rh.python_m(rh.TRAIN_MODULE, '--mode=train',
                            f'--model_dir={model_dir}', *args))
  return proc, model_dir


def _flags(tmp_path, experiment='backbone_reuse_retinanet', config_file=(),
           params_override='', gin_params=()):
  """Model Garden's flags of a `train.py --mode=train` command."""
  return types.SimpleNamespace(
      experiment=experiment,
      config_file=[str(h.RETINANET_YAML), *config_file],
      params_override=params_override, tpu=None, tf_data_service=None,
      gin_file=None, gin_params=list(gin_params), mode='train',
      model_dir=str(tmp_path / 'run'))


@pytest.mark.parametrize('case', ['experiment', 'yaml_key', 'input_path',
                                  'checkpoint', 'gin', 'category_ids',
                                  'annotation_file', 'classification_records',
                                  'no_boxes', 'class_outside', 'wrong_type',
                                  'yaml_tab', 'yaml_python_tag', 'batch_0',
                                  'model_dir_file', 'upstream_architecture',
                                  'empty_records', 'init_checkpoints',
                                  'init_checkpoints_upstream',
                                  'mask_head_without_masks',
                                  'voc07_recall_points'])
def test_bad_config_fails_clearly(case, tmp_path, request):
  if case == 'experiment':
    flags, expected = _flags(tmp_path, 'retinanet_froze'), "'retinanet_froze'"
  elif case == 'yaml_key':
    bad = tmp_path / 'bad.yaml'
    bad.write_text('task:\n  model:\n    num_clases: 3\n')
    flags, expected = _flags(tmp_path, config_file=[bad]), "'num_clases'"
  elif case == 'input_path':
    flags = _flags(tmp_path, params_override='task.train_data.input_path='
                   f'{tmp_path}/none*')
    expected = 'task.train_data.input_path'
  elif case == 'checkpoint':
    flags = _flags(tmp_path, params_override=f'task.init_checkpoint='
                   f'{tmp_path}/x,task.train_data.input_path={__file__}')
    expected = 'task.init_checkpoint'
  elif case == 'category_ids':  # the small YAML has num_classes 25
    annotations = tmp_path / 'val.json'
    annotations.write_text('{"categories": [{"id": 1}, {"id": 30}]}')
    flags = _flags(tmp_path, params_override=f'task.annotation_file='
                   f'{annotations},task.train_data.input_path={__file__}')
    expected = (f'task.annotation_file={annotations}: category id 30 (1 in '
                'all) is not a class of the model')
  elif case == 'annotation_file':
    annotations = tmp_path / 'val.json'
    annotations.write_text('{"images": []}')
    flags = _flags(tmp_path, params_override=f'task.annotation_file='
                   f'{annotations},task.train_data.input_path={__file__}')
    expected = f'task.annotation_file={annotations}: cannot read the categories'
  elif case in ('classification_records', 'no_boxes', 'class_outside'):
    record = {'classification_records': _example(detection=False),
              'no_boxes': _example(labels=()),
              'class_outside': _example(labels=(3, 30))}[case]
    _tfrecords(tmp_path / 'data', ['train-0.tfrecord'], record)
    flags = _flags(tmp_path, params_override='task.train_data.input_path='
                   f'{tmp_path}/data/train-*,task.init_checkpoint=')
    expected = 'task.train_data.input_path: ' + {
        'classification_records': f'{tmp_path}/data/train-0.tfrecord holds '
                                  "records without 'image/object/bbox/xmin'",
        'no_boxes': 'the first 1 records hold no boxes at all',
        'class_outside': f'{tmp_path}/data/train-0.tfrecord: a box of class '
                         '30 is not a class of the model'}[case]
  elif case in ('wrong_type', 'yaml_tab', 'yaml_python_tag', 'batch_0'):
    bad = tmp_path / 'bad.yaml'
    bad.write_text({
        'wrong_type': 'task:\n  model:\n    num_classes: "twenty"\n',
        'yaml_tab': 'task:\n\tmodel: {}\n',
        'yaml_python_tag': 'task: !!python/object/apply:os.system [ls]\n',
        'batch_0': 'task:\n  train_data:\n    global_batch_size: 0\n'}[case])
    flags = _flags(tmp_path, config_file=[bad], params_override=(
        f'task.train_data.input_path={__file__}'))
    expected = {
        'wrong_type': "task.model.num_classes='twenty': expected a number",
        'yaml_tab': f"--config_file={bad}: while scanning for the next token "
                    "found character '\\t'",
        'yaml_python_tag': f'--config_file={bad}: could not determine a '
                           'constructor for the tag',
        'batch_0': 'task.train_data.global_batch_size=0: expected at least 1'
    }[case]
  elif case == 'model_dir_file':
    flags = _flags(tmp_path, params_override=(
        f'task.train_data.input_path={__file__}'))
    open(flags.model_dir, 'w').close()
    expected = f'--model_dir={flags.model_dir}: a file, not a directory'
  elif case == 'empty_records':
    (tmp_path / 'data').mkdir()
    (tmp_path / 'data' / 'train-0.tfrecord').write_bytes(b'')
    flags = _flags(tmp_path, params_override='task.train_data.input_path='
                   f'{tmp_path}/data/train-*,task.init_checkpoint=')
    expected = ('task.train_data.input_path: its 1 file(s) '
                f'({tmp_path}/data/train-0.tfrecord, ...) hold no records')
  elif case == 'upstream_architecture':  # found before the model is built
    upstream = request.getfixturevalue('upstream')  # a ResNet-10
    flags = _flags(tmp_path, params_override=(
        f'task.init_checkpoint={upstream},'
        f'task.train_data.input_path={__file__}'))
    expected = ('would not compute what it computed in pre-training: '
                f'{upstream}/params.yaml differs from this config in '
                'backbone.resnet.model_id: upstream 10, here 18')
  elif case in ('init_checkpoints', 'init_checkpoints_upstream'):
    # A part's checkpoint, checked before the run as task.init_checkpoint.
    upstream = (request.getfixturevalue('upstream')
                if case.endswith('upstream') else f'{tmp_path}/x')
    entries = tmp_path / 'entries.yaml'
    entries.write_text(
        'task:\n  init_checkpoint: ""\n  init_checkpoints:\n'
        f'    - {{checkpoint: {tmp_path}/y, modules: [decoder, head]}}\n'
        f'    - {{checkpoint: {upstream}, modules: [backbone]}}\n')
    flags = _flags(tmp_path, config_file=[entries], params_override=(
        f'task.train_data.input_path={__file__}'))
    expected = ({'init_checkpoints': f"task.init_checkpoints[0].checkpoint="
                                     f"'{tmp_path}/y': no such checkpoint"}
                .get(case, f'{upstream}/params.yaml differs from this config '
                           'in backbone.resnet.model_id: upstream 10, here '
                           '18'))
    if case.endswith('upstream'):
      h.make_upstream_checkpoint(str(tmp_path / 'y'))  # the first exists
  elif case == 'voc07_recall_points':
    flags = _flags(tmp_path, params_override=(
        'task.evaluation.voc07_recall_points=matlab,'
        f'task.train_data.input_path={__file__}'))
    expected = ("task.evaluation.voc07_recall_points='matlab': expected "
                '"detectron2" or "devkit".')
  elif case == 'mask_head_without_masks':  # converted with --no_masks
    _tfrecords(tmp_path / 'data', ['train-0.tfrecord'], _example((3,)))
    flags = _flags(tmp_path, 'backbone_reuse_maskrcnn', params_override=(
        f'task.train_data.input_path={tmp_path}/data/train-*,'
        'task.init_checkpoint='))
    flags.config_file = [os.path.join(h.SMALL, 'lvis_maskrcnn.yaml')]
    expected = (f'task.train_data.input_path: {tmp_path}/data/train-0.tfrecord'
                ' holds a record with 1 box(es) and 0 instance mask(s) '
                '(image/object/mask), but the model has a mask head')
  else:  # Model Garden's flag, once accepted and ignored
    flags = _flags(tmp_path, gin_params=['no_such_configurable.x = 1'])
    expected = '--gin_params'
  with pytest.raises(errors.UserError) as e:
    checks.load_from_flags(flags)
  assert expected in errors.one_line(e.value)
  assert case == 'model_dir_file' or not os.path.exists(flags.model_dir)


@pytest.mark.slow
def test_train_export_and_report_refuse_a_contradiction_alike(tmp_path,
                                                              capsys):
  contradiction = '--params_override=task.freeze_at=2'
  train, model_dir = _train(tmp_path, *BASE, contradiction)
  export = rh.run(rh.python_m(
      'official_projects_backbone_reuse.serving.export_saved_model', *BASE,
      contradiction, f'--checkpoint_path={tmp_path}',
      f'--export_dir={tmp_path / "export"}'))
  assert report.main(['--input_size=128', contradiction,
                      f'backbone_reuse_retinanet:{h.RETINANET_YAML}']) == 2
  from_report = capsys.readouterr().err.strip().splitlines()[-1]
  expected = 'task.freeze_at=2 contradicts task.freeze_backbone=true'
  for line in (_last_error_line(train), _last_error_line(export),
               from_report):
    assert expected in line, line
  assert os.listdir(tmp_path) == []  # not even the model dir


def _example(labels=(1,), detection=True) -> bytes:
  """A tf.Example: detection (boxes of `labels`) or classification."""
  ints = lambda v: tf.train.Feature(int64_list=tf.train.Int64List(value=v))
  floats = lambda v: tf.train.Feature(float_list=tf.train.FloatList(value=v))
  feature = {'image/encoded': tf.train.Feature(
      bytes_list=tf.train.BytesList(value=[b'jpeg']))}
  if detection:
    feature.update({'image/object/bbox/xmin': floats([0.1] * len(labels)),
                    'image/object/class/label': ints(labels)})
  else:
    feature['image/class/label'] = ints([3])
  return tf.train.Example(features=tf.train.Features(
      feature=feature)).SerializeToString()


def _tfrecords(directory, names, record=None):
  directory.mkdir()
  for name in names:
    with tf.io.TFRecordWriter(str(directory / name)) as writer:
      writer.write(record or _example())


def test_comma_separated_input_path_is_checked_pattern_by_pattern(tmp_path):
  _tfrecords(tmp_path / 'a', ['a-0.tfrecord', 'a-1.tfrecord'])
  _tfrecords(tmp_path / 'b', ['b-0.tfrecord'])
  both = f'{tmp_path}/a/a-*, {tmp_path}/b/b-*'  # as Model Garden reads it
  override = {'task': {'train_data': {'input_path': both}}}
  params = checks.load_run('backbone_reuse_retinanet', [h.RETINANET_YAML],
                           override, mode='train',
                           model_dir=str(tmp_path / 'run'))
  assert params.task.train_data.input_path == both
  # The search for a damaged file reads the files of both patterns.
  assert integrity.check_input_files(params, 'train') == []
  assert len(input_files.files(both)) == 3
  missing = {'task': {'train_data': {
      'input_path': f'{tmp_path}/a/a-*,{tmp_path}/c/c-*'}}}
  with pytest.raises(ConfigError, match=rf"'{tmp_path}/c/c-\*' matches no "
                                        'file'):
    checks.load_run('backbone_reuse_retinanet', [h.RETINANET_YAML], missing,
                    mode='train', model_dir=str(tmp_path / 'run'))


def test_gin_bindings_are_applied_as_model_garden_applies_them(tmp_path):
  gin_file = tmp_path / 'trainer.gin'
  gin_file.write_text('create_trainer.evaluate = False\n')
  try:
    loading.load_experiment('backbone_reuse_retinanet', [h.RETINANET_YAML],
                            gin_files=[str(gin_file)],
                            gin_params=['create_trainer.train = True'])
    assert gin.query_parameter('create_trainer.evaluate') is False
    assert gin.query_parameter('create_trainer.train') is True
  finally:
    gin.clear_config()
  with pytest.raises(ConfigError, match='--gin_file=.*nowhere.gin: no such'):
    loading.load_experiment('backbone_reuse_retinanet', gin_files=[
        str(tmp_path / 'nowhere.gin')])


def test_a_run_needs_what_a_config_alone_does_not():
  # A stage-2 recipe can be loaded (report, studies) before its stage-1
  # checkpoint exists; a run of it cannot.
  stage2 = ['experiments/small/lvis_maskrcnn.yaml',
            'experiments/small/lvis_stage2.yaml']
  stage2 = [os.path.join(h.REPO, f) for f in stage2]
  loading.load_experiment('backbone_reuse_maskrcnn', stage2)
  with pytest.raises(ConfigError, match='re-tunes a stage-1 detector'):
    checks.load_run('backbone_reuse_maskrcnn', stage2, mode='train',
                    model_dir='/nonexistent')


def test_a_command_refuses_a_positional_argument(monkeypatch, capsys):
  # `--overwrite true` leaves `true` positional: absl alone would drop it.
  ran = []
  run = errors.absl_entry_point(lambda: None, lambda argv: ran.append(argv))
  monkeypatch.setattr('sys.argv', ['backbone-reuse-export', 'true'])
  with pytest.raises(SystemExit) as stopped:
    run()
  assert stopped.value.code == 1 and not ran
  assert "unexpected arguments: ['true']" in capsys.readouterr().err
  monkeypatch.setattr('sys.argv', ['backbone-reuse-export'])
  with pytest.raises(SystemExit):
    run()
  assert ran == [['backbone-reuse-export']]
