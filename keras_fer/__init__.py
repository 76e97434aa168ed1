"""keras-fer: facial expression recognition for Keras 3."""

from keras_fer import data, layers, losses, models, training

__version__ = "0.1.0"

__all__ = ["data", "layers", "losses", "models", "training", "__version__"]
