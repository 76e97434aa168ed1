"""The FER model: a functional ResNet18 with CBAM and uncertainty mixing."""

from keras_fer.models.fer_model import FERModel
from keras_fer.models.loading import load_model_file
from keras_fer.models.presets import PRESETS, WEIGHTS, copy_weights, from_preset, list_presets
from keras_fer.models.resnet import resnet18
from keras_fer.models.surgery import crop_spatial_kernels
from keras_fer.models.tta import average_over_views, predict_probabilities, tta_views

__all__ = [
    "FERModel",
    "PRESETS",
    "WEIGHTS",
    "average_over_views",
    "copy_weights",
    "crop_spatial_kernels",
    "from_preset",
    "list_presets",
    "load_model_file",
    "predict_probabilities",
    "resnet18",
    "tta_views",
]
