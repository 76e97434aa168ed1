"""Scores of predicted class probabilities against labels: confusion matrix, per-class recall, the classification report."""

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
            f"`labels` and `predictions` must hold one entry per sample. Received: labels.shape={labels.shape}, predictions.shape={predictions.shape}"
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


def classification_report(labels, probabilities, class_names):
    """Accuracy, balanced accuracy, macro-F1, per-class scores and the confusion matrix.

    Args:
        labels: integer labels `(n,)`, or per-class distributions
            `(n, num_classes)` whose argmax is the true class.
        probabilities: predicted scores `(n, num_classes)`.
        class_names: names in label order.

    Returns:
        A JSON-ready dict. Precision, recall and F1 of a class without
        predictions or samples are 0. As in scikit-learn, balanced accuracy
        averages recall over the classes with samples, macro-F1 averages F1
        over the classes with samples or predictions.

    Example:

    >>> report = classification_report([0, 0, 1], [[.9, .1], [.2, .8], [.3, .7]], ["a", "b"])
    >>> report["accuracy"], report["per_class"]["b"]["precision"]
    (0.6667, 0.5)
    """
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.argmax(-1)
    counts = confusion_matrix(labels, probabilities, len(class_names))
    support = counts.sum(axis=1)
    predicted = counts.sum(axis=0)
    true_positives = counts.diagonal()
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(predicted > 0, true_positives / predicted, 0.0)
        recall = np.where(support > 0, true_positives / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    present = support > 0
    return {
        "num_examples": int(support.sum()),
        "accuracy": _round(true_positives.sum() / max(support.sum(), 1)),
        "balanced_accuracy": _round(recall[present].mean()),
        "macro_f1": _round(f1[present | (predicted > 0)].mean()),
        "per_class": {
            name: {"precision": _round(p), "recall": _round(r), "f1": _round(f), "support": int(s)}
            for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
        },
        "class_names": list(class_names),
        "confusion_matrix": counts.tolist(),
    }


def _round(value):
    return round(float(value), 4)
