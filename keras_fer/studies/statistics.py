"""Statistics for study results: means over seeds and paired tests over the same faces."""

import math

import numpy as np


def mean_and_std(values):
    """Mean and sample standard deviation (ddof 1; NaN for a single value, which has none) of `values`.

    Example:

    >>> mean_and_std([0.5, 0.7])
    (0.6, 0.1414)
    """
    values = np.asarray(values, "float64")
    if values.size == 0:
        raise ValueError("`values` must hold at least one number.")
    std = values.std(ddof=1) if values.size > 1 else float("nan")
    return round(float(values.mean()), 4), round(float(std), 4)


def mcnemar(correct, baseline_correct):
    """Exact two-sided McNemar test of two classifiers on the same faces.

    Args:
        correct: bools, whether the first classifier got each face right.
        baseline_correct: the same for the second, face by face.

    Returns:
        `(wins, losses, p_value)`: faces only the first got right, faces
        only the second got right, and the exact binomial p-value of that
        split under "both are equally good" (1.0 when they never disagree).

    Example:

    >>> mcnemar([1, 1, 1, 0, 1], [0, 0, 0, 0, 1])
    (3, 0, 0.25)
    """
    correct, baseline_correct = _paired(correct, baseline_correct)
    wins = int(np.sum(correct & ~baseline_correct))
    losses = int(np.sum(~correct & baseline_correct))
    return wins, losses, round(binomial_two_sided(min(wins, losses), wins + losses), 6)


def binomial_two_sided(k, n):
    """P(X <= k or X >= n - k) for X ~ Binomial(n, 1/2), with `k <= n / 2`; 1.0 for `n = 0`.

    Example:

    >>> round(binomial_two_sided(0, 3), 6)
    0.25
    """
    if n == 0:
        return 1.0
    log_terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) - n * math.log(2) for i in range(k + 1)]
    tail = sum(math.exp(term) for term in log_terms)
    return min(1.0, 2 * tail)


def bootstrap_difference(correct, baseline_correct, resamples=2000, seed=0, groups=None):
    """Percentile 95% interval of the accuracy difference, resampling faces with replacement.

    Args:
        correct, baseline_correct: bools per face (seeds pooled: one entry
            per face and seed), as for `mcnemar`.
        resamples: bootstrap resamples.
        seed: seed of the resampling.
        groups: optional face index of each entry; then faces, not entries,
            are resampled (all seeds of a face together), which keeps
            the dependence between a face's seeds.

    Returns:
        `(difference, low, high)` in accuracy points (fractions).
    """
    correct, baseline_correct = _paired(correct, baseline_correct)
    difference = correct.astype("float64") - baseline_correct
    rng = np.random.default_rng(seed)
    if groups is None:
        groups = np.arange(len(difference))
    groups = np.asarray(groups)
    faces, inverse = np.unique(groups, return_inverse=True)
    per_face = np.bincount(inverse, weights=difference, minlength=len(faces))
    entries = np.bincount(inverse, minlength=len(faces))
    draws = rng.integers(0, len(faces), size=(resamples, len(faces)))
    estimates = per_face[draws].sum(axis=1) / entries[draws].sum(axis=1)
    low, high = np.percentile(estimates, [2.5, 97.5])
    return round(float(difference.mean()), 4), round(float(low), 4), round(float(high), 4)


def _paired(correct, baseline_correct):
    correct, baseline_correct = np.asarray(correct, bool), np.asarray(baseline_correct, bool)
    if correct.shape != baseline_correct.shape or correct.ndim != 1:
        raise ValueError(f"Paired tests need one entry per face for both classifiers. Received: shapes {correct.shape} and {baseline_correct.shape}")
    return correct, baseline_correct


def holm(p_values):
    """Holm-Bonferroni adjusted p-values, in the order given (family-wise error over all of them).

    Example:

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    order = np.argsort(p_values, kind="stable")
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = round(running, 6)
    return adjusted
