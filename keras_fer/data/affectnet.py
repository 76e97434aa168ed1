"""AffectNet: its annotation CSV and `Manually_Annotated_Images/`."""

from pathlib import Path

import numpy as np

from keras_fer.data.classes import AFFECTNET_ORDER, EXPRESSIONS, EXPRESSIONS_WITH_CONTEMPT
from keras_fer.data.dataset import ErrorPolicy, ListedOnce, csv_records, decode_dataset
from keras_fer.data.images import DataError, check_image_format

HEADER = [
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
]


def load_affectnet(csv_path, images_root, num_classes=8, image_size=(224, 224), channels=3, on_error="raise"):
    """Loads AffectNet's manually annotated faces, cropped to their face box.

    The CSV (`training.csv` or `validation.csv`) has the header
    `subDirectory_filePath, face_x, face_y, face_width, face_height,
    facial_landmarks, expression, valence, arousal`; `expression` 0..7 =
    neutral, happy, sad, surprise, fear, disgust, anger, contempt, mapped to
    `keras_fer.data.EXPRESSIONS_WITH_CONTEMPT` (8 classes) or `EXPRESSIONS`
    (7 classes, contempt rows left out). Rows with expression 8-10 (none,
    uncertain, no face), and contempt with 7 classes, are left out and listed
    in `dataset.skipped`. A malformed row (an empty image path, a face box
    that is not a finite number), a face (image and face box) listed again
    with another expression, a missing or corrupt image or a face box
    outside its image is a `DataError` naming the line or file (or skipped
    and listed with `on_error="skip"`); a row repeating an earlier one's
    face and expression is read once (the repeat listed in
    `dataset.skipped`).

    Images are decoded into memory at `image_size`: at 224x224 RGB the 287k
    training faces need about 43 GB. `keras_fer.data.prepare` (`keras-fer
    prepare`) decodes them once into shards that training streams instead.

    Args:
        csv_path: the annotation CSV.
        images_root: the folder that `subDirectory_filePath` is relative to.
        num_classes: 8 or 7.
        image_size: `(height, width)` of the returned images.
        channels: 3 (RGB) or 1.
        on_error: `"raise"` or `"skip"`.

    Returns:
        A `keras_fer.data.FERDataset`.

    Example:

    ```python
    val = load_affectnet("validation.csv", "Manually_Annotated_Images", num_classes=7)
    [reason for _, reason in val.skipped][:1]
    # ['expression 7 (contempt) is not among the 7 classes']
    ```
    """
    csv_path, images_root = Path(csv_path), Path(images_root)
    if num_classes not in (7, 8):
        raise ValueError(f"`num_classes` must be 7 or 8. Received: num_classes={num_classes!r}")
    check_image_format(image_size, channels)
    if not csv_path.is_file() or not images_root.is_dir():
        raise ValueError(f"AffectNet needs an annotation CSV and an image folder. Received: {csv_path}, {images_root}")
    class_names = EXPRESSIONS_WITH_CONTEMPT if num_classes == 8 else EXPRESSIONS
    policy = ErrorPolicy(on_error)
    paths, boxes, labels, sources = [], [], [], []
    for source, name, box, expression in _records(csv_path, policy):
        native = AFFECTNET_ORDER[expression]
        if native not in class_names:
            policy.leave_out(source, f"expression {expression} ({native}) is not among the {num_classes} classes")
            continue
        paths.append(images_root / name)
        boxes.append(box)
        labels.append(class_names.index(native))
        sources.append(source)
    labels = np.asarray(labels, "int32")
    return decode_dataset(paths, labels, sources, class_names, image_size, channels, policy, boxes)


def _records(csv_path, policy):
    """`(source, image path, face box, expression)` of each well-formed row that does not repeat an earlier one."""
    listed = ListedOnce(policy)
    for source, row in csv_records(csv_path, HEADER):
        try:
            name, box, expression = _parse_row(row, source)
        except DataError as error:
            policy.handle(error)
            continue
        if listed.is_new(f"{name} face box {box}", f"expression {expression}", source):
            yield source, name, box, expression


def _parse_row(row, source):
    if len(row) != len(HEADER):
        raise DataError(source, f"expected {len(HEADER)} fields, found {len(row)}")
    try:
        box = tuple(int(float(v)) for v in row[1:5])
        expression = int(row[6])
    except (ValueError, OverflowError):
        raise DataError(source, f"face box and expression must be numbers, not inf or nan. Received: {row[1:5]}, {row[6]!r}") from None
    if not 0 <= expression <= 10:
        raise DataError(source, f"expression must be 0..10. Received: {expression}")
    name = Path(row[0].strip())
    if not name.name:
        raise DataError(source, f"subDirectory_filePath {row[0]!r} names no image file; expected an image path under the images folder")
    return name, box, expression
