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


def test_flip_averages_the_predictions_of_both_mirror_images():
    from keras_fer.data.synthetic import load_synthetic
    from keras_fer.models import from_preset
    from keras_fer.training.report import predict_probabilities

    dataset = load_synthetic(samples_per_class=1, image_size=32)
    model = from_preset("tiny", seed=0)
    images = dataset.images.astype("float32")
    expected = (model.predict(images, verbose=0) + model.predict(images[:, :, ::-1], verbose=0)) / 2
    flipped = predict_probabilities(model, dataset, batch_size=3, flip=True)
    np.testing.assert_allclose(flipped, expected, atol=1e-6)
    assert np.abs(flipped - predict_probabilities(model, dataset, batch_size=3)).max() > 1e-4


def test_histories_of_consecutive_runs_join_with_epochs_numbered_on(tmp_path):
    from PIL import Image

    from keras_fer.training.report import plot_training_curves, read_histories

    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("epoch,loss,val_loss\n0,2.0,2.5\n1,1.5,2.0\n")
    second.write_text("epoch,loss,val_loss,accuracy\n0,1.2,1.9,0.5\n1,1.1,1.8,0.6\n2,1.0,1.7,0.7\n")
    rows, starts = read_histories([first, second])
    assert [row["epoch"] for row in rows] == [1, 2, 3, 4, 5] and starts == [1, 3]
    assert [row["loss"] for row in rows] == ["2.0", "1.5", "1.2", "1.1", "1.0"]
    assert [row.get("accuracy") for row in rows] == [None, None, "0.5", "0.6", "0.7"]
    plot_training_curves([first, second], tmp_path / "curves.png")
    # Two panels (loss, accuracy) of 4 x 3.4 inches at 110 dpi.
    assert Image.open(tmp_path / "curves.png").size == (880, 374)
