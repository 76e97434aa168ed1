"""Class-balanced metrics for `model.fit`: balanced accuracy and macro-F1."""

import keras
from keras import ops

from keras_fer.validation import is_int


class ConfusionMatrixMetric(keras.metrics.Metric):
    """Accumulates a confusion matrix; subclasses reduce it to one number.

    Labels may be integer classes `(n,)` / `(n, 1)` or per-class
    distributions `(n, num_classes)` (one-hot, soft votes), whose argmax is
    the true class. Predictions are per-class scores.

    Args:
        num_classes: number of classes.
    """

    def __init__(self, num_classes, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if not is_int(num_classes, minimum=2):
            raise ValueError(f"`num_classes` must be an integer >= 2. Received: num_classes={num_classes}")
        self.num_classes = num_classes
        self.counts = self.add_variable(shape=(num_classes, num_classes), initializer="zeros", name="counts")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == self.num_classes:
            y_true = ops.argmax(y_true, axis=-1)
        true = ops.one_hot(ops.reshape(ops.cast(y_true, "int32"), (-1,)), self.num_classes, dtype=self.dtype)
        predicted = ops.one_hot(ops.argmax(y_pred, axis=-1), self.num_classes, dtype=self.dtype)
        if sample_weight is not None:
            true = true * ops.reshape(ops.cast(sample_weight, self.dtype), (-1, 1))
        self.counts.assign_add(ops.matmul(ops.transpose(true), predicted))

    def reset_state(self):
        self.counts.assign(ops.zeros(self.counts.shape, dtype=self.counts.dtype))

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_fer")
class BalancedAccuracy(ConfusionMatrixMetric):
    """Mean per-class recall; classes without samples are left out of the mean.

    Example:

    >>> metric = BalancedAccuracy(num_classes=2)
    >>> metric.update_state([0, 0, 0, 1], [[1, 0], [1, 0], [0, 1], [0, 1]])
    >>> round(float(metric.result()), 4)  # (2/3 + 1) / 2
    0.8333
    """

    def __init__(self, num_classes, name="balanced_accuracy", dtype=None):
        super().__init__(num_classes, name=name, dtype=dtype)

    def result(self):
        support = ops.sum(self.counts, axis=1)
        present = ops.cast(support > 0, self.dtype)
        recall = ops.diagonal(self.counts) / ops.maximum(support, 1.0)
        return ops.sum(recall * present) / ops.maximum(ops.sum(present), 1.0)


@keras.saving.register_keras_serializable(package="keras_fer")
class MacroF1(ConfusionMatrixMetric):
    """Unweighted mean of per-class F1 over classes that occur in labels or predictions.

    Example:

    >>> metric = MacroF1(num_classes=2)
    >>> metric.update_state([0, 0, 0, 1], [[1, 0], [1, 0], [0, 1], [0, 1]])
    >>> round(float(metric.result()), 4)  # F1 0.8 and 0.6667
    0.7333
    """

    def __init__(self, num_classes, name="macro_f1", dtype=None):
        super().__init__(num_classes, name=name, dtype=dtype)

    def result(self):
        true_positives = ops.diagonal(self.counts)
        denominator = ops.sum(self.counts, axis=1) + ops.sum(self.counts, axis=0)
        present = ops.cast(denominator > 0, self.dtype)
        f1 = 2.0 * true_positives / ops.maximum(denominator, 1.0)
        return ops.sum(f1 * present) / ops.maximum(ops.sum(present), 1.0)
