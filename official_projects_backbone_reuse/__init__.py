"""Object detection on reused (frozen or adapted) classification backbones.

Importing this package registers the project's experiments, tasks and model
pieces with TensorFlow Model Garden's factories, as `official.vision` does for
its own.
"""
# pylint: disable=unused-import
from official.vision import registry_imports
from official_projects_backbone_reuse.configs import detection as _configs
from official_projects_backbone_reuse.modeling import bottleneck_nasfpn as _nasfpn
from official_projects_backbone_reuse.modeling import keras_application_backbone as _keras_backbone
from official_projects_backbone_reuse.tasks import detection as _tasks
