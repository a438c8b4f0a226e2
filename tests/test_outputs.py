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

"""One rule for every command's outputs (`files.check_outputs`): a file
that exists is replaced only with --overwrite, and an output that is,
contains or lies inside one of the command's inputs is refused, --overwrite
or not. Each case runs the command in this process: exit 2, one line
naming the flag, the user's files untouched, nothing new written."""
import glob
import os
import shutil

import pytest
import yaml

from official_projects_backbone_reuse.analysis import input_samples
from official_projects_backbone_reuse.analysis import report
from official_projects_backbone_reuse.analysis import resources
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.data_tools import convert_classification
from official_projects_backbone_reuse.data_tools import convert_detection
from official_projects_backbone_reuse.data_tools import convert_lvis
from official_projects_backbone_reuse.data_tools import convert_voc
from official_projects_backbone_reuse.data_tools import few_shot
from official_projects_backbone_reuse.data_tools import label_fraction
from official_projects_backbone_reuse.data_tools import proposals
from official_projects_backbone_reuse.runtime import checks
from official_projects_backbone_reuse.serving import detect
from official_projects_backbone_reuse.serving import export_saved_model
from official_projects_backbone_reuse.study import runner
from tests import reuse_helpers as h
from tests import runtime_helpers as rh

EXISTS = ': the file exists; pass --overwrite to replace it.'
ELSEWHERE = '; write it elsewhere (--overwrite does not change this).'


class _User:
  """A user's folder `d`: data/ (an image, an annotation file, a TFRecord)
  and their own files beside it; `upstream`, a classifier checkpoint's
  folder; `config`, a detector's YAML that reads them."""

  def __init__(self, d, upstream, world, config):
    self.d, self.upstream, self.world, self.config = d, upstream, world, config
    self.data, self.mine = d / 'data', d / 'mine.json'
    self.image, self.ann = self.data / 'a.jpg', self.data / 'val.json'
    self.record = self.data / 'train-00000-of-00001.tfrecord'

  def detector(self):
    params = h.retinanet_config(self.upstream)
    params.task.annotation_file = str(self.ann)
    return params


def _shards(prefix, *more):
  return [f'--output_prefix={prefix}', '--num_shards=1', *more]


_export = errors.exits_on_error(export_saved_model.export)
_detect = errors.exits_on_error(detect.run_cli)
_load_run = errors.exits_on_error(checks.load_run)

# name: (run(user) -> exit status, what the one line says (user)).
_CASES = {
    'convert-voc: <prefix>.json is the user\'s': (
        lambda u: convert_voc.main(['--voc_root', str(u.data),
                                    '--sets=2007:trainval',
                                    *_shards(u.d / 'mine')]),
        lambda u: f'--output_prefix={u.mine}{EXISTS}'),
    'convert-classification: <prefix>-labels.txt is the user\'s': (
        lambda u: convert_classification.main(['--image_root', str(u.data),
                                               *_shards(u.d / 'classes')]),
        lambda u: f'--output_prefix={u.d}/classes-labels.txt{EXISTS}'),
    'convert-detection: shards inside --image_dir': (
        lambda u: convert_detection.main([
            '--annotation_file', str(u.ann), '--image_dir', str(u.data),
            '--overwrite', *_shards(u.data / 'records' / 'train')]),
        lambda u: f'lies inside the input --image_dir={u.data}{ELSEWHERE}'),
    'convert-lvis: shards inside --image_root': (
        lambda u: convert_lvis.main([
            '--annotation_file', str(u.ann), '--image_root', str(u.data),
            *_shards(u.data / 'train')]),
        lambda u: f'lies inside the input --image_root={u.data}{ELSEWHERE}'),
    'proposals: a shard is the --input_pattern file': (
        lambda u: proposals.main(['--input_pattern', str(u.record),
                                  '--overwrite', *_shards(u.data / 'train')]),
        lambda u: f'--output_prefix={u.record}: the output is the input '
        f'--input_pattern={u.record}{ELSEWHERE}'),
    'export: --export_dir holds --checkpoint_path': (
        lambda u: _export(u.detector(), u.upstream, u.upstream,
                          overwrite=True),
        lambda u: f'--export_dir={u.upstream}: the output contains the input '
        f'--checkpoint_path={u.upstream}/ckpt-1.index{ELSEWHERE}'),
    'export: --export_dir lies inside the annotation file\'s folder': (
        lambda u: _export(u.detector(), u.upstream, str(u.ann / 'x')),
        lambda u: f'{u.ann} is a file.'),
    'detect: --output_json is an --image': (
        lambda u: _detect(str(u.d / 'export'), [str(u.image)],
                          str(u.d / 'drawn'), 0.3, str(u.image),
                          overwrite=True),
        lambda u: f'--output_json={u.image}: the output is the input '
        f'--image={u.image}{ELSEWHERE}'),
    'detect: a drawn PNG is there': (
        lambda u: _detect(str(u.d / 'export'), [str(u.image)], str(u.d), 0.3,
                          None),
        lambda u: f'--output_dir={u.d}/a_detections.png{EXISTS}'),
    'report: --output is its experiment file': (
        lambda u: report.main([f'backbone_reuse_retinanet:{u.config}',
                               f'--output={u.config}', '--overwrite']),
        lambda u: f'--output={u.config}: the output is the input experiment '
        f'file={u.config}{ELSEWHERE}'),
    'report: --output is there': (
        lambda u: report.main(['--list', f'--output={u.mine}']),
        lambda u: f'--output={u.mine}{EXISTS}'),
    'resources: --csv is there': (
        lambda u: resources.main([f'backbone_reuse_retinanet:{u.config}',
                                  '--flops_only', f'--csv={u.mine}']),
        lambda u: f'--csv={u.mine}{EXISTS}'),
    'show-inputs: --output is its experiment file': (
        lambda u: input_samples.main([f'backbone_reuse_retinanet:{u.config}',
                                      f'--output={u.config}', '--overwrite']),
        lambda u: f'the input experiment file={u.config}{ELSEWHERE}'),
    'train: --model_dir holds task.init_checkpoint': (
        lambda u: _load_run('backbone_reuse_retinanet', [u.config],
                            mode='train', model_dir=u.upstream),
        lambda u: f'--model_dir={u.upstream}: the output contains the input '
        f'task.init_checkpoint={u.upstream}/ckpt-1.index{ELSEWHERE}'),
    'train: --model_dir holds the training data': (
        lambda u: _load_run(
            'backbone_reuse_retinanet', [u.config], mode='train',
            model_dir=os.path.dirname(u.world.det_train_pattern)),
        lambda u: 'the output contains the input task.train_data.input_path='),
    'few-shot: a base set is there': (
        lambda u: few_shot.main(['--annotation_file', str(u.ann),
                                 f'--output_dir={u.d}', '--splits=1',
                                 '--seeds=0', '--shots=1']),
        lambda u: f'--output_dir={u.d}/base_split1.json{EXISTS}'),
    'label-fraction: a set is the --annotation_file': (
        lambda u: label_fraction.main([
            '--annotation_file', f'{u.d}/5pct_seed0.json', '--overwrite',
            f'--output_dir={u.d}', '--percents=5', '--seeds=0']),
        lambda u: f'--output_dir={u.d}/5pct_seed0.json: the output is the '
        f'input --annotation_file={u.d}/5pct_seed0.json{ELSEWHERE}'),
    'study: --workdir lies inside its world': (
        lambda u: runner.main(['run', f'{u.d}/study.yaml',
                                f'--workdir={u.d}/w/s']),
        lambda u: f'--workdir={u.d}/w/s: the output lies inside the input '
        f'world={u.d}/w{ELSEWHERE}'),
}


@pytest.fixture
def user(tmp_path, tiny_world, upstream):
  d = tmp_path / 'user'
  data = d / 'data'
  data.mkdir(parents=True)
  (data / 'a.jpg').write_bytes(b'\xff\xd8 not decoded before the check')
  shutil.copy(tiny_world.det_val_json, data / 'val.json')
  shutil.copy(sorted(glob.glob(tiny_world.det_train_pattern))[0],
              data / 'train-00000-of-00001.tfrecord')
  for name, text in (('mine.json', 'the user\'s own'),
                     ('classes-labels.txt', 'cat\ndog\n'),
                     ('a_detections.png', 'an earlier drawing'),
                     ('base_split1.json', '{}'), ('5pct_seed0.json', '{}')):
    (d / name).write_text(text)
  params = h.set_data(h.retinanet_config(upstream),
                      tiny_world.det_train_pattern)
  config = rh.write_config(params, d / 'frozen.yaml')
  (d / 'w').mkdir()  # a study's world, and the study
  (d / 'study.yaml').write_text(yaml.safe_dump({
      'world': str(d / 'w'), 'initialisations': ['frozen'],
      'upstreams': {'imagenet': '{world}/upstream'}, 'seeds': [0],
      'rows': [{'name': 'small', 'experiment': 'backbone_reuse_retinanet',
                'config_files': [config]}]}))
  return _User(d, upstream, tiny_world, config)


def _snapshot(*folders):
  state = {}
  for folder in map(str, folders):
    for root, dirs, names in os.walk(folder):
      state[root] = sorted(dirs)
      for name in names:
        with open(os.path.join(root, name), 'rb') as f:
          state[os.path.join(root, name)] = f.read()
  return state


@pytest.mark.parametrize('case', sorted(_CASES))
def test_no_output_replaces_a_users_file_or_an_input(user, capsys, case):
  run, said = _CASES[case]
  before = _snapshot(user.d, user.upstream,
                     os.path.dirname(user.world.det_train_pattern))
  assert run(user) == 2
  err = capsys.readouterr().err
  assert err.startswith('error: ') and err.count('\n') == 1, err
  assert said(user) in err
  assert _snapshot(user.d, user.upstream, os.path.dirname(
      user.world.det_train_pattern)) == before  # untouched, nothing new
