"""Test-time augmentation: the views of a batch of faces, and predictions averaged over them.

Training (reports, distillation, studies) and inference (`Recognizer`) both
average here, so a given `flip` / `shift` means the same views everywhere.
"""

import numpy as np

from keras_fer.data.dataset import FERDataset
from keras_fer.validation import is_int

# Batches of a prepared split whose test-time views are held in memory at once.
CHUNK_BATCHES = 32


def tta_views(images, flip=False, shift=0):
    """The views of a batch of images that test-time augmentation averages over.

    The first view is `images` itself; then the images moved by 1 to
    `shift` pixels right, left, down and up (the border pixels repeated
    into the gap); with `flip`, the same views of the mirror images
    follow. That makes `(1 + 4 * shift) * (2 if flip else 1)` views: 18
    with `flip=True, shift=2`.

    Args:
        images: an array `(n, height, width, channels)`.
        flip: add the horizontally mirrored views.
        shift: the largest move in pixels, an integer from 0 to less than
            half the images' smaller side.

    Returns:
        A list of arrays shaped and typed like `images`.

    Example:

    >>> len(tta_views(np.zeros((2, 48, 48, 1), "uint8"), flip=True, shift=2))
    18
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"`images` must be (n, height, width, channels). Received: shape {images.shape}")
    height, width = images.shape[1:3]
    check_shift(shift, (height, width))
    offsets = [(0, 0)] + [offset for step in range(1, shift + 1) for offset in ((0, step), (0, -step), (step, 0), (-step, 0))]
    bases = (images, images[:, :, ::-1]) if flip else (images,)
    if not shift:
        return list(bases)
    views = []
    for base in bases:
        padded = np.pad(base, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
        # Cropping the padded array `shift - dy` rows down moves the content dy rows down.
        views.extend(padded[:, shift - dy : shift - dy + height, shift - dx : shift - dx + width] for dy, dx in offsets)
    return views


def check_shift(shift, image_size):
    """Raises a `ValueError` unless `shift` is an integer from 0 to less than half the smaller side of `image_size`."""
    limit = (min(image_size) + 1) // 2
    if not is_int(shift, minimum=0, numpy=True) or shift >= limit:
        raise ValueError(
            f"`shift` must be an integer from 0 to {limit - 1} (pixels, less than half of {image_size[0]}x{image_size[1]} images). "
            f"Received: shift={shift!r}"
        )


def average_over_views(predict, images, flip=False, shift=0):
    """`predict(images)` averaged over the `tta_views` of `images`.

    `predict` gets every view at once, stacked (`n * views` images), and
    returns one row of class probabilities per image: one call rather than
    one per view, which would trace a Keras predict function again for
    each.

    Example:

    >>> mean_pixel = lambda batch: batch.reshape(len(batch), -1).mean(axis=1, keepdims=True)
    >>> float(average_over_views(mean_pixel, np.arange(4.0).reshape(1, 2, 2, 1), flip=True)[0, 0])
    1.5
    """
    views = tta_views(images, flip, shift)
    probabilities = np.asarray(predict(views[0] if len(views) == 1 else np.concatenate(views)))
    return probabilities.reshape(len(views), len(views[0]), -1).mean(axis=0)


def _predict_views(model, images, labels, class_names, batch_size, flip, shift):
    def predict(views):
        repeats = len(views) // max(len(images), 1)
        stacked = FERDataset(views, np.concatenate([labels] * repeats), class_names)
        return model.predict(stacked.batches(batch_size), verbose=0)

    return average_over_views(predict, images, flip, shift)


def predict_probabilities(model, dataset, batch_size=64, flip=False, shift=0):
    """Class probabilities of a `keras_fer.data.FERDataset`, averaged over its test-time views.

    With `flip` and `shift` at their defaults this is the model's plain
    prediction; otherwise the mean over the views `tta_views` makes (the
    images mirrored, moved by up to `shift` pixels, or both), which are
    held in memory together: 18 copies of the images with `flip=True,
    shift=2` (of `CHUNK_BATCHES` batches at a time for a prepared split,
    whose images stay on disk). A model that predicts NaN or infinite scores is a
    `ValueError`, not a report of its argmax.
    """

    if isinstance(dataset.images, np.ndarray):
        probabilities = _predict_views(model, dataset.images, dataset.labels, dataset.class_names, batch_size, flip, shift)
    elif not (flip or shift):
        probabilities = model.predict(dataset.batches(batch_size), verbose=0)
    else:  # images streamed from shards (a prepared split): their views are made chunk by chunk
        step = CHUNK_BATCHES * batch_size
        chunks = [
            _predict_views(
                model, dataset.images[start : start + step], dataset.labels[start : start + step], dataset.class_names, batch_size, flip, shift
            )
            for start in range(0, dataset.num_examples, step)
        ]
        probabilities = np.concatenate(chunks) if chunks else np.zeros((0, len(dataset.class_names)), "float32")
    bad = ~np.isfinite(probabilities).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        where = f" (the first: {dataset.sources[first]})" if dataset.sources else ""
        raise ValueError(
            f"the model {model.name} predicted NaN or infinite scores for {int(bad.sum())} of {len(bad)} images{where}; "
            "expected finite class probabilities (its weights may be NaN: a diverged training run)"
        )
    return probabilities
