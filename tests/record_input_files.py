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

"""`train.py`, recording the TFRecord files this process opens, in order.

For the multi-worker test: `RECORD_INPUT_FILES=<file>` receives one line per
input file opened by the task's input pipeline (Model Garden's reader opens
them through `official.common.dataset_fn.pick_dataset_fn`).

  RECORD_INPUT_FILES=/tmp/files.txt python -m tests.record_input_files ...
"""
import os

import tensorflow as tf

from official.common import dataset_fn

from official_projects_backbone_reuse import train


def _recording(pick, log_file):
  def pick_dataset_fn(file_type):
    make_dataset = pick(file_type)

    def opened(filenames):
      record = tf.print(filenames, output_stream=f'file://{log_file}')
      with tf.control_dependencies([record]):
        return make_dataset(tf.identity(filenames))
    return opened
  return pick_dataset_fn


if __name__ == '__main__':
  dataset_fn.pick_dataset_fn = _recording(dataset_fn.pick_dataset_fn,
                                          os.environ['RECORD_INPUT_FILES'])
  train.run()
