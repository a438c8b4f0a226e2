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

"""Tables and plot of what freezing saves (`backbone-reuse-resources`).

Each detector and variant's FLOPs per training step by component, its
parameters, and the measured step time and memory, with ratios against
fine-tuning.
"""
import csv
import io
import os
from typing import Dict, List, Optional

from matplotlib import figure
from matplotlib.backends import backend_agg
import numpy as np

from official_projects_backbone_reuse.analysis import report

MB = 2 ** 20


def _columns(rows) -> List[str]:
  names = {n for row in rows for part in (row['flops'].forward,
                                          row['flops'].backward)
           for n in part}
  return sorted(names, key=report.component_key)


def _g(flops: int) -> str:
  return f'{flops / 1e9:,.2f}'


def _reference(rows, row):
  return next((r for r in rows if r['experiment'] == row['experiment']
               and r['variant'] == 'finetune'), None)


def ratios(rows, row) -> Dict[str, Optional[float]]:
  """{'flops', 'memory', 'time'}: `row` relative to its finetune row."""
  reference = _reference(rows, row)
  out = {'flops': None, 'memory': None, 'time': None}
  if reference is None:
    return out
  out['flops'] = row['flops'].total / reference['flops'].total
  cost, reference_cost = row.get('cost'), reference.get('cost')
  if cost and reference_cost:
    out['memory'] = cost.memory_bytes / max(reference_cost.memory_bytes, 1)
    out['time'] = cost.wall_s / reference_cost.wall_s
  return out


def _ratio(value: Optional[float]) -> str:
  return '-' if value is None else f'{value:.2f}'


def format_markdown(rows) -> str:
  """Formats the resources as a markdown table.

  One row per experiment and variant: FLOPs (forward + backward GFLOPs
  per component), and with measured steps their time and memory."""
  columns = _columns(rows)
  timed = any(row.get('cost') for row in rows)
  header = ['experiment', 'variant', 'images', 'trained params',
            'GFLOPs / step', 'forward', 'backward']
  if timed:
    header += ['step s, wall (range)', 'images / s', 'step CPU-s',
               'training memory MB',
               'peak memory MB', 'largest batch']
  header += ['FLOPs vs finetune'] + (['memory vs finetune',
                                      'time vs finetune'] if timed else [])
  header += [f'{c} (fwd + bwd)' for c in columns]
  lines = ['| ' + ' | '.join(header) + ' |',
           '|' + '|'.join(['---', '---'] + ['---:'] * (len(header) - 2)) + '|']
  for row in rows:
    flops, cost, relative = row['flops'], row.get('cost'), ratios(rows, row)
    cells = [row['experiment'], row['variant'], str(row['batch_size']),
             f'{row["parameters"]["total"].trained:,}', _g(flops.total),
             _g(sum(flops.forward.values())), _g(sum(flops.backward.values()))]
    if timed:
      cells += ([f'{cost.wall_s:.3f} ({cost.wall_range[0]:.3f}-'
                 f'{cost.wall_range[1]:.3f})',
                 f'{row["batch_size"] / cost.wall_s:,.1f}', f'{cost.cpu_s:.3f}',
                 f'{cost.memory_bytes / MB:,.0f}',
                 f'{cost.peak_bytes / MB:,.0f}', cost.largest_batch or '-']
                if cost else ['-'] * 6)
    cells += [_ratio(relative['flops'])]
    if timed:
      cells += [_ratio(relative['memory']), _ratio(relative['time'])]
    cells += [f'{_g(flops.forward.get(c, 0))} + {_g(flops.backward.get(c, 0))}'
              for c in columns]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def format_csv(rows) -> str:
  columns = _columns(rows)
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  cost_fields = ['device', 'wall_s', 'wall_s_min', 'wall_s_max', 'cpu_s',
                 'memory_bytes', 'peak_bytes', 'largest_batch']
  writer.writerow(['experiment', 'variant', 'batch_size', 'params_total',
                   'params_trained', 'flops', 'flops_forward',
                   'flops_backward'] + cost_fields +
                  [f'{c}_{side}' for c in columns
                   for side in ('forward', 'backward')])
  for row in rows:
    flops, count, cost = (row['flops'], row['parameters']['total'],
                          row.get('cost'))
    measured = ([cost.device, cost.wall_s, *cost.wall_range, cost.cpu_s,
                 cost.memory_bytes, cost.peak_bytes, cost.largest_batch or '']
                if cost else [''] * len(cost_fields))
    writer.writerow(
        [row['experiment'], row['variant'], row['batch_size'], count.total,
         count.trained, flops.total, sum(flops.forward.values()),
         sum(flops.backward.values())] + measured +
        [getattr(flops, side).get(c, 0) for c in columns
         for side in ('forward', 'backward')])
  return out.getvalue()


def _short(spec: str) -> str:
  """NAME[:FILE+FILE] with the files' base names, for a plot's labels."""
  name, _, paths = spec.partition(':')
  stems = [os.path.splitext(os.path.basename(p))[0]
           for p in paths.split('+') if p]
  return '\n'.join([name] + stems)


def plot_png(rows) -> bytes:
  """Plots the paper's Figure 1 (right) as a PNG.

  The paper's Figure 1 (right): per experiment and variant, FLOPs,
  training memory and step time relative to fine-tuning."""
  bars = [(f'{_short(row["experiment"])}\n{row["variant"]}', ratios(rows, row))
          for row in rows if row['variant'] != 'finetune']
  kinds = [k for k in ('flops', 'memory', 'time')
           if any(r[k] is not None for _, r in bars)]
  fig = figure.Figure(figsize=(max(6, 2.2 * len(bars) + 2), 5), dpi=100)
  backend_agg.FigureCanvasAgg(fig)
  ax = fig.add_subplot()
  width = 0.8 / max(len(kinds), 1)
  labels = {'flops': 'FLOPs / step', 'memory': 'training memory',
            'time': 'step time (wall)'}
  for i, kind in enumerate(kinds):
    xs = [j + (i - (len(kinds) - 1) / 2) * width for j in range(len(bars))]
    values = [r[kind] if r[kind] is not None else np.nan for _, r in bars]
    ax.bar(xs, values, width, label=labels[kind], color=f'C{i}')
    for x, value in zip(xs, values):
      if not np.isnan(value):
        ax.text(x, value, f'{value:.2f}', ha='center', va='bottom',
                fontsize=8)
  ax.axhline(1.0, color='0.3', linewidth=0.8, linestyle='--',
             label='fine-tuned = 1')
  ax.set_xticks(range(len(bars)), [name for name, _ in bars], fontsize=8)
  ax.set_ylabel('relative to fine-tuning the backbone')
  ax.set_title('What the variants save per training step '
               '(paper Figure 1, right)', fontsize=10)
  ax.set_ylim(0, 1.25 * max(1.0, ax.get_ylim()[1]))  # room for the legend
  ax.legend(loc='upper left', fontsize=8, ncol=4)
  fig.tight_layout()
  out = io.BytesIO()
  fig.savefig(out, format='png')
  return out.getvalue()
