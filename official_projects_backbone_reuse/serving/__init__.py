"""Serving: a SavedModel export and a command that runs it.

The SavedModel has Model Garden's detection signatures; the command runs
it on image files."""
