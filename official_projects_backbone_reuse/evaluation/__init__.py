"""Evaluators for the datasets the paper reports on (LVIS v1)."""
