"""Object detection on reused (frozen or adapted) classification backbones.

Importing the package does nothing else: `registry_imports` registers the
project's experiments, tasks and model pieces with Model Garden, and the
commands import `legacy_keras` first (Model Garden's Keras 2).
"""
