import keras
import numpy as np
import pytest

from keras_fer.training import BalancedAccuracy, MacroF1, classification_report


def numpy_scores(labels, predictions, num_classes):
    recalls, f1s = [], []
    for c in range(num_classes):
        true_positive = np.sum((labels == c) & (predictions == c))
        support, predicted = np.sum(labels == c), np.sum(predictions == c)
        if support:
            recalls.append(true_positive / support)
        if support or predicted:
            f1s.append(2 * true_positive / (support + predicted))
    return np.mean(recalls), np.mean(f1s)


@pytest.mark.parametrize("soft_labels", [False, True])
def test_metrics_match_numpy_over_several_batches(soft_labels):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 50)
    scores = rng.uniform(size=(50, 5))
    scores[:, 4] = 0
    balanced, macro_f1 = BalancedAccuracy(5), MacroF1(5)
    targets = np.eye(5)[labels] * 0.7 + 0.06 if soft_labels else labels
    for start in range(0, 50, 16):
        balanced.update_state(targets[start : start + 16], scores[start : start + 16])
        macro_f1.update_state(targets[start : start + 16], scores[start : start + 16])
    expected = numpy_scores(labels, scores.argmax(-1), 5)
    np.testing.assert_allclose([float(balanced.result()), float(macro_f1.result())], expected, rtol=1e-6)
    balanced.reset_state()
    assert float(balanced.result()) == 0.0


def test_metrics_in_fit_and_config_round_trip():
    metric = MacroF1(3, name="f1")
    restored = MacroF1.from_config(metric.get_config())
    assert (restored.num_classes, restored.name) == (3, "f1")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=[BalancedAccuracy(3)], jit_compile=True)
    logs = model.evaluate(np.eye(3)[:, :2].astype("float32"), np.array([0, 1, 2]), verbose=0, return_dict=True)
    predictions = model.predict(np.eye(3)[:, :2].astype("float32"), verbose=0).argmax(-1)
    assert logs["balanced_accuracy"] == pytest.approx(numpy_scores(np.array([0, 1, 2]), predictions, 3)[0])


def test_bad_num_classes():
    with pytest.raises(ValueError, match="`num_classes` must be an integer >= 2. Received: num_classes=1"):
        BalancedAccuracy(1)


def test_classification_report_against_hand_computed_values():
    # true 0 0 0 1 1 2, predicted 0 0 1 1 2 2
    probabilities = np.eye(3)[[0, 0, 1, 1, 2, 2]]
    report = classification_report([0, 0, 0, 1, 1, 2], probabilities, ["a", "b", "c"])
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["accuracy"] == round(4 / 6, 4)
    assert report["per_class"]["a"] == {"precision": 1.0, "recall": round(2 / 3, 4), "f1": 0.8, "support": 3}
    assert report["per_class"]["b"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    assert report["per_class"]["c"] == {"precision": 0.5, "recall": 1.0, "f1": round(2 / 3, 4), "support": 1}
    assert report["balanced_accuracy"] == round((2 / 3 + 0.5 + 1) / 3, 4)
    assert report["macro_f1"] == round((0.8 + 0.5 + 2 / 3) / 3, 4)
