"""Training and evaluation helpers."""

from keras_fer.training.evaluation import confusion_matrix, per_class_recall

__all__ = ["confusion_matrix", "per_class_recall"]
