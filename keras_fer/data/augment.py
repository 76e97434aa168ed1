"""Train-time augmentation with Keras preprocessing layers."""

import math

import keras
from keras import ops


def augmentation(rotation=10.0, zoom=0.1, translation=0.1, erasing_scale=(0.02, 0.25), noise_stddev=0.015, seed=None):
    """The RUL-style augmentation, on pixels in `[0, 255]`, as one layer.

    Random horizontal flip; one `RandomAffine` resampling that rotates by up
    to `rotation` degrees, zooms by up to `zoom` and shifts by up to
    `translation` of the size (reflected borders); `RandomErasing` of a
    `erasing_scale` fraction of the image with probability 0.5; additive
    Gaussian noise of `noise_stddev` times the pixel range (0.015 is about 4
    levels of 255). `erasing_scale=None` or `noise_stddev=0` leaves that
    step out. Every layer is seeded from `seed`, so two augmentations
    built with the same seed transform the same batches the same way. Apply
    it to training batches only (`FERDataset.batches(augmentation=...)`);
    the models normalise pixels themselves, so nothing is normalised here.

    Args:
        rotation: maximum rotation in degrees.
        zoom: maximum zoom in or out, as a fraction of the size.
        translation: maximum shift, as a fraction of height and width.
        erasing_scale: `(min, max)` fraction of the image area erased, or
            `None` for no erasing.
        noise_stddev: standard deviation of the noise, a fraction of 255;
            0 for no noise.
        seed: optional int.

    Returns:
        A `keras.Sequential` to call with `training=True`.

    Example:

    >>> import numpy as np
    >>> augment = augmentation(seed=1)
    >>> tuple(augment(np.full((2, 48, 48, 1), 128.0), training=True).shape)
    (2, 48, 48, 1)
    """
    seeds = [None] * 4 if seed is None else [seed + offset for offset in range(4)]
    steps = [keras.layers.RandomFlip("horizontal", seed=seeds[0]), RandomAffine(rotation, zoom, translation, seed=seeds[1])]
    if erasing_scale is not None:
        steps.append(keras.layers.RandomErasing(factor=0.5, scale=tuple(erasing_scale), value_range=(0, 255), seed=seeds[2]))
    if noise_stddev:
        steps += [
            keras.layers.Rescaling(1.0 / 255.0),
            keras.layers.GaussianNoise(noise_stddev, seed=seeds[3]),
            keras.layers.Rescaling(255.0),
        ]
    return keras.Sequential(steps, name="augmentation")


@keras.saving.register_keras_serializable(package="keras_fer")
class RandomAffine(keras.layers.Layer):
    """Random rotation, zoom and shift about the centre, in one resampling.

    Keras' `RandomRotation`, `RandomZoom` and `RandomTranslation` each
    resample the image; composing them into one affine transform does the
    same augmentation at about half the cost on a CPU. Each image gets an
    angle in `[-rotation, rotation]` degrees, a scale in
    `[1 - zoom, 1 + zoom]` and a shift in `[-translation, translation]` of
    its width and height; borders are reflected. Identity at inference.

    Args:
        rotation: non-negative, maximum rotation in degrees.
        zoom: in `[0, 1)`, maximum relative zoom in or out.
        translation: in `[0, 1)`, maximum shift as a fraction of the size.
        seed: optional int.
        **kwargs: base layer keyword arguments.

    Example:

    >>> import numpy as np
    >>> tuple(RandomAffine(rotation=15, seed=0)(np.zeros((2, 32, 32, 1)), training=True).shape)
    (2, 32, 32, 1)
    """

    def __init__(self, rotation=10.0, zoom=0.1, translation=0.1, seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value, limit in (("rotation", rotation, math.inf), ("zoom", zoom, 1), ("translation", translation, 1)):
            if not isinstance(value, (int, float)) or not 0 <= value < limit:
                raise ValueError(f"`{name}` must be a number in [0, {limit}). Received: {name}={value!r}")
        self.rotation = rotation
        self.zoom = zoom
        self.translation = translation
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training:
            return images
        height, width = images.shape[1], images.shape[2]
        draws = keras.random.uniform((ops.shape(images)[0], 4), -1.0, 1.0, seed=self.seed_generator)
        transforms = affine_transforms(
            angle=draws[:, 0] * self.rotation * math.pi / 180.0,
            scale=1.0 + draws[:, 1] * self.zoom,
            shift_x=draws[:, 2] * self.translation * width,
            shift_y=draws[:, 3] * self.translation * height,
            height=height,
            width=width,
        )
        return ops.image.affine_transform(images, transforms, fill_mode="reflect")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rotation": self.rotation,
            "zoom": self.zoom,
            "translation": self.translation,
            "seed": self.seed,
        }


def affine_transforms(angle, scale, shift_x, shift_y, height, width):
    """Transforms for `keras.ops.image.affine_transform`, one per image.

    An input pixel `p` moves to `c + shift + scale * R(angle) (p - c)`, with
    `c` the image centre; the returned rows `[a0, a1, a2, b0, b1, b2, 0, 0]`
    map each output pixel back to its input position, as the op expects.
    """
    cos, sin = ops.cos(angle) / scale, ops.sin(angle) / scale
    center_x, center_y = (width - 1) / 2.0, (height - 1) / 2.0
    moved_x, moved_y = center_x + shift_x, center_y + shift_y
    zeros = ops.zeros_like(cos)
    return ops.stack(
        [
            cos,
            sin,
            center_x - cos * moved_x - sin * moved_y,
            -sin,
            cos,
            center_y + sin * moved_x - cos * moved_y,
            zeros,
            zeros,
        ],
        axis=1,
    )
