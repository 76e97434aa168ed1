import numpy as np
import pytest

from keras_fer.data import EXPRESSIONS, EXPRESSIONS_WITH_CONTEMPT
from keras_fer.data.synthetic import make_faces


def test_counts_shapes_and_dtypes():
    counts = [5, 1, 4, 7, 3, 2, 6]
    faces = make_faces(samples_per_class=counts, image_size=24, seed=0)
    assert faces.images.shape == (28, 24, 24, 1)
    assert faces.images.dtype == np.uint8
    assert faces.labels.dtype == np.int32
    assert np.bincount(faces.labels, minlength=7).tolist() == counts
    assert faces.class_names == EXPRESSIONS


def test_rgb_images_and_contempt_class():
    faces = make_faces(samples_per_class=2, image_size=20, channels=3, class_names=EXPRESSIONS_WITH_CONTEMPT)
    assert faces.images.shape == (16, 20, 20, 3)
    assert np.bincount(faces.labels).tolist() == [2] * 8
    assert not np.array_equal(faces.images[..., 0], faces.images[..., 2])


def test_same_seed_same_data_other_seed_other_data():
    first, again, other = (make_faces(samples_per_class=3, image_size=16, seed=s) for s in (4, 4, 5))
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert not np.array_equal(first.images, other.images)


def test_images_are_shuffled_and_use_the_pixel_range():
    faces = make_faces(samples_per_class=20, image_size=32, seed=1)
    assert not np.all(np.diff(faces.labels) >= 0)
    assert faces.images.min() < 40 and faces.images.max() > 180


def test_expressions_differ_more_between_than_within_classes():
    faces = make_faces(samples_per_class=40, image_size=32, seed=2)
    means = np.stack([faces.images[faces.labels == c].mean(0) for c in range(7)]).astype("float64")
    spread_within = np.mean([faces.images[faces.labels == c].std(0).mean() for c in range(7)])
    between = np.abs(means[3] - means[5]).max()
    assert between > 0.5 * spread_within


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.3])
def test_label_noise_flips_exactly_that_fraction_to_other_classes(fraction):
    faces = make_faces(samples_per_class=30, image_size=16, label_noise=fraction, seed=3)
    flipped = faces.labels != faces.clean_labels
    assert flipped.sum() == round(fraction * 210)
    assert np.bincount(faces.clean_labels).tolist() == [30] * 7


def test_zero_samples_gives_empty_arrays():
    faces = make_faces(samples_per_class=0, image_size=16)
    assert faces.images.shape == (0, 16, 16, 1) and faces.labels.shape == (0,)


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"samples_per_class": -1}, "samples_per_class=-1"),
        ({"samples_per_class": [1, 2]}, "one per class \\(7\\)"),
        ({"samples_per_class": 2.5}, "samples_per_class=2.5"),
        ({"image_size": 8}, "image_size=8"),
        ({"channels": 2}, "channels=2"),
        ({"label_noise": 1.0}, "label_noise=1.0"),
        ({"class_names": ("happy", "bored")}, "'bored'"),
        ({"class_names": ("happy", "happy")}, "distinct names"),
        ({"seed": "x"}, "seed='x'"),
    ],
)
def test_invalid_arguments_raise(arguments, message):
    with pytest.raises(ValueError, match=message):
        make_faces(**arguments)


@pytest.mark.slow
def test_tiny_resnet_learns_clean_synthetic_faces(trained_tiny):
    model, _ = trained_tiny  # trained in conftest.py: 12 epochs on 150 faces a class
    test = make_faces(samples_per_class=50, image_size=32, seed=1)
    accuracy = model.evaluate(test.images, test.labels, verbose=0, return_dict=True)["accuracy"]
    assert accuracy > 0.9
