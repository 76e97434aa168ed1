import keras
import numpy as np
import pytest

from keras_fer.losses import ClassBalancedLoss, class_balanced_weights
from tests.testing import numpy_categorical_crossentropy, run_loss_test

COUNTS = [3969, 435, 4079, 7186, 4796, 3161, 4932]
RNG = np.random.default_rng(0)
PROBABILITIES = RNG.dirichlet(np.ones(7), size=6).astype("float32")
LABELS = np.array([0, 1, 2, 3, 1, 6])


def numpy_weights(counts, beta, weighting):
    counts = np.asarray(counts, dtype="float64")
    if weighting == "effective_number":
        weights = (1 - beta) / (1 - beta**counts)
    elif weighting == "inverse_frequency":
        weights = counts.sum() / (len(counts) * counts)
    else:
        weights = np.ones_like(counts)
    return weights / weights.sum() * len(counts)


@pytest.mark.parametrize("weighting", ["effective_number", "inverse_frequency", "none"])
@pytest.mark.parametrize("beta", [0.0, 0.9, 0.999, 0.9999])
def test_weights_match_numpy(weighting, beta):
    weights = class_balanced_weights(COUNTS, beta, weighting)
    np.testing.assert_allclose(weights, numpy_weights(COUNTS, beta, weighting), rtol=1e-12)
    assert sum(weights) == pytest.approx(7)


def test_weights_hand_computed():
    assert class_balanced_weights([10, 30], weighting="inverse_frequency") == [1.5, 0.5]
    beta = 0.5
    effective = [(1 - beta) / (1 - beta**1), (1 - beta) / (1 - beta**2)]
    expected = [2 * e / sum(effective) for e in effective]
    assert class_balanced_weights([1, 2], beta=beta) == pytest.approx(expected)
    assert expected == pytest.approx([1.2, 0.8])


@pytest.mark.parametrize("weighting", ["effective_number", "inverse_frequency", "none"])
@pytest.mark.parametrize("gamma", [0.0, 2.0])
@pytest.mark.parametrize("label_format", ["integer", "column", "one_hot"])
def test_hard_targets_match_numpy(weighting, gamma, label_format):
    labels = {"integer": LABELS, "column": LABELS[:, None], "one_hot": np.eye(7)[LABELS]}[label_format]
    loss = ClassBalancedLoss(COUNTS, beta=0.999, weighting=weighting, gamma=gamma, reduction=None)
    expected = numpy_categorical_crossentropy(np.eye(7)[LABELS], PROBABILITIES, numpy_weights(COUNTS, 0.999, weighting), gamma)
    np.testing.assert_allclose(loss(labels, PROBABILITIES), expected, rtol=1e-5)


@pytest.mark.parametrize("weighting", ["effective_number", "inverse_frequency", "none"])
@pytest.mark.parametrize("gamma", [0.0, 1.5])
def test_soft_targets_match_numpy(weighting, gamma):
    votes = RNG.integers(0, 10, size=(6, 7)).astype("float32") + 0.1
    targets = votes / votes.sum(-1, keepdims=True)
    loss = ClassBalancedLoss(COUNTS, weighting=weighting, gamma=gamma, reduction=None)
    expected = numpy_categorical_crossentropy(targets, PROBABILITIES, numpy_weights(COUNTS, 0.9999, weighting), gamma)
    np.testing.assert_allclose(loss(targets, PROBABILITIES), expected, rtol=1e-5)


def test_mixed_target_is_half_weighted_loss_of_each_label():
    loss = ClassBalancedLoss(COUNTS, weighting="inverse_frequency", reduction=None)
    mixed = 0.5 * np.eye(7)[[0, 3]] + 0.5 * np.eye(7)[[1, 1]]
    weights = numpy_weights(COUNTS, None, "inverse_frequency")
    log_p = np.log(PROBABILITIES[:2].astype("float64"))
    expected = [
        -0.5 * weights[0] * log_p[0, 0] - 0.5 * weights[1] * log_p[0, 1],
        -0.5 * weights[3] * log_p[1, 3] - 0.5 * weights[1] * log_p[1, 1],
    ]
    np.testing.assert_allclose(loss(mixed, PROBABILITIES[:2]), expected, rtol=1e-5)


@pytest.mark.parametrize("from_logits", [False, True])
def test_unweighted_equals_keras_categorical_crossentropy(from_logits):
    predictions = RNG.normal(size=(6, 7)).astype("float32") if from_logits else PROBABILITIES
    targets = np.eye(7)[LABELS]
    ours = ClassBalancedLoss(COUNTS, weighting="none", from_logits=from_logits)
    keras_loss = keras.losses.CategoricalCrossentropy(from_logits=from_logits)
    np.testing.assert_allclose(ours(targets, predictions), keras_loss(targets, predictions), rtol=1e-6)


def test_from_logits_matches_numpy_softmax():
    logits = RNG.normal(size=(6, 7))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    loss = ClassBalancedLoss(COUNTS, weighting="inverse_frequency", gamma=2.0, from_logits=True, reduction=None)
    expected = numpy_categorical_crossentropy(np.eye(7)[LABELS], probabilities, numpy_weights(COUNTS, None, "inverse_frequency"), 2.0)
    np.testing.assert_allclose(loss(LABELS, logits.astype("float32")), expected, rtol=1e-5)


def test_sample_weight_weights_each_sample():
    sample_weight = np.array([1.0, 0.0, 2.0, 1.0, 0.5, 3.0])
    loss = ClassBalancedLoss(COUNTS)
    per_sample = numpy_categorical_crossentropy(np.eye(7)[LABELS], PROBABILITIES, numpy_weights(COUNTS, 0.9999, "effective_number"))
    expected = np.sum(per_sample * sample_weight) / len(LABELS)
    np.testing.assert_allclose(loss(LABELS, PROBABILITIES, sample_weight=sample_weight), expected, rtol=1e-5)


def test_docstring_example_value():
    loss = ClassBalancedLoss([900, 100], weighting="inverse_frequency")
    assert float(loss([1], [[0.5, 0.5]])) == pytest.approx(1.8 * np.log(2), rel=1e-6)


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"samples_per_class": [10, 0, 5]}, "class 1 has no samples"),
        ({"samples_per_class": [10, -3, 5]}, "class 1 has an invalid count -3"),
        ({"samples_per_class": [10, float("nan")]}, "class 1 has an invalid count nan"),
        ({"samples_per_class": []}, "non-empty sequence"),
        ({"samples_per_class": [[1, 2], [3, 4]]}, "non-empty sequence"),
        ({"samples_per_class": ["a", "b"]}, "non-empty sequence"),
        ({"samples_per_class": [1, 2], "beta": 1.0}, r"beta=1.0"),
        ({"samples_per_class": [1, 2], "beta": -0.1}, r"beta=-0.1"),
        ({"samples_per_class": [1, 2], "weighting": "focal"}, "weighting='focal'"),
        ({"samples_per_class": [1, 2], "gamma": -1}, "gamma=-1"),
        ({"samples_per_class": [1e-300, 1]}, "class weights that are not finite numbers"),  # were [nan, 0.0]
    ],
)
def test_invalid_arguments_raise(arguments, message):
    with pytest.raises(ValueError, match=message):
        ClassBalancedLoss(**arguments)


def test_class_count_mismatch_with_predictions_raises():
    loss = ClassBalancedLoss([10, 20, 30])
    with pytest.raises(ValueError, match="3 classes but the predictions have 7"):
        loss(LABELS, PROBABILITIES)


def test_target_shape_mismatch_raises():
    loss = ClassBalancedLoss(COUNTS)
    with pytest.raises(ValueError, match="Targets must be integer labels"):
        loss(np.zeros((6, 3)), PROBABILITIES)


def test_batch_size_mismatch_raises():
    with pytest.raises(ValueError, match="the same batch size. Received: y_true.shape=\\(3,\\), y_pred.shape=\\(6, 7\\)"):
        ClassBalancedLoss(COUNTS)([0, 1, 2], PROBABILITIES)  # broadcast to a number before


@pytest.mark.parametrize("label", [7, -1, 2.5])
def test_a_label_that_is_not_a_class_index_gives_a_nan_loss_not_zero(label):
    loss = ClassBalancedLoss(COUNTS, reduction=None)
    labels = np.array([0, 1, 2, 3, 1, label], "float32")
    values = np.asarray(loss(labels, PROBABILITIES))
    expected = numpy_categorical_crossentropy(np.eye(7)[LABELS[:5]], PROBABILITIES[:5], numpy_weights(COUNTS, 0.9999, "effective_number"), 0.0)
    np.testing.assert_allclose(values[:5], expected, rtol=1e-5)
    assert np.isnan(values[5])  # 7 was an all-zero target (loss 0), 2.5 was read as class 2


def test_loss_checks_and_round_trip_keeps_class_weights():
    loss = ClassBalancedLoss(COUNTS, beta=0.99, weighting="inverse_frequency", gamma=1.0, from_logits=True, reduction=None, name="cb")
    logits = RNG.normal(size=(6, 7))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    expected = numpy_categorical_crossentropy(np.eye(7)[LABELS], probabilities, numpy_weights(COUNTS, None, "inverse_frequency"), 1.0)
    restored = run_loss_test(loss, LABELS, logits.astype("float32"), expected)
    assert restored.class_weights == loss.class_weights


def test_fit_on_a_label_out_of_range_stops_at_once_naming_the_labels():
    from keras_fer.training.callbacks import StopOnNonFiniteLoss
    from tests.testing import tiny_resnet

    model = tiny_resnet()  # 3 classes, mixing heads: its train step turns labels into targets too
    model.compile("adam", ClassBalancedLoss([5, 5, 5]))
    images = np.random.default_rng(0).uniform(0, 255, (8, 16, 16, 1)).astype("float32")
    labels = np.array([1, 2, 3, 1, 2, 3, 1, 2])  # 1-based, as RAF-DB's files number them
    with pytest.raises(ValueError, match="loss became nan at epoch 1, batch 1; .*check that the labels are class indices from 0"):
        model.fit(images, labels, batch_size=8, epochs=1, verbose=0, callbacks=[StopOnNonFiniteLoss()])
