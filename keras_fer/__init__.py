"""keras-fer: facial expression recognition for Keras 3."""

from keras_fer import layers, losses, models

__version__ = "0.1.0"

__all__ = ["layers", "losses", "models", "__version__"]
