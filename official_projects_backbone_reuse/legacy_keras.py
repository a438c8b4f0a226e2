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
