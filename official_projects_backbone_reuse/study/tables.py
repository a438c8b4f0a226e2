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

"""A study's results in the paper's shapes: tables, figures and costs.

Table 1 (mAP / AP50 per detector and initialisation, frozen and adapter
cells against their fine-tuned counterpart), Table 3 (parameters, total
and trained when frozen), Figures 3/6 (mAP against detector capacity) and
what each cell cost to train.

Numbers are x100, as the paper prints them. With several seeds a cell is
the mean, `±` the standard deviation over seeds, and a change is marked
`~` when it is smaller than the spread of a difference of two runs,
sqrt(sd_a^2 + sd_b^2): within the seeds' noise.
"""
import csv
import dataclasses
import io
import math
import statistics
from typing import Dict, Optional, Sequence

from matplotlib import figure
from matplotlib.backends import backend_agg

from official_projects_backbone_reuse.modeling import parameters
from official_projects_backbone_reuse.study import grid


@dataclasses.dataclass(frozen=True)
class Result:
  """One cell of the table: its seeds' mAP and AP50 (x100)."""
  ap: Sequence[float]
  ap50: Sequence[float]

  @property
  def mean(self) -> float:
    return statistics.mean(self.ap)

  @property
  def mean50(self) -> float:
    return statistics.mean(self.ap50)

  @property
  def sd(self) -> float:
    return statistics.stdev(self.ap) if len(self.ap) > 1 else 0.0


Results = Dict[str, Dict[str, Result]]  # row name -> column -> result


def results(metrics: Dict[grid.Cell, Optional[dict]]) -> Results:
  """The cells' metrics.json (None: not finished), seeds grouped."""
  grouped = {}
  for cell, found in metrics.items():  # one pass, cells in seed order
    if found is not None:
      grouped.setdefault(cell.row.name, {}).setdefault(
          cell.column, []).append(found)
  return {row: {column: Result(ap=[100 * m['AP'] for m in found],
                               ap50=[100 * m['AP50'] for m in found])
                for column, found in columns.items()}
          for row, columns in grouped.items()}


def reference(column: str) -> Optional[str]:
  """Returns the column a column is compared with.

  For a frozen or adapter column the fine-tuned one; for INIT+SOURCE, INIT
  (the same parts from their random initialisation)."""
  upstream, _, init = column.rpartition('/')
  if not upstream or init == 'finetune':
    return None
  base, source = grid.split(init)
  return f'{upstream}/{base if source else "finetune"}'


def change(row: Dict[str, Result], column: str) -> Optional[tuple]:
  """(change of mAP against the fine-tuned column, within the noise)."""
  base = reference(column)
  if base is None or column not in row or base not in row:
    return None
  delta = row[column].mean - row[base].mean
  noise = math.hypot(row[column].sd, row[base].sd)
  return delta, abs(delta) < noise


def _label(study: grid.Study, column: str) -> str:
  """`frozen` with one upstream, `imagenet frozen` with several."""
  upstream, _, init = column.rpartition('/')
  return f'{upstream} {init}' if upstream and len(study.upstreams) > 1 else init


def _cell(row: Dict[str, Result], column: str) -> str:
  if column not in row:
    return '-'
  result = row[column]
  text = f'{result.mean:.1f}/{result.mean50:.1f}'
  if len(result.ap) > 1:
    text += f' ±{result.sd:.1f}'
  moved = change(row, column)
  if moved:
    text += f' ({moved[0]:+.1f}{"~" if moved[1] else ""})'
  return text


def _paper_cell(paper: Dict[str, tuple], column: str) -> str:
  if column not in paper:
    return '-'
  ap, ap50 = paper[column]
  text = f'{ap:.1f}/{ap50:.1f}'
  base = reference(column)
  if base in paper:
    text += f' ({ap - paper[base][0]:+.1f})'
  return text


def schedule_check_line(study: grid.Study, found: Results) -> str:
  """Says whether the study's schedule is near convergence.

  It compares the schedule check's cell against the seeds of the same
  column at the study's schedule (within two standard deviations of
  them)."""
  check = study.schedule_check
  if check is None:
    return ''
  cell = check.cell
  what = (f'{check.of.name} {cell.column}, seed {cell.seed}, trained again '
          f'with {", ".join(check.overrides)}')
  again = found.get(cell.row.name, {}).get(cell.column)
  base = found.get(check.of.name, {}).get(cell.column)
  if again is None or base is None:
    return f'Schedule check ({what}): not run yet.'
  delta = again.mean - base.mean
  text = (f'Schedule check ({what}): mAP {again.mean:.1f} against '
          f'{base.mean:.1f} ±{base.sd:.1f} over {len(base.ap)} seed(s) at '
          f'the study\'s schedule ({delta:+.1f}): ')
  if len(base.ap) < 2:
    return text + 'one seed, no spread to compare with.'
  if abs(delta) <= 2 * base.sd:
    return text + ('within two standard deviations of the seeds: the '
                   'longer schedule changes nothing the seeds do not.')
  return text + ('beyond two standard deviations of the seeds: the '
                 'study\'s schedule is short of convergence.')


def upstream_lines(quality: Dict[str, Optional[dict]]) -> str:
  """Formats each upstream's own quality.

  Each upstream's own quality, as its classification run measured it
  (`runner.upstream_quality`): the columns read against how strong the
  backbone they restore is."""
  lines = []
  for name, found in quality.items():
    if found is None:
      lines.append(f'- {name}: not known here (no metrics.json with '
                   'accuracy beside the checkpoint)')
    else:
      lines.append(f'- {name}: val top-1 {found["top1"]:.3f} over '
                   f'{found["classes"]} classes ({found["source"]})')
  return ('Upstream classifiers:\n' + '\n'.join(lines) + '\n') if lines else ''


def table1_markdown(study: grid.Study, found: Results,
                    quality: Optional[Dict[str, Optional[dict]]] = None
                    ) -> str:
  """Formats Table 1: mAP/AP50 per detector and column.

  mAP/AP50 per detector and column; the paper's row under each row
  that has the paper's numbers; each upstream's quality (`quality`) and
  the schedule check under the table."""
  columns = study.columns
  lines = ['| detector | ' + ' | '.join(_label(study, c) for c in columns)
           + ' | seeds |', '|---|' + '---:|' * (len(columns) + 1)]
  for row in study.rows:
    cells = found.get(row.name, {})
    runs = sorted({len(r.ap) for r in cells.values()})
    seeds = ('-' if not runs else str(runs[0]) if runs[0] == runs[-1]
             else f'{runs[0]}-{runs[-1]}')
    lines.append(f'| {row.name} | ' + ' | '.join(_cell(cells, c)
                                                 for c in columns)
                 + f' | {seeds} |')
    if row.paper:
      lines.append(f'| {row.name}, paper | ' + ' | '.join(
          _paper_cell(row.paper, c) for c in columns) + ' | |')
  legend = ('mAP/AP50 (x100); in parentheses the change of mAP against '
            'fine-tuning from the same upstream')
  if any(grid.split(init)[1] for init in study.initialisations):
    legend += (', or for INIT+SOURCE against INIT, the same parts from '
               'their random initialisation')
  if len(study.seeds) > 1:
    legend += ('; mean ± standard deviation over seeds, `~` where the '
               'change is within the seeds\' spread')
  differ = ''.join(f'\n- {line}' for line in study.differences())
  if differ:
    differ = ('\n\nColumns trained unlike the others (compare them with '
              f'that in mind):{differ}\n')
  check = schedule_check_line(study, found)
  upstreams = upstream_lines(quality or {})
  return ('\n'.join(lines) + f'\n\n{legend}.\n' + differ
          + (f'\n{upstreams}' if upstreams else '')
          + (f'\n{check}\n' if check else ''))


def table1_csv(study: grid.Study, found: Results) -> str:
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(['detector', 'column', 'seeds', 'mAP', 'mAP_sd', 'AP50',
                   'mAP_change', 'compared_with', 'within_seed_spread',
                   'paper_mAP', 'paper_AP50', 'mAP_per_seed'])
  for row in study.rows:
    cells = found.get(row.name, {})
    for column in study.columns:
      result = cells.get(column)
      moved = change(cells, column)
      paper = row.paper.get(column, ('', ''))
      writer.writerow(
          [row.name, column] +
          ([len(result.ap), f'{result.mean:.2f}', f'{result.sd:.2f}',
            f'{result.mean50:.2f}'] if result else [0, '', '', '']) +
          ([f'{moved[0]:.2f}', reference(column), moved[1]] if moved
           else ['', '', '']) +
          list(paper) +
          [' '.join(f'{a:.2f}' for a in result.ap) if result else ''])
  return out.getvalue()


def table3_markdown(study: grid.Study,
                    counts: Dict[str, Dict[str, parameters.ParameterCount]],
                    found: Results) -> str:
  """Formats Table 3: each detector's parameters.

  Parameters of each detector, total and trained when the backbone is
  frozen, and the change of mAP that freezing brought (first upstream); the
  paper's Table 3 under each row that has it."""
  upstream = next(iter(study.upstreams), None)
  column = f'{upstream}/frozen'
  lines = ['| detector | parameters | trained when frozen | trained % | '
           f'mAP change, frozen vs fine-tuned ({upstream}) |',
           '|---|---:|---:|---:|---:|']
  for row in study.rows:
    total = counts[row.name]['total']
    moved = change(found.get(row.name, {}), column)
    lines.append(f'| {row.name} | {total.total:,} | {total.trained:,} | '
                 f'{total.trained_share:.1f} | '
                 + (f'{moved[0]:+.1f}{"~" if moved[1] else ""}' if moved
                    else '-') + ' |')
    if row.paper_parameters:
      params, trained, share, ap = row.paper_parameters
      lines.append(f'| {row.name}, paper | {params:.1f}M | {trained:.1f}M | '
                   f'{share:.1f} | {ap:+.1f} |')
  legend = ('\n`, paper`: the paper\'s Table 3, parameters in millions, the '
            'change of mAP from ImageNet at 600 epochs.\n'
            if any(row.paper_parameters for row in study.rows) else '')
  return '\n'.join(lines) + '\n' + legend


def capacity_png(study: grid.Study,
                 counts: Dict[str, Dict[str, parameters.ParameterCount]],
                 found: Results) -> bytes:
  """Plots Figures 3/6: mAP against the detector's parameters.

  Figures 3/6: mAP against the detector's parameters, one line per
  initialisation and upstream (error bars: the seeds' standard
  deviation)."""
  fig = figure.Figure(figsize=(7, 4.5), dpi=100)
  backend_agg.FigureCanvasAgg(fig)
  ax = fig.add_subplot()
  for i, column in enumerate(study.columns):
    points = [(counts[r.name]['total'].total / 1e6, found[r.name][column])
              for r in study.rows if column in found.get(r.name, {})]
    if not points:
      continue
    ax.errorbar([x for x, _ in points], [r.mean for _, r in points],
                yerr=[r.sd for _, r in points], marker='o', capsize=3,
                color=f'C{i}', label=_label(study, column).replace('/', ' '))
  for row in study.rows:
    ax.annotate(row.name, (counts[row.name]['total'].total / 1e6,
                           ax.get_ylim()[0]), fontsize=7, rotation=90,
                va='bottom', ha='right', color='0.4')
  ax.set_xlabel('detector parameters (millions)')
  ax.set_ylabel('mAP (x100)')
  ax.set_title('mAP against detector capacity (paper Figures 3 and 6)',
               fontsize=10)
  ax.legend(fontsize=8)
  fig.tight_layout()
  out = io.BytesIO()
  fig.savefig(out, format='png')
  return out.getvalue()


def freezing_png(study: grid.Study,
                 counts: Dict[str, Dict[str, parameters.ParameterCount]],
                 found: Results) -> bytes:
  """Plots Figure 1 (left): what freezing costs across capacity.

  The paper's question across capacity (Figure 1, left): each frozen
  (and adapter) column's mAP minus fine-tuning's from the same upstream,
  against the parameters trained when the backbone is frozen; error bars
  sqrt(sd_a^2 + sd_b^2) over seeds, the spread of a difference."""
  fig = figure.Figure(figsize=(7, 4.5), dpi=100)
  backend_agg.FigureCanvasAgg(fig)
  ax = fig.add_subplot()
  ax.axhline(0, color='0.5', linewidth=1)
  for i, column in enumerate(study.columns):
    points = []
    for row in study.rows:
      moved = change(found.get(row.name, {}), column)
      if moved:
        cells = found[row.name]
        points.append((counts[row.name]['total'].trained / 1e6, moved[0],
                       math.hypot(cells[column].sd,
                                  cells[reference(column)].sd)))
    if points:
      ax.errorbar([p[0] for p in points], [p[1] for p in points],
                  yerr=[p[2] for p in points], marker='o', capsize=3,
                  color=f'C{i}', label=f'{_label(study, column)} - '
                  f'{_label(study, reference(column))}'.replace('/', ' '))
  ax.set_xscale('log')
  ax.set_xlabel('parameters trained when frozen (millions)')
  ax.set_ylabel('mAP change against fine-tuning (x100)')
  ax.set_title('What freezing costs or gains as the detector grows '
               '(paper Figure 1, left)', fontsize=10)
  if ax.get_legend_handles_labels()[0]:
    ax.legend(fontsize=8)
  fig.tight_layout()
  out = io.BytesIO()
  fig.savefig(out, format='png')
  return out.getvalue()


def flops_key(cell: grid.Cell) -> str:
  """Returns the key of a cell's FLOPs.

  FLOPs depend on the detector and initialisation, not on the upstream or
  seed."""
  return f'{cell.row.name}|{cell.initialisation}'


def cost_markdown(study: grid.Study,
                  costs: Dict[grid.Cell, Optional[dict]],
                  gflops: Optional[Dict[str, float]] = None) -> str:
  """Formats what each cell cost.

  What each cell cost: its steps, FLOPs per training step (`gflops`, by
  `flops_key`), median seconds per step (from its log), and the wall time,
  CPU time and peak memory of the `train.py` run that finished it
  (`steps.run_logged`)."""
  gflops = gflops or {}
  lines = ['| detector | column | seed | steps | GFLOPs/step | s/step | '
           'wall min | CPU min | peak RSS MB |',
           '|---|---|---:|---:|---:|---:|---:|---:|---:|']
  for cell, cost in costs.items():
    if cost is None:
      continue
    step = cost.get('s_per_step')
    flops = gflops.get(flops_key(cell))
    lines.append(
        f'| {cell.row.name} | {cell.column} | {cell.seed} | '
        f'{cost.get("train_steps", "-")} | '
        + (f'{flops:,.1f}' if flops else '-') + ' | '
        + (f'{step:.3f}' if step else '-')
        + f' | {cost["wall_s"] / 60:.1f} | {cost["cpu_s"] / 60:.1f} | '
        f'{cost["peak_rss_mb"]:,} |')
  return '\n'.join(lines) + (
      '\n\nwall / CPU time and peak RSS of the run that finished the cell '
      '(a resumed cell\'s earlier runs are not counted), with its '
      'evaluation; s/step: the median of its logged training rates; '
      'GFLOPs/step: forward and backward of one training step as '
      '`backbone-reuse-resources` counts them.\n')
