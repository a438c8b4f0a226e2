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

"""Registers this project with Model Garden's factories.

As `official.vision.registry_imports` does for its own: the experiments,
the tasks and the model pieces (bottleneck NAS-FPN decoder,
Keras-application backbone). Import it where a config is parsed or a
model built; commands that only launch other commands (the jobs) do not
need it.
"""
# pylint: disable=unused-import
from official.vision import registry_imports
from official_projects_backbone_reuse.configs import detection
from official_projects_backbone_reuse.modeling import bottleneck_nasfpn
from official_projects_backbone_reuse.modeling import keras_application_backbone
from official_projects_backbone_reuse.tasks import box_pretraining
from official_projects_backbone_reuse.tasks import detection as detection_tasks
