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

"""Class-wise LVIS AP against training annotation count (paper Figs. 4, 5).

Takes the val predictions of two or more runs (e.g. freeze, fine-tune,
scratch), the LVIS v1 val annotations and the training annotations;
evaluates every run with the project's LVIS evaluator
(`evaluation.lvis_evaluator.evaluate`, box and mask), and writes to
--output_dir:

  class_ap.csv           one row per val category: category_id, name,
                         frequency (r/c/f), train_annotations,
                         val_annotations (ground-truth objects evaluated),
                         then ap_{iou}_{run}: the category's AP in [0, 1]
                         (empty where the category has no val ground truth).
  relative_ap_{iou}.png  AP(run) - AP(reference) in AP points against the
                         class's number of training annotations, one
                         Gaussian-smoothed curve per non-reference run over
                         faint per-class points, a zero line, a legend.
  relative_ap_{iou}.csv  the curves: train_annotations, then one column per
                         non-reference run, in AP points (x 100), as plotted.
  tables.md              per iou type, LVIS metrics x 100 by frequency group
                         (AP, APr, APc, APf) and by object size (AP, APs, APm,
                         APl): one row per run, then run - reference rows;
                         "-" where a metric is undefined (-1).

Smoothing (the paper's: a Gaussian over annotation count, sigma = 1000).
With n_c the training annotations of class c and d_c = AP_c(run) -
AP_c(reference), over the classes whose AP is defined in both runs, the
curve at x is the weighted mean

  s(x) = sum_c w_c(x) d_c / sum_c w_c(x),
  w_c(x) = exp(-(x - n_c)^2 / (2 sigma^2)),

computed with the weights rescaled by their largest value at x (the ratio is
unchanged; it never underflows to 0/0 far from every class). The grid of x:
log-spaced points between the smallest and largest n_c plus linear ones
every sigma/4 (capped), so the curve is resolved at both ends. The x axis is
logarithmic (symlog: linear in [0, 1], so classes with zero training
annotations still show), as LVIS counts span 1 to ~50,000; the smoothing
itself is over the linear count, as in the paper, so with sigma = 1000 all
classes under a few hundred annotations share nearly one value. On small
(e.g. procedural) datasets give a sigma of the order of their counts.

Training annotations are counted per category_id from the 'annotations' of
--train_annotations (an LVIS or COCO train JSON). A file without
'annotations' but whose categories carry LVIS 'instance_count' uses those.

Usage:

  backbone-reuse-analyse \\
      --run finetune=/runs/ft/predictions.json \\
      --run freeze=/runs/frozen/predictions.json \\
      --run scratch=/runs/scratch/predictions.json \\
      --val_annotations lvis_v1_val.json \\
      --train_annotations lvis_v1_train.json \\
      --output_dir /tmp/analysis [--reference finetune] \\
      [--iou_types bbox,segm] [--sigma 1000] [--max_dets 300]

Predictions files are LVIS results JSON lists ({image_id, category_id, bbox
[x, y, w, h], score, segmentation?}), as `LVISEvaluator(predictions_path=...)`
writes them. Outputs are computed in memory, then written to temporary names
and renamed: a failure leaves no partial file. Bad inputs: `error: ...` on
stderr and exit status 2.
"""
# First, before TensorFlow: commands run Model Garden's Keras 2.
from official_projects_backbone_reuse import legacy_keras  # pylint: disable=unused-import

import argparse
import collections
import math
import os
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import tensorflow as tf

from official_projects_backbone_reuse.analysis import class_ap_outputs
from official_projects_backbone_reuse.analysis import class_ap_smoothing
from official_projects_backbone_reuse.common import errors
from official_projects_backbone_reuse.common import files
from official_projects_backbone_reuse.common import values
from official_projects_backbone_reuse.evaluation import lvis_evaluator

IOU_TYPES = ('bbox', 'segm')
_PREDICTION_KEYS = ('image_id', 'category_id', 'bbox', 'score')


class AnalysisError(errors.UserError):
  """A problem with the inputs or flags; the message names the file or flag."""


# Inputs.


def parse_run(spec: str) -> Tuple[str, str]:
  """NAME=PREDICTIONS_JSON -> (name, path)."""
  name, sep, path = spec.partition('=')
  if not sep or not name.strip() or not path:
    raise AnalysisError(f'--run {spec!r}: expected NAME=PREDICTIONS_JSON.')
  return name.strip(), path


def check_runs(specs: Sequence[str],
               reference: str = '') -> Tuple[Dict[str, str], str]:
  """The runs {name: path} in flag order, and the reference run's name."""
  if len(specs or ()) < 2:
    raise AnalysisError(f'--run: give at least two runs (NAME=PREDICTIONS_'
                        f'JSON) to compare, found {len(specs or ())}.')
  runs = {}
  for spec in specs:
    name, path = parse_run(spec)
    if name in runs:
      raise AnalysisError(f'--run: the name {name!r} is given twice.')
    runs[name] = path
  reference = reference or next(iter(runs))
  if reference not in runs:
    raise AnalysisError(f'--reference {reference!r} is not one of the runs: '
                        f'{", ".join(runs)}.')
  return runs, reference


def load_json(path: str, what: str) -> Any:
  """The JSON at `path`, or an AnalysisError naming it as `what`."""
  try:
    return lvis_evaluator.load_json(path, what, needed_for=f'{what} is empty.')
  except ValueError as e:
    raise AnalysisError(str(e)) from e


def load_val_annotations(path: str) -> Dict[str, Any]:
  try:
    return lvis_evaluator.load_lvis_annotations(path)
  except ValueError as e:
    raise AnalysisError(f'--val_annotations: {e}') from e


def count_train_annotations(train: Any, source: str) -> Dict[int, int]:
  """Counts the training annotations of each category.

  Training annotations per category id: counted from 'annotations', or
  the categories' LVIS 'instance_count' in a file without annotations."""
  if not isinstance(train, dict):
    raise AnalysisError(f'{source}: expected a JSON object, found '
                        f'{type(train).__name__}.')
  annotations = train.get('annotations')
  if isinstance(annotations, list):
    counts = collections.Counter()
    for i, ann in enumerate(annotations):
      if not isinstance(ann, dict) or 'category_id' not in ann:
        raise AnalysisError(f'{source}: annotations[{i}] has no '
                            "'category_id'.")
      counts[ann['category_id']] += 1
    return dict(counts)
  categories = train.get('categories')
  if (isinstance(categories, list) and categories and
      all(isinstance(c, dict) and 'id' in c and 'instance_count' in c
          for c in categories)):
    for c in categories:
      count = c['instance_count']
      if not (values.is_integer(count) and count >= 0):
        raise AnalysisError(f'{source}: category id {c["id"]!r} has '
                            f'instance_count {count!r}, expected a count.')
    return {c['id']: c['instance_count'] for c in categories}
  raise AnalysisError(f"{source}: has no 'annotations' list (nor categories "
                      "with 'instance_count') to count training annotations "
                      'from.')


def check_predictions(detections: Any, gt: Dict[str, Any],
                      source: str) -> None:
  """Raises AnalysisError unless `detections` are LVIS results for `gt`."""
  if not isinstance(detections, list):
    raise AnalysisError(f'{source}: expected a JSON list of LVIS results, '
                        f'found {type(detections).__name__}.')
  for i, det in enumerate(detections):
    if not isinstance(det, dict):
      raise AnalysisError(f'{source}: entry {i} is not an object.')
    missing = [k for k in _PREDICTION_KEYS if k not in det]
    if missing:
      raise AnalysisError(f'{source}: entry {i} lacks key {missing[0]!r}; '
                          f'LVIS results need {", ".join(_PREDICTION_KEYS)}.')
    for key in ('image_id', 'category_id'):
      if not values.is_integer(det[key]):
        raise AnalysisError(f'{source}: entry {i} has {key} {det[key]!r}, '
                            'expected an integer.')
    box = det['bbox']
    if not (isinstance(box, list) and len(box) == 4 and
            all(values.is_number(v) for v in box) and box[2] >= 0 and box[3] >= 0):
      raise AnalysisError(f'{source}: entry {i} has bbox {box!r}, expected '
                          '[x, y, width, height] of finite numbers, width '
                          'and height not negative.')
    if not values.is_number(det['score']):
      raise AnalysisError(f'{source}: entry {i} has score {det["score"]!r}, '
                          'expected a finite number.')
  for key, section in (('category_id', 'categories'), ('image_id', 'images')):
    unknown = ({d[key] for d in detections} -
               {entry['id'] for entry in gt[section]})
    if unknown:
      raise AnalysisError(
          f'{source}: {key} {sorted(unknown, key=str)[0]!r} ({len(unknown)} '
          f'unknown in all) is not in the {section} of --val_annotations.')


def has_segmentations(detections: Sequence[Mapping[str, Any]]) -> bool:
  return all('segmentation' in d for d in detections)


def choose_iou_types(text: str, predictions: Mapping[str, list],
                     paths: Mapping[str, str]) -> List[str]:
  """Parses --iou_types.

  --iou_types as a list; default bbox, plus segm when every predictions
  file has segmentations."""
  if not text:
    with_masks = (any(predictions.values()) and
                  all(has_segmentations(p) for p in predictions.values()))
    return ['bbox', 'segm'] if with_masks else ['bbox']
  iou_types = list(dict.fromkeys(t.strip() for t in text.split(',')))
  for iou_type in iou_types:
    if iou_type not in IOU_TYPES:
      raise AnalysisError(f'--iou_types {text!r}: {iou_type!r} is not one of '
                          f'{", ".join(IOU_TYPES)}.')
  if 'segm' in iou_types:
    for name, detections in predictions.items():
      if not has_segmentations(detections):
        raise AnalysisError(f'--iou_types includes segm, but the predictions '
                            f'of {name!r} ({paths[name]}) have detections '
                            "without 'segmentation'.")
  return iou_types


# Computation.


def evaluate_runs(gt: Dict[str, Any], predictions: Mapping[str, list],
                  iou_types: Sequence[str], max_dets: int = 300,
                  paths: Optional[Mapping[str, str]] = None
                  ) -> Dict[str, Dict[str, Any]]:
  """{iou_type: {run: lvis_evaluator.evaluate(...)}}."""
  evaluations = {}
  for iou_type in iou_types:
    evaluations[iou_type] = {}
    for name, detections in predictions.items():
      try:
        evaluations[iou_type][name] = lvis_evaluator.evaluate(
            gt, detections, iou_type, max_dets)
      except ValueError as e:
        source = (paths or {}).get(name, name)
        raise AnalysisError(f'{source} ({iou_type}): {e}') from e
  return evaluations


def output_names() -> List[str]:
  """Every file `analyse` can write (with both IoU types)."""
  return ['class_ap.csv', 'tables.md'] + [
      f'relative_ap_{iou_type}.{ext}'
      for iou_type in class_ap_outputs.IOU_LABELS for ext in ('png', 'csv')]


def analyse(gt, predictions, reference, train_counts, iou_types, sigma,
            max_dets=300, paths=None):
  """Everything in memory: ({file name: str or bytes}, evaluations)."""
  evaluations = evaluate_runs(gt, predictions, iou_types, max_dets, paths)
  outputs = {'class_ap.csv': class_ap_outputs.class_ap_csv(
      gt, evaluations, train_counts)}
  for iou_type, by_run in evaluations.items():
    grid, curves, points = class_ap_smoothing.relative_ap(
        by_run, reference, train_counts, sigma)
    outputs[f'relative_ap_{iou_type}.png'] = class_ap_outputs.plot_png(
        grid, curves, points, reference, iou_type, sigma)
    outputs[f'relative_ap_{iou_type}.csv'] = class_ap_outputs.curves_csv(
        grid, curves)
  outputs['tables.md'] = class_ap_outputs.tables_markdown(evaluations,
                                                          reference)
  return outputs, evaluations


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='backbone-reuse-analyse', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--run', action='append', default=[],
                      metavar='NAME=PREDICTIONS_JSON',
                      help='a run and its LVIS val predictions; repeat, at '
                      'least twice')
  parser.add_argument('--reference', default='',
                      help='the run others are compared to; default: the '
                      'first --run')
  parser.add_argument('--val_annotations', required=True,
                      help='the LVIS v1 val JSON the predictions are for')
  parser.add_argument('--train_annotations', required=True,
                      help='the LVIS/COCO train JSON (annotations counted per '
                      'category)')
  parser.add_argument('--iou_types', default='',
                      help='comma-separated bbox,segm; default: bbox, plus '
                      'segm when every predictions file has segmentations')
  parser.add_argument('--sigma', type=float, default=1000.0,
                      help='Gaussian width over annotation count, in '
                      'annotations')
  parser.add_argument('--max_dets', type=int, default=300,
                      help='detections kept per image, as LVIS')
  parser.add_argument('--output_dir', required=True,
                      help='where the CSV, PNG and markdown files go')
  parser.add_argument('--overwrite', action='store_true',
                      help='replace those files where they exist')
  return parser


def _main(args) -> int:
  runs, reference = check_runs(args.run, args.reference)
  if not (args.sigma > 0 and math.isfinite(args.sigma)):
    raise AnalysisError(f'--sigma {args.sigma:g}: must be a positive number '
                        'of annotations.')
  if args.max_dets < 1:
    raise AnalysisError(f'--max_dets {args.max_dets}: must be at least 1.')
  files.check_output_path(args.output_dir, '--output_dir', folder=True)
  files.check_outputs(
      [files.Output('--output_dir', os.path.join(args.output_dir, name))
       for name in output_names()],
      [(f'--run {name}', path) for name, path in runs.items()]
      + [('--val_annotations', args.val_annotations),
         ('--train_annotations', args.train_annotations)], args.overwrite)
  gt = load_val_annotations(args.val_annotations)
  train_source = f'--train_annotations {args.train_annotations}'
  train_counts = count_train_annotations(
      load_json(args.train_annotations, '--train_annotations'), train_source)
  unknown = set(train_counts) - {c['id'] for c in gt['categories']}
  if unknown:
    raise AnalysisError(
        f'{train_source}: category id {sorted(unknown, key=str)[0]!r} '
        f'({len(unknown)} in all) is not in --val_annotations '
        f'{args.val_annotations}; are they the same dataset?')
  predictions = {}
  for name, path in runs.items():
    predictions[name] = load_json(path, f'--run {name}: predictions file')
    check_predictions(predictions[name], gt,
                      f'--run {name}: predictions file {path}')
  iou_types = choose_iou_types(args.iou_types, predictions, runs)
  outputs, evaluations = analyse(gt, predictions, reference, train_counts,
                                 iou_types, args.sigma, args.max_dets, runs)
  try:
    tf.io.gfile.makedirs(args.output_dir)
    written = {os.path.join(args.output_dir, name): data
               for name, data in outputs.items()}
    files.write_all_atomically(written)
  except (tf.errors.OpError, OSError) as e:
    raise AnalysisError(f'--output_dir {args.output_dir}: cannot write the '
                        f'outputs: {e}') from e
  print(f'reference: {reference}')
  for iou_type, by_run in evaluations.items():
    aps = ', '.join(
        f'{run} {class_ap_outputs.format_ap(e["metrics"]["AP"])}'
        for run, e in by_run.items())
    print(f'{class_ap_outputs.IOU_LABELS[iou_type]} AP: {aps}')
  for path in written:
    print(f'wrote {path}')
  return 0


def run(argv: Sequence[str]) -> int:
  """Runs the command on `argv`, raising its errors.

  The command on `argv`, its errors raised (AnalysisError): for callers
  with their own handler, such as the study runner."""
  return _main(_parser().parse_args(argv))


@errors.exits_on_error
def main(argv: Optional[Sequence[str]] = None) -> int:
  return run(argv)


if __name__ == '__main__':
  sys.exit(main())
