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


def test_inference_call_is_identity():
    images = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 1)).astype("float32")
    np.testing.assert_allclose(augmentation(seed=0)(images, training=False), images, rtol=1e-6)
