"""Losses for facial expression recognition."""

from keras_fer.losses.class_balanced_loss import ClassBalancedLoss, class_balanced_weights

__all__ = ["ClassBalancedLoss", "class_balanced_weights"]
