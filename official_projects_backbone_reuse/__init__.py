"""Object detection on reused (frozen or adapted) classification backbones.

Importing the package only sets TF_USE_LEGACY_KERAS (below);
`registry_imports` registers the project's experiments, tasks and model
pieces with Model Garden.
"""
import os

# Model Garden builds with tf_keras (Keras 2), so `tf.keras` should be it
# too. Set before TensorFlow is imported, this also spares every command
# TensorFlow's import of Keras 3 (and of scikit-learn and SciPy through it).
# Has no effect where TensorFlow was imported first.
os.environ.setdefault('TF_USE_LEGACY_KERAS', '1')
