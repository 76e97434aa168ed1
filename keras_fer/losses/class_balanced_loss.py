import math

import keras
import numpy as np
from keras import ops

from keras_fer.losses.targets import to_distribution
from keras_fer.validation import is_number

WEIGHTINGS = ("effective_number", "inverse_frequency", "none")


@keras.saving.register_keras_serializable(package="keras_fer")
class ClassBalancedLoss(keras.losses.Loss):
    """Cross-entropy with per-class weights against class imbalance.

    Each class `c` gets a weight `w_c` computed once from the number of
    training samples `n_c` of each class, normalised so that the weights sum
    to the number of classes:

    - `"effective_number"`: `w_c = (1 - beta) / (1 - beta ** n_c)` (Cui et al.);
    - `"inverse_frequency"`: `w_c = N / (C * n_c)`;
    - `"none"`: `w_c = 1`, plain cross-entropy.

    The loss of a sample with target distribution `t` and predicted
    probabilities `p` is `sum_c w_c * t_c * (1 - p_c) ** gamma * -log(p_c)`.
    `t` may be an integer label, a one-hot vector, soft votes (FER+) or a
    mixed target from `UncertaintyMixing`; for the latter the loss is
    `0.5 * w[y_i] * CE(y_i) + 0.5 * w[y_j] * CE(y_j)`.

    Reference:
    - [Cui et al., Class-Balanced Loss Based on Effective Number of Samples,
        CVPR 2019](https://arxiv.org/abs/1901.05555)

    Args:
        samples_per_class: sequence of positive numbers, the training samples
            of each class, in the model's class order.
        beta: float in `[0, 1)`, for `"effective_number"`. Defaults to `0.9999`.
        weighting: one of `"effective_number"`, `"inverse_frequency"`,
            `"none"`. Defaults to `"effective_number"`.
        gamma: non-negative float; above 0 adds the focal factor
            `(1 - p_c) ** gamma`. Defaults to `0.0`.
        from_logits: whether `y_pred` holds logits rather than probabilities.
        **kwargs: base loss keyword arguments (`reduction`, `name`, `dtype`).

    Call arguments:
        y_true: integer labels `(batch,)` or `(batch, 1)`, or target
            distributions `(batch, num_classes)`.
        y_pred: probabilities (or logits) `(batch, num_classes)`.
        sample_weight: optional per-sample weights.

    Example:

    >>> loss = ClassBalancedLoss([900, 100], weighting="inverse_frequency")
    >>> [round(w, 2) for w in loss.class_weights]
    [0.2, 1.8]
    >>> round(float(loss([1], [[0.5, 0.5]])), 4)
    1.2477
    """

    def __init__(
        self,
        samples_per_class: list[int],
        beta: float = 0.9999,
        weighting: str = "effective_number",
        gamma: float = 0.0,
        from_logits: bool = False,
        **kwargs,
    ) -> None:
        kwargs.setdefault("name", "class_balanced_loss")
        super().__init__(**kwargs)
        if not is_number(gamma, minimum=0):
            raise ValueError(f"`gamma` must be a non-negative number. Received: gamma={gamma}")
        self.class_weights = class_balanced_weights(samples_per_class, beta, weighting)
        self.samples_per_class = [_plain_number(n) for n in samples_per_class]
        self.beta = beta
        self.weighting = weighting
        self.gamma = gamma
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        y_true = ops.convert_to_tensor(y_true)
        y_pred = ops.convert_to_tensor(y_pred)
        num_classes = len(self.class_weights)
        if y_pred.shape[-1] != num_classes:
            raise ValueError(
                f"`samples_per_class` has {num_classes} classes but the predictions have {y_pred.shape[-1]}. Received: y_pred.shape={y_pred.shape}"
            )
        targets = to_distribution(y_true, y_pred)
        log_probabilities = self._log_probabilities(y_pred)
        weights = ops.convert_to_tensor(self.class_weights, dtype=y_pred.dtype)
        per_class = -targets * weights * log_probabilities
        if self.gamma:
            per_class = per_class * (1.0 - ops.exp(log_probabilities)) ** self.gamma
        return ops.sum(per_class, axis=-1)

    def _log_probabilities(self, y_pred):
        if self.from_logits:
            return ops.log_softmax(y_pred, axis=-1)
        epsilon = keras.config.epsilon()
        probabilities = y_pred / ops.sum(y_pred, axis=-1, keepdims=True)
        return ops.log(ops.clip(probabilities, epsilon, 1.0 - epsilon))

    def get_config(self):
        return {
            **super().get_config(),
            "samples_per_class": self.samples_per_class,
            "beta": self.beta,
            "weighting": self.weighting,
            "gamma": self.gamma,
            "from_logits": self.from_logits,
        }


def class_balanced_weights(samples_per_class, beta=0.9999, weighting="effective_number"):
    """Per-class weights of `ClassBalancedLoss`, normalised to sum to `C`.

    Args:
        samples_per_class: sequence of positive numbers, one per class.
        beta: float in `[0, 1)`, for `"effective_number"`.
        weighting: one of `"effective_number"`, `"inverse_frequency"`, `"none"`.

    Returns:
        A list of `C` Python floats.

    Example:

    >>> class_balanced_weights([10, 30], weighting="inverse_frequency")
    [1.5, 0.5]
    """
    counts = _validated_counts(samples_per_class)
    if weighting not in WEIGHTINGS:
        raise ValueError(f"`weighting` must be one of {WEIGHTINGS}. Received: weighting={weighting!r}")
    if not is_number(beta, 0) or beta >= 1:
        raise ValueError(f"`beta` must be a number in [0, 1). Received: beta={beta}")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if weighting == "effective_number":
            weights = (1.0 - beta) / (1.0 - np.power(beta, counts))
        elif weighting == "inverse_frequency":
            weights = counts.sum() / (len(counts) * counts)
        else:
            weights = np.ones_like(counts)
        normalised = weights * len(counts) / weights.sum()
    if not np.all(np.isfinite(normalised)):
        raise ValueError(
            f"`samples_per_class` gives class weights that are not finite numbers (counts too close to 0 for float64). "
            f"Received: samples_per_class={list(samples_per_class)}"
        )
    return [float(w) for w in normalised]


def _validated_counts(samples_per_class):
    try:
        counts = np.asarray(samples_per_class, dtype="float64")
    except (TypeError, ValueError):
        counts = None
    if counts is None or counts.ndim != 1 or counts.size == 0:
        raise ValueError(
            f"`samples_per_class` must be a non-empty sequence of numbers, one per class. Received: samples_per_class={samples_per_class!r}"
        )
    for index, count in enumerate(counts):
        if not math.isfinite(count) or count <= 0:
            problem = "no samples" if count == 0 else f"an invalid count {count}"
            raise ValueError(
                f"`samples_per_class` must hold positive counts, but class {index} "
                f"has {problem}. Received: samples_per_class={list(samples_per_class)}"
            )
    return counts


def _plain_number(value):
    number = float(value)
    return int(number) if number.is_integer() else number
