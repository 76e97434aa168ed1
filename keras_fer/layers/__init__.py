"""Reusable Keras layers for facial expression recognition."""

from keras_fer.layers.batch_normalization import BatchNormalization
from keras_fer.layers.cbam_block import CBAMBlock
from keras_fer.layers.philox_dropout import PhiloxDropout
from keras_fer.layers.uncertainty_mixing import UncertaintyMixing

__all__ = ["BatchNormalization", "CBAMBlock", "PhiloxDropout", "UncertaintyMixing"]
