import numpy as np
import pytest

from keras_fer.training import confusion_matrix, per_class_recall


def test_confusion_matrix_hand_computed():
    labels = [0, 0, 1, 2, 2, 2]
    predictions = [0, 1, 1, 2, 0, 2]
    assert confusion_matrix(labels, predictions, 3).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_probabilities_are_argmaxed_and_recall_per_class():
    probabilities = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8], [0.5, 0.3, 0.2]])
    recall = per_class_recall([0, 1, 2, 2], probabilities, 3)
    np.testing.assert_allclose(recall, [1.0, 1.0, 0.5])


def test_class_without_samples_has_nan_recall():
    recall = per_class_recall([0, 0], [0, 1], 3)
    assert recall[0] == 0.5 and np.isnan(recall[1]) and np.isnan(recall[2])
    assert per_class_recall([0, 1], [0, 0], 3)[1] == 0.0


@pytest.mark.parametrize(
    "labels,predictions,message",
    [([0, 1], [0], "one entry per sample"), ([0, 3], [0, 1], "`labels` must lie in \\[0, 3\\)"), ([0, 1], [0, -1], "`predictions` must lie")],
)
def test_invalid_inputs_raise(labels, predictions, message):
    with pytest.raises(ValueError, match=message):
        confusion_matrix(labels, predictions, 3)
