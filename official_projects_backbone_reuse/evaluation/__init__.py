"""Evaluators for the datasets the paper reports on (LVIS v1)."""

# Where a run with `task.evaluation.save_predictions` keeps the LVIS
# evaluator's detections, in its model dir (the per-class analysis reads it).
LVIS_DETECTIONS_FILE = 'lvis_val_detections.json'
