"""Datasets: the canonical expression vocabulary and an embedded synthetic set."""

from keras_fer.data import synthetic
from keras_fer.data.classes import EXPRESSIONS, EXPRESSIONS_WITH_CONTEMPT

__all__ = ["EXPRESSIONS", "EXPRESSIONS_WITH_CONTEMPT", "synthetic"]
