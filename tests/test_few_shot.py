"""Few-shot splits (FsDet's protocol): K-shot sets nested, seeded and
reproducible, holding at least K objects of each class from images that
have it; base sets without the novel classes."""
import json

import pytest

from official_projects_backbone_reuse.data_tools import few_shot


def _content():
  """Three classes; class 1 in images 1-6 (one object each), class 2 in
  images 1-3 (image 3: three objects), class 3 only in image 7."""
  annotations = [(i, 1) for i in range(1, 7)] + [(1, 2), (2, 2)] + [
      (3, 2)] * 3 + [(7, 3)]
  return {
      'images': [{'id': i, 'file_name': f'{i}.jpg', 'width': 10,
                  'height': 10} for i in range(1, 8)],
      'categories': [{'id': c, 'name': n}
                     for c, n in ((1, 'a'), (2, 'b'), (3, 'c'))],
      'annotations': [{'id': n + 1, 'image_id': image, 'category_id': c,
                       'bbox': [0, 0, 5, 5], 'area': 25, 'iscrowd': 0}
                      for n, (image, c) in enumerate(annotations)],
  }


def _count(content, category, images):
  return sum(1 for a in content['annotations']
             if a['category_id'] == category and a['image_id'] in images)


def _fsdet_reference(content, shots, seed):
  """FsDet's prepare_voc_few_shot.py sampling loop, transcribed (its XML
  reading replaced by the annotation dicts)."""
  import random
  data_per_cat = {c['id']: [] for c in content['categories']}
  for image in content['images']:
    classes = {a['category_id'] for a in content['annotations']
               if a['image_id'] == image['id']}
    for c in sorted(classes):
      data_per_cat[c].append(image['id'])
  result = {c: {} for c in data_per_cat}
  random.seed(seed)
  for c in data_per_cat:
    c_data = []
    for j, shot in enumerate(shots):
      diff_shot = shots[j] - shots[j - 1] if j != 0 else 1
      shots_c = random.sample(data_per_cat[c], diff_shot)
      num_objs = 0
      for s in shots_c:
        if s not in c_data:
          c_data.append(s)
          num_objs += _count(content, c, [s])
          if num_objs >= diff_shot:
            break
      result[c][shot] = list(c_data)
  return result


def test_shots_are_fsdets_nested_and_seeded():
  content = _content()
  content['annotations'] = [a for a in content['annotations']
                            if a['category_id'] != 3]  # under 3 images:
  content['categories'] = content['categories'][:2]    # FsDet cannot
  shots = (1, 2, 3)
  chosen = few_shot.sample_shots(content, shots, seed=4)
  assert chosen == few_shot.sample_shots(content, shots, seed=4)
  assert any(few_shot.sample_shots(content, shots, seed=s) != chosen
             for s in range(5, 10))
  for seed in range(10):
    chosen = few_shot.sample_shots(content, shots, seed)
    reference = _fsdet_reference(content, shots, seed)
    assert chosen == {k: {c: reference[c][k] for c in reference}
                      for k in shots}, seed
    for category in (1, 2):
      for small, large in zip(shots, shots[1:]):
        assert chosen[large][category][:len(chosen[small][category])] == (
            chosen[small][category])  # nested
      assert all(_count(content, category, [i]) for i in chosen[3][category])


def test_a_draw_already_taken_is_skipped_as_fsdet():
  # Class 2's images hold 1, 1 and 3 objects; some seed's 3-shot set holds
  # fewer than 3 objects because a draw hit an image taken before.
  content = _content()
  counts = {_count(content, 2, few_shot.sample_shots(content, (1, 2, 3),
                                                     s)[3][2])
            for s in range(20)}
  assert min(counts) < 3 <= max(counts)
  assert few_shot.sample_shots(content, (1, 5), 0)[5][3] == [7]  # all there is


def test_a_few_shot_set_keeps_only_the_sampled_classes_objects():
  content = _content()
  per_class = {1: [1, 2], 2: [3], 3: []}
  found = few_shot.few_shot_set(content, per_class)
  assert [i['id'] for i in found['images']] == [1, 2, 3]
  kept = sorted((a['image_id'], a['category_id'])
                for a in found['annotations'])
  # Image 1 also holds a class-2 object, not sampled for class 2: left out.
  assert kept == [(1, 1), (2, 1), (3, 2), (3, 2), (3, 2)]


def test_base_sets_drop_the_novel_classes_and_empty_images():
  content = _content()
  base = few_shot.base_set(content, novel_ids=[3])
  assert [i['id'] for i in base['images']] == [1, 2, 3, 4, 5, 6]
  assert all(a['category_id'] != 3 for a in base['annotations'])
  assert len(base['annotations']) == len(content['annotations']) - 1


def test_the_command_writes_every_split(tmp_path, capsys):
  path = tmp_path / 'trainval.json'
  path.write_text(json.dumps(_content()))
  out = tmp_path / 'splits'
  status = few_shot.main(['--annotation_file', str(path), '--output_dir',
                          str(out), '--seeds', '0-1', '--shots', '1,2',
                          '--novel', 'c'])
  assert status == 0
  written = sorted(p.relative_to(out).as_posix() for p in out.rglob('*.json'))
  assert written == ['base_split1.json', 'seed0/1shot.json',
                     'seed0/2shot.json', 'seed1/1shot.json',
                     'seed1/2shot.json']
  summary = json.loads(capsys.readouterr().out)
  assert summary['base']['1']['novel_category_ids'] == [3]


def _unknown_category(content):
  content['annotations'][0]['category_id'] = 9


def _no_annotations(content):
  content['annotations'] = []


@pytest.mark.parametrize('args, change, message', [
    (['--novel', 'x'], None, "novel class 'x' is not a category"),
    (['--splits', '4'], None, '--splits: expected some of 1,2,3'),
    (['--shots', 'a'], None, "--shots: expected N-M or N,N,..., found 'a'"),
    (['--novel', 'c'], _unknown_category, 'trainval.json: annotation id 1 has '
     'category_id 9, which is not the id of any entry in \'categories\''),
    (['--novel', 'c'], _no_annotations,
     "trainval.json: 'annotations' is empty"),
])
def test_bad_input_is_one_line(tmp_path, capsys, args, change, message):
  content = _content()
  if change:
    change(content)
  path = tmp_path / 'trainval.json'
  path.write_text(json.dumps(content))
  status = few_shot.main(['--annotation_file', str(path), '--output_dir',
                          str(tmp_path / 'out' / 'splits')] + args)
  err = capsys.readouterr().err.strip().splitlines()
  assert status == 2 and len(err) == 1 and message in err[0], err
  assert not (tmp_path / 'out').exists()
