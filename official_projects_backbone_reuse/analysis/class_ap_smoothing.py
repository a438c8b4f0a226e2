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

"""Class-wise AP relative to a reference run, smoothed over annotation count.

The points and Gaussian-smoothed curves of `backbone-reuse-analyse`
(`class_curves` describes the smoothing and its grid).
"""
import math
from typing import Any, Dict, Mapping, Sequence

import numpy as np

_MAX_LINEAR_GRID = 2000


def gaussian_smooth(counts: Sequence[float], values: Sequence[float],
                    grid: Sequence[float], sigma: float) -> np.ndarray:
  """Smooths `values` over `counts` with a Gaussian kernel.

  At each x of `grid`, the mean of `values` weighted by
  exp(-(x - count)^2 / (2 sigma^2)); NaN everywhere when there are no values.
  """
  counts = np.asarray(counts, np.float64)
  values = np.asarray(values, np.float64)
  grid = np.asarray(grid, np.float64)
  if not counts.size:
    return np.full(grid.shape, np.nan)
  exponents = -(grid[:, None] - counts[None, :])**2 / (2.0 * sigma**2)
  # Rescaled by the largest weight at each x: the same ratio, no 0/0.
  weights = np.exp(exponents - exponents.max(axis=1, keepdims=True))
  return (weights @ values) / weights.sum(axis=1)


def curve_grid(counts: Sequence[float], sigma: float,
               num_log_points: int = 200) -> np.ndarray:
  """Returns the x values where the curves are computed.

  Sorted x values from min(counts) to max(counts): log-spaced points
  (from 1 up) plus linear ones every sigma / 4 (at most 2000)."""
  counts = np.asarray(counts, np.float64)
  if not counts.size:
    return np.zeros((0,))
  low, high = counts.min(), counts.max()
  points = [np.array([low, high])]
  if high > max(low, 1.0):
    points.append(np.geomspace(max(low, 1.0), high, num_log_points))
  num_linear = min(_MAX_LINEAR_GRID, int(math.ceil((high - low) /
                                                   (sigma / 4))) + 1)
  points.append(np.linspace(low, high, max(num_linear, 2)))
  return np.unique(np.concatenate(points))


def relative_ap(evaluations: Mapping[str, Dict[str, Any]], reference: str,
                train_counts: Mapping[int, int], sigma: float):
  """Computes each run's per-class AP relative to the reference run.

  Per non-reference run, the per-class (count, AP - AP_ref) points over
  classes with AP defined in both runs, and the smoothed curves.

  Returns:
    (grid, {run: curve}, {run: (counts, differences)}), AP in [0, 1].
  """
  ref_ap = evaluations[reference]['per_category_ap']
  points, all_counts = {}, []
  for name, evaluation in evaluations.items():
    if name == reference:
      continue
    ap = evaluation['per_category_ap']
    ids = [c for c in sorted(ref_ap)
           if not (np.isnan(ref_ap[c]) or np.isnan(ap.get(c, np.nan)))]
    counts = np.array([train_counts.get(c, 0) for c in ids], np.float64)
    points[name] = (counts, np.array([ap[c] - ref_ap[c] for c in ids]))
    all_counts.extend(counts)
  grid = curve_grid(all_counts, sigma)
  curves = {name: gaussian_smooth(counts, diffs, grid, sigma)
            for name, (counts, diffs) in points.items()}
  return grid, curves, points
