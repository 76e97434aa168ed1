"""keras-fer: facial expression recognition for Keras 3."""

from keras_fer import data, layers, losses, models, training
from keras_fer.inference import Recognizer
from keras_fer.version import __version__

__all__ = ["Recognizer", "data", "layers", "losses", "models", "training", "__version__"]
