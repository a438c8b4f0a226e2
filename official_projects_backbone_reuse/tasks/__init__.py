"""Thin subclasses of Model Garden's detection tasks."""
