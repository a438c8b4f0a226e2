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

"""AlignDet's box-domain contrastive pre-training pieces.

As in the reference code (liming-ai/AlignDet; Li et al., ICCV 2023): the
momentum (EMA) target's rule, the projection heads and the box-level
InfoNCE loss.

* Momentum: `m = 1 - (1 - 0.996) (cos(pi k / K) + 1) / 2` at step k of K
  (0.996 -> 1, cosine; mmselfsup's `MomentumUpdateHook`), and after every
  step `target = m target + (1 - m) online` (AlignDet: over parameters;
  which variables is the task's choice, `tasks/box_pretraining`).
* Projection head ("fc-relu-fc", MoCo v2): RetinaNet's per anchor, 1x1
  conv 256 -> ReLU -> 1x1 conv to `anchors x 256` (R-CNN's, Dense 1024 ->
  ReLU -> Dense 256, comes with the Faster R-CNN task). It exists only for
  pre-training and is not carried into fine-tuning.
* Loss (`ContrastiveLoss` with the configs' temperature 0.5): samples
  (anchors or RoIs) carry the id of the proposal they were assigned to, or
  `BACKGROUND`. For each proposal id u seen in the online view, queries are
  the online samples of u, keys the target-view samples of u (the queries
  themselves when the target view has none), negatives every other sample
  of both views, background included, with no gradient through them:
  `L_u = mean_{key i, query j} -log(exp(q_j.k_i / T) / (exp(q_j.k_i / T) +
  sum_n exp(q_j.n / T)))` on L2-normalised embeddings; the loss is the mean
  of `L_u` over ids.
"""
import math

import tensorflow as tf
import tf_keras

BACKGROUND = -1  # the id of samples assigned to no proposal
BASE_MOMENTUM = 0.996
TEMPERATURE = 0.5


def momentum(step, total_steps, base: float = BASE_MOMENTUM):
  """The EMA momentum at `step` of `total_steps`: `base` -> 1, cosine."""
  progress = tf.cast(step, tf.float32) / float(max(total_steps, 1))
  return 1.0 - (1.0 - base) * (tf.cos(math.pi * progress) + 1.0) / 2.0


def ema_update(target_variables, online_variables, m) -> None:
  """target <- m target + (1 - m) online, variable by variable."""
  if len(target_variables) != len(online_variables):
    raise ValueError(f'{len(target_variables)} target variables for '
                     f'{len(online_variables)} online ones')
  for target, online in zip(target_variables, online_variables):
    target.assign(m * target + (1.0 - m) * online)


def conv_projection(num_anchors: int, dim: int = 256,
                    width: int = 256) -> tf_keras.Sequential:
  """Builds RetinaNet's projection head.

  RetinaNet's projection: per feature-map location, an embedding of
  `dim` for each of its `num_anchors` anchors."""
  def init():  # normal(0, 0.01), as the reference's heads
    return tf_keras.initializers.RandomNormal(stddev=0.01)
  return tf_keras.Sequential([
      tf_keras.layers.Conv2D(width, 1, kernel_initializer=init()),
      tf_keras.layers.ReLU(),
      tf_keras.layers.Conv2D(num_anchors * dim, 1, kernel_initializer=init()),
  ], name='contrastive_projection')


def mlp_projection(dim: int = 256, width: int = 1024) -> tf_keras.Sequential:
  """Builds Faster R-CNN's projection head.

  Faster R-CNN's projection of a region's box-head features: AlignDet's
  MoCo v2 neck (Linear-ReLU-Linear, no normalisation)."""
  def init():  # normal(0, 0.01), as the reference's heads
    return tf_keras.initializers.RandomNormal(stddev=0.01)
  return tf_keras.Sequential([
      tf_keras.layers.Dense(width, activation='relu',
                            kernel_initializer=init()),
      tf_keras.layers.Dense(dim, kernel_initializer=init()),
  ], name='contrastive_projection')


def contrastive_loss(online: tf.Tensor, online_ids: tf.Tensor,
                     target: tf.Tensor, target_ids: tf.Tensor,
                     temperature: float = TEMPERATURE) -> tf.Tensor:
  """The box-level InfoNCE loss of the module docstring.

  Args:
    online: [N, D] embeddings of the online view's samples.
    online_ids: [N] int, their proposal ids (`BACKGROUND`: none); ids are
      unique across the images of a batch.
    target: [M, D] embeddings of the target (EMA) view's samples; no
      gradient flows into them.
    target_ids: [M] int.
    temperature: T.

  Returns:
    A scalar; 0 when the online view has no sample of any proposal.
  """
  q = tf.math.l2_normalize(tf.cast(online, tf.float32), axis=1)
  k = tf.stop_gradient(tf.math.l2_normalize(tf.cast(target, tf.float32),
                                            axis=1))
  a = tf.cast(online_ids, tf.int32)
  b = tf.cast(target_ids, tf.int32)
  qq = tf.matmul(q, q, transpose_b=True) / temperature      # [N, N]
  qk = tf.matmul(q, k, transpose_b=True) / temperature      # [N, M]
  # Negatives of query j: every sample of another id, either view; the
  # gradient reaches the query, not the negative.
  qn = tf.matmul(q, tf.stop_gradient(q), transpose_b=True) / temperature
  other_q = tf.not_equal(a[:, None], a[None, :])
  other_k = tf.not_equal(a[:, None], b[None, :])
  negatives = tf.concat([
      tf.where(other_q, qn, -math.inf),
      tf.where(other_k, qk, -math.inf)], axis=1)
  negative_lse = tf.reduce_logsumexp(negatives, axis=1)    # -inf: none
  # -log(e^s / (e^s + e^lse)) = softplus(lse - s); 0 when there is none.
  def pair_losses(scores):
    return tf.where(tf.math.is_inf(negative_lse)[:, None],
                    tf.zeros_like(scores),
                    tf.nn.softplus(negative_lse[:, None] - scores))

  foreground = tf.not_equal(a, BACKGROUND)
  in_target = tf.reduce_any(tf.logical_not(other_k), axis=1)  # [N]
  # Pairs (query j, key i): target keys of j's id, or online keys of j's id
  # when the target view has none of it.
  pairs_k = tf.logical_and(tf.logical_not(other_k),
                           (foreground & in_target)[:, None])
  pairs_q = tf.logical_and(tf.logical_not(other_q),
                           (foreground & ~in_target)[:, None])
  pairs_k, pairs_q = tf.cast(pairs_k, tf.float32), tf.cast(pairs_q,
                                                          tf.float32)
  # Each id's pairs weigh 1 / (its pair count): L_u is their mean.
  per_query = (tf.reduce_sum(pair_losses(qk) * pairs_k, axis=1)
               + tf.reduce_sum(pair_losses(qq) * pairs_q, axis=1))
  pair_count = tf.reduce_sum(pairs_k, axis=1) + tf.reduce_sum(pairs_q, axis=1)
  queries_of_id = tf.reduce_sum(tf.cast(~other_q, tf.float32), axis=1)
  weight = tf.math.divide_no_nan(1.0, pair_count * queries_of_id)
  # sum_j per_query_j / (|K_u| |Q_u|) sums L_u once per id.
  ids = tf.size(tf.unique(tf.boolean_mask(a, foreground)).y)
  return tf.math.divide_no_nan(tf.reduce_sum(per_query * weight),
                               tf.cast(ids, tf.float32))
