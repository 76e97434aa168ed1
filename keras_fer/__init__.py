"""keras-fer: facial expression recognition for Keras 3."""

__version__ = "0.1.0"

from keras_fer import data, layers, losses, models, training  # noqa: E402
from keras_fer.inference import Recognizer  # noqa: E402

__all__ = ["Recognizer", "data", "layers", "losses", "models", "training", "__version__"]
