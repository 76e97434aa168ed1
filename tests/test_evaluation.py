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
    from keras_fer.models.tta import predict_probabilities

    dataset = load_synthetic(samples_per_class=1, image_size=32)
    model = from_preset("tiny", seed=0)
    images = dataset.images.astype("float32")
    expected = (model.predict(images, verbose=0) + model.predict(images[:, :, ::-1], verbose=0)) / 2
    flipped = predict_probabilities(model, dataset, batch_size=3, flip=True)
    np.testing.assert_allclose(flipped, expected, atol=1e-6)
    assert np.abs(flipped - predict_probabilities(model, dataset, batch_size=3)).max() > 1e-4


def test_tta_views_move_the_images_with_their_edges_repeated():
    from keras_fer.models import tta_views

    image = np.arange(16).reshape(1, 4, 4, 1)
    views = [view[0, :, :, 0].tolist() for view in tta_views(image, flip=True, shift=1)]
    rows = image[0, :, :, 0].tolist()
    right = [[0, 0, 1, 2], [4, 4, 5, 6], [8, 8, 9, 10], [12, 12, 13, 14]]
    left = [[1, 2, 3, 3], [5, 6, 7, 7], [9, 10, 11, 11], [13, 14, 15, 15]]
    down = [rows[0], rows[0], rows[1], rows[2]]
    up = [rows[1], rows[2], rows[3], rows[3]]
    mirror = [row[::-1] for row in rows]
    assert views[:5] == [rows, right, left, down, up]
    assert views[5] == mirror and views[6] == [[3, 3, 2, 1], [7, 7, 6, 5], [11, 11, 10, 9], [15, 15, 14, 13]]
    assert len(views) == 10 and len(tta_views(np.zeros((2, 48, 48, 1)), flip=True, shift=2)) == 18
    two = tta_views(np.arange(25).reshape(1, 5, 5, 1), shift=2)
    assert len(two) == 9 and two[5][0, 0, :, 0].tolist() == [0, 0, 0, 1, 2]


@pytest.mark.parametrize(
    "images, shift, message",
    [
        (np.zeros((1, 4, 4, 1)), 2, "`shift` must be an integer from 0 to 1 (pixels, less than half of 4x4 images). Received: shift=2"),
        (np.zeros((1, 5, 6, 1)), -1, "from 0 to 2 "),
        (np.zeros((1, 8, 8, 1)), 1.0, "Received: shift=1.0"),
        (np.zeros((1, 8, 8, 1)), True, "Received: shift=True"),
        (np.zeros((8, 8, 1)), 1, "`images` must be (n, height, width, channels). Received: shape (8, 8, 1)"),
    ],
)
def test_tta_views_reject_impossible_shifts(images, shift, message):
    from keras_fer.models import tta_views

    with pytest.raises(ValueError) as error:
        tta_views(images, shift=shift)
    assert message in str(error.value)


def test_shift_averages_the_predictions_of_every_view():
    from keras_fer.data.synthetic import load_synthetic
    from keras_fer.models import from_preset, tta_views
    from keras_fer.models.tta import predict_probabilities

    dataset = load_synthetic(samples_per_class=1, image_size=32)
    model = from_preset("tiny", seed=0)
    views = tta_views(dataset.images, flip=True, shift=1)
    expected = np.mean([model.predict(view.astype("float32"), verbose=0) for view in views], axis=0)
    averaged = predict_probabilities(model, dataset, batch_size=4, flip=True, shift=1)
    np.testing.assert_allclose(averaged, expected, atol=1e-6)
    flipped = predict_probabilities(model, dataset, batch_size=4, flip=True)
    assert np.abs(averaged - flipped).max() > 1e-4


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
