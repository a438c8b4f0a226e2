"""Makes `tf.keras` Keras 2 in every command.

Imported first by every command, before TensorFlow: sets
TF_USE_LEGACY_KERAS, so that `tf.keras` is Keras 2 (tf_keras), which Model
Garden builds with, and TensorFlow does not import Keras 3 (and scikit-learn
and SciPy through it: about 1.2 s a process). A command's own choice; the
library's modules leave a user's process alone. No effect where TensorFlow
was imported first.
"""
import os

os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
