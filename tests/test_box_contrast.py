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

"""AlignDet's box-domain contrastive pieces: the loss against a literal
transcription of the reference's loop, the EMA rule, the projections."""
import math

import numpy as np
import pytest
import tensorflow as tf

from official_projects_backbone_reuse.modeling import box_contrast

BG = box_contrast.BACKGROUND


def _reference(online, online_ids, target, target_ids, temperature=0.5):
  """AlignDet's `ContrastiveLoss` and the per-id loop of its heads
  (`retina_head.py` L99-131), in numpy, one id and one pair at a time."""
  def normalize(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)
  online, target = normalize(online), normalize(target)
  losses = []
  for label in np.unique(online_ids):
    if label == BG:
      continue
    query = online[online_ids == label]
    key = target[target_ids == label]
    if not len(key):
      key = query
    negatives = np.concatenate([online[online_ids != label],
                                target[target_ids != label]])
    rows = []
    for k in key:
      for q in query:
        logits = np.concatenate([[q @ k], negatives @ q]) / temperature
        rows.append(-logits[0] + math.log(np.exp(logits).sum()))
    losses.append(np.mean(rows))
  return np.mean(losses) if losses else 0.0


def _case(seed, n=7, m=6, dim=5, ids=3):
  rng = np.random.default_rng(seed)
  online_ids = rng.integers(-1, ids, n)
  target_ids = rng.integers(-1, ids, m)
  return (rng.normal(size=(n, dim)).astype(np.float32), online_ids,
          rng.normal(size=(m, dim)).astype(np.float32), target_ids)


def test_a_hand_computed_case():
  # Two online samples of proposal 0, one of 1; one target sample each.
  # Unit vectors, so the dot products read off directly.
  online = np.array([[1, 0], [0, 1], [-1, 0]], np.float32)
  target = np.array([[1, 0], [0, -1]], np.float32)
  loss = box_contrast.contrastive_loss(online, [0, 0, 1], target, [0, 1],
                                       temperature=0.5)
  # id 0: key t0=(1,0); queries (1,0) and (0,1); negatives o2=(-1,0),
  # t1=(0,-1). id 1: key t1; query (-1,0); negatives o0, o1, t0.
  def term(positive, negatives):
    return -positive / 0.5 + math.log(
        math.exp(positive / 0.5) + sum(math.exp(n / 0.5) for n in negatives))
  id0 = (term(1, [-1, 0]) + term(0, [0, -1])) / 2
  id1 = term(0, [-1, 0, -1])
  assert float(loss) == pytest.approx((id0 + id1) / 2, rel=1e-6)


@pytest.mark.parametrize('seed', range(6))
def test_it_is_the_references_loop(seed):
  args = _case(seed)
  np.testing.assert_allclose(float(box_contrast.contrastive_loss(*args)),
                             _reference(*args), rtol=1e-5)


def test_an_id_absent_from_the_target_view_pairs_its_queries():
  online, online_ids, target, _ = _case(0)
  target_ids = np.full(len(target), 7)  # no online id in the target view
  np.testing.assert_allclose(
      float(box_contrast.contrastive_loss(online, online_ids, target,
                                          target_ids)),
      _reference(online, online_ids, target, target_ids), rtol=1e-5)


def test_nothing_to_contrast_is_zero():
  online, _, target, target_ids = _case(1)
  assert float(box_contrast.contrastive_loss(
      online, np.full(len(online), BG), target, target_ids)) == 0.0


def test_gradients_reach_the_queries_only():
  online, online_ids, target, target_ids = _case(2)
  online, target = tf.Variable(online), tf.Variable(target)
  with tf.GradientTape() as tape:
    loss = box_contrast.contrastive_loss(online, online_ids, target,
                                         target_ids)
  grad_online, grad_target = tape.gradient(loss, [online, target])
  assert grad_target is None
  # A background sample is only ever a (detached) negative: no gradient.
  background = online_ids == BG
  assert background.any()
  assert np.all(grad_online.numpy()[background] == 0)
  assert np.any(grad_online.numpy()[~background] != 0)


def _reference_tf(online, online_ids, target, target_ids, temperature=0.5):
  """The reference's loop again, in TensorFlow, for its gradients: the
  query carries the gradient, keys of the target view and negatives
  (`negatives.detach()`) do not; a key that is the query itself does."""
  q_all = tf.math.l2_normalize(online, axis=1)
  k_all = tf.stop_gradient(tf.math.l2_normalize(target, axis=1))
  losses = []
  for label in np.unique(online_ids):
    if label == BG:
      continue
    query = tf.boolean_mask(q_all, online_ids == label)
    key = tf.boolean_mask(k_all, target_ids == label)
    if not np.any(target_ids == label):
      key = query
    negatives = tf.stop_gradient(tf.concat([
        tf.boolean_mask(q_all, online_ids != label),
        tf.boolean_mask(k_all, target_ids != label)], 0))
    positive = tf.reshape(tf.matmul(key, query, transpose_b=True), [-1, 1])
    against = tf.tile(tf.matmul(query, negatives, transpose_b=True),
                      [len(key), 1])  # row (key i, query j), j fastest
    logits = tf.concat([positive, against], 1) / temperature
    losses.append(tf.reduce_mean(tf.reduce_logsumexp(logits, 1)
                                 - logits[:, 0]))
  return tf.reduce_mean(tf.stack(losses))


@pytest.mark.parametrize('seed', range(3))
def test_its_gradients_are_the_references(seed):
  online, online_ids, target, target_ids = _case(seed)
  online_ids[:2] = 9  # an id the target view does not have: key = query
  online = tf.Variable(online)
  grads = []
  for loss_fn in (box_contrast.contrastive_loss, _reference_tf):
    with tf.GradientTape() as tape:
      loss = loss_fn(online, online_ids, tf.constant(target), target_ids)
    grads.append(tape.gradient(loss, online).numpy())
  np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_momentum_rises_from_base_to_one_as_a_cosine():
  assert float(box_contrast.momentum(0, 100)) == pytest.approx(0.996)
  assert float(box_contrast.momentum(50, 100)) == pytest.approx(0.998)
  assert float(box_contrast.momentum(100, 100)) == pytest.approx(1.0)
  steps = [float(box_contrast.momentum(k, 100)) for k in range(101)]
  assert all(a <= b for a, b in zip(steps, steps[1:]))


def test_ema_update_is_the_rule():
  target = [tf.Variable([1.0, 2.0]), tf.Variable([[4.0]])]
  online = [tf.Variable([3.0, 0.0]), tf.Variable([[0.0]])]
  box_contrast.ema_update(target, online, 0.75)
  np.testing.assert_allclose(target[0].numpy(), [1.5, 1.5])
  np.testing.assert_allclose(target[1].numpy(), [[3.0]])
  np.testing.assert_allclose(online[0].numpy(), [3.0, 0.0])  # untouched
  with pytest.raises(ValueError, match='1 target variables for 2'):
    box_contrast.ema_update(target[:1], online, 0.5)


def test_the_projection_gives_an_embedding_per_anchor():
  conv = box_contrast.conv_projection(num_anchors=9, dim=16, width=32)
  assert conv(tf.zeros([2, 5, 5, 32])).shape == (2, 5, 5, 9 * 16)
