import numpy as np

from keras_fer.data.augment import augmentation
from keras_fer.data.synthetic import load_synthetic


def first_batches(dataset, seed, count=3):
    batches = dataset.batches(batch_size=8, shuffle=True, augmentation=augmentation(seed=seed), seed=seed)
    return [images.numpy() for images, _ in batches.take(count)]


def test_same_seed_gives_the_same_augmented_batches():
    dataset = load_synthetic(samples_per_class=4, image_size=32)
    for first, second in zip(first_batches(dataset, seed=3), first_batches(dataset, seed=3)):
        np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first_batches(dataset, seed=3)[0], first_batches(dataset, seed=4)[0])


def test_augmentation_changes_training_batches_only():
    dataset = load_synthetic(samples_per_class=4, image_size=32)
    plain = next(iter(dataset.batches(batch_size=28)))[0].numpy()
    np.testing.assert_array_equal(plain, dataset.images.astype("float32"))
    augmented, labels = next(iter(dataset.batches(batch_size=28, augmentation=augmentation(seed=0))))
    assert augmented.shape == plain.shape and augmented.dtype == "float32"
    np.testing.assert_array_equal(labels.numpy(), dataset.labels)
    assert np.abs(augmented.numpy() - plain).mean() > 5
    assert -40 < augmented.numpy().min() and augmented.numpy().max() < 295


def test_horizontal_flip_mirrors_columns():
    flip = augmentation(seed=0).layers[0]
    image = np.tile(np.arange(8, dtype="float32"), (2, 8, 1))[..., None]
    flipped = np.asarray(flip(np.repeat(image[:1], 16, axis=0), training=True))
    mirrored = [np.array_equal(f, image[0, :, ::-1]) for f in flipped]
    unchanged = [np.array_equal(f, image[0]) for f in flipped]
    assert all(m or u for m, u in zip(mirrored, unchanged)) and any(mirrored) and any(unchanged)


def _step_names(layer):
    return [step.__class__.__name__ for step in layer.layers]


def test_erasing_and_noise_can_be_left_out():
    names = _step_names
    assert names(augmentation(erasing_scale=None, noise_stddev=0)) == ["RandomFlip", "RandomAffine"]
    assert names(augmentation()) == ["RandomFlip", "RandomAffine", "RandomErasing", "Rescaling", "GaussianNoise", "Rescaling"]
    still = augmentation(rotation=0, zoom=0, translation=0, erasing_scale=None, noise_stddev=0, seed=0)
    image = np.random.default_rng(1).uniform(0, 255, (1, 16, 16, 1)).astype("float32")
    for out in np.asarray(still(np.repeat(image, 8, axis=0), training=True)):
        assert np.allclose(out, image[0], atol=1e-3) or np.allclose(out, image[0, :, ::-1], atol=1e-3)


def test_inference_call_is_identity():
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(augmentation(seed=0)(images, training=False), images, rtol=1e-6)


def numpy_forward(points, angle, scale, shift, center):
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return center + shift + scale * (points - center) @ rotation.T


def test_affine_transforms_map_output_pixels_back_to_their_inputs():
    from keras_fer.data.augment import affine_transforms

    rng = np.random.default_rng(0)
    angle, scale = rng.uniform(-0.5, 0.5, 3), rng.uniform(0.8, 1.2, 3)
    shift = rng.uniform(-5, 5, (3, 2))
    transforms = np.asarray(affine_transforms(angle, scale, shift[:, 0], shift[:, 1], height=40, width=30))
    center = np.array([14.5, 19.5])
    for i in range(3):
        inputs = rng.uniform(0, 30, (5, 2))
        outputs = numpy_forward(inputs, angle[i], scale[i], shift[i], center)
        a0, a1, a2, b0, b1, b2 = transforms[i, :6]
        back = np.stack([a0 * outputs[:, 0] + a1 * outputs[:, 1] + a2, b0 * outputs[:, 0] + b1 * outputs[:, 1] + b2], 1)
        np.testing.assert_allclose(back, inputs, atol=1e-4)


def test_affine_shift_moves_a_pixel_by_the_shift():
    import keras

    from keras_fer.data.augment import affine_transforms

    image = np.zeros((1, 12, 12, 1), "float32")
    image[0, 4, 5, 0] = 255.0
    transform = affine_transforms(np.zeros(1), np.ones(1), np.array([3.0]), np.array([2.0]), height=12, width=12)
    moved = np.asarray(keras.ops.image.affine_transform(image, keras.ops.cast(transform, "float32"), fill_mode="constant"))
    assert np.unravel_index(moved[0, ..., 0].argmax(), (12, 12)) == (6, 8)
    assert moved.max() == 255.0


def test_random_affine_identity_cases_config_and_errors():
    import keras
    import pytest

    from keras_fer.data.augment import RandomAffine

    images = np.random.default_rng(1).uniform(0, 255, (2, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(RandomAffine(0, 0, 0, seed=1)(images, training=True), images, atol=1e-3)
    np.testing.assert_array_equal(RandomAffine(seed=1)(images, training=False), images)
    assert not np.allclose(RandomAffine(30, seed=1)(images, training=True), images)
    layer = RandomAffine(rotation=5, zoom=0.2, translation=0.05, seed=3)
    assert keras.layers.deserialize(keras.layers.serialize(layer)).get_config() == layer.get_config()
    for arguments, message in (({"rotation": -1}, "rotation=-1"), ({"zoom": 1.0}, "zoom=1.0"), ({"translation": "x"}, "translation='x'")):
        with pytest.raises(ValueError, match=message):
            RandomAffine(**arguments)
