"""FER2013: the original `fer2013.csv` and the image-folder copies of it."""

from pathlib import Path

import numpy as np

from keras_fer.data.classes import FER2013_ORDER
from keras_fer.data.dataset import ErrorPolicy, FERDataset, csv_records
from keras_fer.data.folders import load_image_folder, split_folder
from keras_fer.data.images import DataError, check_image_format, resize_pixels

CLASS_NAMES = FER2013_ORDER
USAGES = ("Training", "PublicTest", "PrivateTest")
CSV_HEADER = ["emotion", "pixels", "Usage"]
PIXELS = 48 * 48


def load_fer2013(path, split, image_size=(48, 48), channels=1, on_error="raise"):
    """Loads one split of FER2013, from the CSV or from image folders.

    - `fer2013.csv` (header `emotion,pixels,Usage`; `emotion` 0..6 = angry,
      disgust, fear, happy, sad, surprise, neutral; 2,304 pixel values):
      `split` is a `Usage` value, `"Training"`, `"PublicTest"` or
      `"PrivateTest"`.
    - image folders `<path>/<split>/<class>/*.png|jpg` (class folders named
      angry, disgust, fear, happy, neutral, sad, surprise): `split` is the
      folder name, e.g. `"train"`, `"val"` or `"test"`.

    Labels use the canonical order `keras_fer.data.EXPRESSIONS`, which is
    FER2013's own. A CSV row with a wrong pixel count, a non-integer or
    out-of-range pixel, an `emotion` outside 0..6 or an unknown `Usage` is a
    `DataError` naming the line (or skipped and listed with
    `on_error="skip"`).

    Args:
        path: the CSV file, or the folder holding the split folders.
        split: the `Usage` value (CSV) or split folder name (folders).
        image_size: `(height, width)` of the returned images.
        channels: 1 (grayscale) or 3 (gray replicated to RGB).
        on_error: `"raise"` or `"skip"`.

    Returns:
        A `keras_fer.data.FERDataset`.

    Example:

    ```python
    train = load_fer2013("fer2013.csv", "Training")
    val = load_fer2013("fer2013/", "val")
    dict(zip(val.class_names, val.class_counts))["disgust"]
    # 56
    ```
    """
    check_image_format(image_size, channels)
    if not isinstance(split, str) or not split:
        raise ValueError(f"`split` must be a `Usage` value (CSV) or a split folder's name. Received: split={split!r}")
    path = Path(path)
    if path.is_dir():
        folder = split_folder(path, split)
        if not folder.is_dir():
            found = sorted(p.name for p in path.iterdir() if p.is_dir())
            raise ValueError(f"FER2013 folder {path} has no split {split!r}. Found: {found}")
        return load_image_folder(folder, CLASS_NAMES, image_size, channels, on_error)
    if not path.is_file():
        raise ValueError(f"FER2013 path {path} does not exist.")
    if split not in USAGES:
        raise ValueError(f"`split` of a FER2013 CSV must be one of {USAGES}. Received: split={split!r}")
    return _load_csv(path, split, tuple(image_size), channels, ErrorPolicy(on_error))


def _load_csv(path, split, image_size, channels, policy):
    images, labels, sources = [], [], []
    for source, row in csv_records(path, CSV_HEADER):
        try:
            label, pixels, usage = _parse_row(row, source)
        except DataError as error:
            policy.handle(error)
            continue
        if usage == split:
            images.append(resize_pixels(pixels.reshape(48, 48), image_size, channels))
            labels.append(label)
            sources.append(source)
    empty = np.zeros((0, *image_size, channels), "uint8")
    return FERDataset(
        images=np.stack(images) if images else empty,
        labels=np.asarray(labels, "int32"),
        class_names=CLASS_NAMES,
        sources=tuple(sources),
        skipped=tuple(policy.skipped),
    )


def _parse_row(row, source):
    if len(row) != 3:
        raise DataError(source, f"expected 3 fields (emotion, pixels, Usage), found {len(row)}")
    emotion, pixels, usage = (field.strip() for field in row)
    if emotion not in {str(i) for i in range(len(CLASS_NAMES))}:
        raise DataError(source, f"emotion must be an integer 0..6. Received: {emotion!r}")
    if usage not in USAGES:
        raise DataError(source, f"unknown Usage {usage!r}; expected one of {USAGES}")
    values = pixels.split()
    if len(values) != PIXELS:
        raise DataError(source, f"expected {PIXELS} pixels (48x48), found {len(values)}")
    if not all(v.isascii() and v.isdigit() for v in values):
        bad = next(v for v in values if not (v.isascii() and v.isdigit()))
        raise DataError(source, f"pixels must be integers 0..255. Received: {bad!r}")
    array = np.asarray(values, dtype="float64")  # not int64: 20 digits overflow it
    if array.max() > 255:
        raise DataError(source, f"pixels must be integers 0..255. Received: {values[int(array.argmax())]}")
    return int(emotion), array.astype("uint8"), usage
