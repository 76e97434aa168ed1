"""Train-time augmentation with Keras preprocessing layers."""

import keras


def augmentation(rotation=10.0, zoom=0.1, translation=0.1, erasing_scale=(0.02, 0.25), noise_stddev=0.015, seed=None):
    """The RUL-style augmentation, on pixels in `[0, 255]`, as one layer.

    Random horizontal flip, rotation by up to `rotation` degrees, zoom and
    translation by up to the given fractions (reflected borders),
    `RandomErasing` of a `erasing_scale` fraction of the image with
    probability 0.5 and additive Gaussian noise of `noise_stddev` times the
    pixel range (0.015 is about 4 levels of 255). Every layer is seeded from `seed`, so two augmentations built
    with the same seed transform the same batches the same way. Apply it to
    training batches only (`FERDataset.batches(augmentation=...)` does);
    the models normalise pixels themselves, so no normalisation happens here.

    Args:
        rotation: maximum rotation in degrees.
        zoom: maximum zoom in or out, as a fraction of the size.
        translation: maximum shift, as a fraction of height and width.
        erasing_scale: `(min, max)` fraction of the image area erased.
        noise_stddev: standard deviation of the noise, a fraction of 255.
        seed: optional int.

    Returns:
        A `keras.Sequential` to call with `training=True`.

    Example:

    >>> import numpy as np
    >>> augment = augmentation(seed=1)
    >>> augment(np.full((2, 48, 48, 1), 128.0), training=True).shape
    TensorShape([2, 48, 48, 1])
    """
    seeds = [None] * 6 if seed is None else [seed + offset for offset in range(6)]
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seeds[0]),
            keras.layers.RandomRotation(rotation / 360.0, fill_mode="reflect", seed=seeds[1]),
            keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=seeds[2]),
            keras.layers.RandomTranslation(translation, translation, fill_mode="reflect", seed=seeds[3]),
            keras.layers.RandomErasing(factor=0.5, scale=erasing_scale, value_range=(0, 255), seed=seeds[4]),
            keras.layers.Rescaling(1.0 / 255.0),
            keras.layers.GaussianNoise(noise_stddev, seed=seeds[5]),
            keras.layers.Rescaling(255.0),
        ],
        name="augmentation",
    )
