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

"""Output files of `class_curves`: CSV, PNG plot, markdown tables.

Everything is rendered in memory (str or bytes); `write_outputs` then
writes a set of files so that a failure leaves none of them half-written.
See `class_curves` for what each file holds.
"""
import csv
import io
from typing import Any, Dict, Mapping, Sequence

from matplotlib import figure
from matplotlib.backends import backend_agg
import numpy as np

IOU_LABELS = {'bbox': 'box', 'segm': 'mask'}
FREQUENCY_METRICS = ('AP', 'APr', 'APc', 'APf')
SIZE_METRICS = ('AP', 'APs', 'APm', 'APl')


def _csv_text(rows: Sequence[Sequence[Any]]) -> str:
  out = io.StringIO()
  csv.writer(out, lineterminator='\n').writerows(rows)
  return out.getvalue()


def _number(value: float) -> str:
  return '' if value is None or np.isnan(value) else repr(float(value))


def class_ap_csv(gt: Dict[str, Any], evaluations, train_counts) -> str:
  iou_types = list(evaluations)
  runs = list(evaluations[iou_types[0]])
  header = ['category_id', 'name', 'frequency', 'train_annotations',
            'val_annotations']
  header += [f'ap_{iou}_{run}' for iou in iou_types for run in runs]
  num_gt = evaluations[iou_types[0]][runs[0]]['per_category_num_gt']
  rows = [header]
  for cat in sorted(gt['categories'], key=lambda c: c['id']):
    row = [cat['id'], cat.get('name', ''), cat['frequency'],
           train_counts.get(cat['id'], 0), num_gt.get(cat['id'], 0)]
    row += [_number(evaluations[iou][run]['per_category_ap'].get(cat['id']))
            for iou in iou_types for run in runs]
    rows.append(row)
  return _csv_text(rows)


def curves_csv(grid: np.ndarray, curves: Mapping[str, np.ndarray]) -> str:
  rows = [['train_annotations'] + list(curves)]
  for i, x in enumerate(grid):
    rows.append([_number(x)] + [_number(100 * c[i]) for c in curves.values()])
  return _csv_text(rows)


def plot_png(grid, curves, points, reference: str, iou_type: str,
             sigma: float) -> bytes:
  """The relative-AP plot as PNG bytes (matplotlib, no global state)."""
  fig = figure.Figure(figsize=(7, 4.5), dpi=100)
  backend_agg.FigureCanvasAgg(fig)
  ax = fig.add_subplot()
  ax.axhline(0.0, color='0.4', linewidth=0.8, label=f'{reference} (reference)')
  for i, (name, curve) in enumerate(curves.items()):
    counts, diffs = points[name]
    ax.scatter(counts, 100 * diffs, s=12, color=f'C{i}', alpha=0.35,
               linewidths=0)
    ax.plot(grid, 100 * curve, color=f'C{i}', linewidth=2,
            label=f'{name} - {reference}')
  # Log scale, linear in [0, 1] so that classes without training
  # annotations still show.
  ax.set_xscale('symlog', linthresh=1.0)
  if len(grid):
    ax.set_xlim(left=0 if grid[0] == 0 else grid[0] / 1.5,
                right=max(grid[-1] * 1.5, 1.0))
  ax.set_xlabel('training annotations of the class (log scale)')
  ax.set_ylabel(f'AP - AP({reference}), AP points')
  ax.set_title(f'LVIS {IOU_LABELS[iou_type]} AP relative to {reference}, '
               f'Gaussian-smoothed (sigma = {sigma:g} annotations)',
               fontsize=10)
  ax.grid(True, which='major', alpha=0.3)
  ax.legend(loc='best', fontsize=9)
  fig.tight_layout()
  out = io.BytesIO()
  fig.savefig(out, format='png')
  return out.getvalue()


def format_ap(value: float) -> str:
  return '-' if value == -1 else f'{100 * value:.1f}'


def format_delta(value: float, reference: float) -> str:
  if value == -1 or reference == -1:
    return '-'
  return f'{100 * (value - reference):+.1f}'


def metrics_table(evaluations: Mapping[str, Dict[str, Any]], reference: str,
                  names: Sequence[str]) -> str:
  """One row per run (reference first), then run - reference rows."""
  order = [reference] + [r for r in evaluations if r != reference]
  lines = ['| run | ' + ' | '.join(names) + ' |',
           '|---|' + '---:|' * len(names)]
  ref = evaluations[reference]['metrics']
  for run in order:
    metrics = evaluations[run]['metrics']
    label = f'{run} (reference)' if run == reference else run
    lines.append(f'| {label} | ' +
                 ' | '.join(format_ap(metrics[n]) for n in names) + ' |')
  for run in order[1:]:
    metrics = evaluations[run]['metrics']
    lines.append(f'| {run} - {reference} | ' + ' | '.join(
        format_delta(metrics[n], ref[n]) for n in names) + ' |')
  return '\n'.join(lines) + '\n'


def tables_markdown(evaluations, reference: str) -> str:
  runs = list(evaluations[next(iter(evaluations))])
  parts = [f'# LVIS AP of {", ".join(runs)}\n',
           f'AP x 100 from the LVIS evaluator; reference run: `{reference}`; '
           '"-": undefined (no category of the group has val ground truth).\n']
  for iou_type, by_run in evaluations.items():
    label = IOU_LABELS[iou_type]
    parts.append(f'## {label.capitalize()} AP ({iou_type})\n')
    parts.append(f'### {label.capitalize()} AP by frequency group\n')
    parts.append(metrics_table(by_run, reference, FREQUENCY_METRICS))
    parts.append(f'### {label.capitalize()} AP by object size\n')
    parts.append(metrics_table(by_run, reference, SIZE_METRICS))
  return '\n'.join(parts)
