"""Checkpoints: resolving, restoring and checking them.

Resolve a path, restore and verify modules (`restore`), check that a
backbone runs as pre-trained (`upstream`), read TF1 names (`tf1`) and
Keras weight files (`keras_weights`)."""
