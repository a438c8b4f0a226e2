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

"""Running an experiment on tf.distribute, and stopping cleanly when it fails.

`train.py` runs Model Garden's `OrbitExperimentRunner` on a strategy from
Model Garden's `distribute_utils.get_distribution_strategy`. What a run on
several devices, workers or a TPU needs on top of it, one concern a module:

* `checks`: `runtime.*`, `--tpu` and the run's input files and checkpoints
  are checked before anything is written;
* `strategies`: building the strategy (`--num_cpu_devices=N` splits the CPU
  so that `mirrored` runs N replicas on a laptop), counting workers, and one
  training data seed on every worker;
* `nan_guard`: a NaN or infinite training loss stops the run naming the
  first step it appeared at, before a checkpoint holding it is written;
* `workers`: only the chief writes into `--model_dir`; the others write into
  a temporary directory and resume from the chief's checkpoints;
* `integrity`: naming the damaged TFRecord or checkpoint file after a run
  failed on it.
"""
