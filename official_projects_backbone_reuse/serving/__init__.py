"""Serving: one SavedModel with Model Garden's detection signatures, and a
command that runs it on image files."""
