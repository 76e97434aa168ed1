"""Injected label noise: a seeded, recorded flip of a fraction of the training labels."""

import dataclasses

import numpy as np

from keras_fer.validation import is_number


def flip_labels(dataset, fraction, seed=0):
    """Gives exactly `round(fraction * n)` examples a different label, drawn uniformly.

    The examples to flip are a seeded random choice without repetition; each
    gets one of the other `num_classes - 1` classes with equal probability
    (the symmetric noise of the noisy-label FER literature, e.g. RAF-DB with
    10-30% flipped labels). The same `(dataset, fraction, seed)` always flips
    the same examples to the same classes.

    Args:
        dataset: a `keras_fer.data.FERDataset` with integer labels.
        fraction: share of the examples to flip, in `[0, 1)`.
        seed: seed of the choice.

    Returns:
        `(noisy, flipped)`: the dataset with the new labels, and the indices
        of the flipped examples in ascending order.

    Example:

    >>> from keras_fer.data import FERDataset
    >>> clean = FERDataset(np.zeros((10, 4, 4, 1), "uint8"), np.zeros(10, "int32"), ("a", "b"))
    >>> noisy, flipped = flip_labels(clean, 0.3, seed=0)
    >>> len(flipped), int(noisy.labels.sum())
    (3, 3)
    """
    if dataset.labels.ndim != 1:
        raise ValueError("`label_noise` flips class indices; this dataset has soft labels (one probability row per image).")
    _check_fraction(fraction)
    labels, flipped = flip_class_indices(dataset.labels, len(dataset.class_names), fraction, np.random.default_rng(seed))
    return dataclasses.replace(dataset, labels=labels), np.sort(flipped)


def flipped_examples(noisy, fraction, seed=0):
    """The record of what `flip_labels(clean, fraction, seed)` changed, read from its result `noisy`.

    Returns:
        A list of `(index, source, original_label, noisy_label)`, labels as
        class names, in ascending index order.
    """
    _check_fraction(fraction)
    num_classes, names = len(noisy.class_names), noisy.class_names
    flipped, offsets = _flip_plan(noisy.num_examples, num_classes, fraction, np.random.default_rng(seed))
    order = np.argsort(flipped)
    flipped, originals = flipped[order], (noisy.labels[flipped] - offsets)[order] % num_classes
    return [
        (int(index), noisy.sources[index] if noisy.sources else "", names[original], names[noisy.labels[index]])
        for index, original in zip(flipped, originals)
    ]


def flip_class_indices(labels, num_classes, fraction, rng):
    """`labels` with `round(fraction * n)` of them moved to another class, and the moved indices (in draw order)."""
    flipped, offsets = _flip_plan(len(labels), num_classes, fraction, rng)
    labels = labels.copy()
    labels[flipped] = (labels[flipped] + offsets) % num_classes
    return labels, flipped


def _flip_plan(num_examples, num_classes, fraction, rng):
    """Which examples to flip and by how many classes (1 .. num_classes - 1) each."""
    flipped = rng.choice(num_examples, size=round(fraction * num_examples), replace=False)
    return flipped, rng.integers(1, num_classes, size=len(flipped))


def _check_fraction(fraction):
    if not is_number(fraction, 0) or fraction >= 1:
        raise ValueError(f"`label_noise` must be a number in [0, 1). Received: label_noise={fraction!r}")
