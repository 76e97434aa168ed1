import numpy as np


def confusion_matrix(labels, predictions, num_classes):
    """Counts of (true class, predicted class) pairs.

    Args:
        labels: integer labels `(n,)`.
        predictions: integer predicted classes `(n,)`, or probabilities
            `(n, num_classes)` (their argmax is taken).
        num_classes: number of classes.

    Returns:
        An int64 array `(num_classes, num_classes)`: rows are true classes,
        columns predicted classes.

    Example:

    >>> confusion_matrix([0, 0, 1], [0, 1, 1], num_classes=2).tolist()
    [[1, 1], [0, 1]]
    """
    labels = np.asarray(labels).reshape(-1)
    predictions = np.asarray(predictions)
    if predictions.ndim == 2:
        predictions = predictions.argmax(-1)
    if labels.shape != predictions.shape:
        raise ValueError(
            "`labels` and `predictions` must hold one entry per sample. "
            f"Received: labels.shape={labels.shape}, predictions.shape={predictions.shape}"
        )
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"`{name}` must lie in [0, {num_classes}). Received values from {values.min()} to {values.max()}")
    counts = np.zeros((num_classes, num_classes), "int64")
    np.add.at(counts, (labels, predictions), 1)
    return counts


def per_class_recall(labels, predictions, num_classes):
    """Recall of each class; `nan` for a class without samples.

    Example:

    >>> per_class_recall([0, 0, 1], [0, 1, 1], num_classes=2).tolist()
    [0.5, 1.0]
    """
    counts = confusion_matrix(labels, predictions, num_classes)
    support = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, counts.diagonal() / support, np.nan)
