"""RAF-DB (basic): `EmoLabel/list_patition_label.txt` and `Image/aligned/`."""

from pathlib import Path

import numpy as np

from keras_fer.data.classes import EXPRESSIONS, RAFDB_ORDER
from keras_fer.data.dataset import ErrorPolicy, ListedOnce, decode_dataset, read_text
from keras_fer.data.images import DataError, check_image_format

LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"
SPLITS = ("train", "test")


def load_rafdb(root, split, aligned=True, image_size=(100, 100), channels=3, on_error="raise"):
    """Loads one split of RAF-DB basic, labels mapped to `EXPRESSIONS`.

    `EmoLabel/list_patition_label.txt` lists `train_00001.jpg 5` lines,
    labels 1..7 = surprise, fear, disgust, happiness, sadness, anger,
    neutral. Aligned faces are read from
    `Image/aligned/train_00001_aligned.jpg`, originals from
    `Image/original/train_00001.jpg`. A malformed line, a label outside 1..7,
    an image listed again with another label or a missing, empty or corrupt
    image is a `DataError` naming the line or file (or skipped and listed
    with `on_error="skip"`); a line repeating an earlier one is read once
    (the repeat listed in `dataset.skipped`).

    Args:
        root: the RAF-DB `basic` folder.
        split: `"train"` or `"test"` (the image name prefix).
        aligned: read the 100x100 aligned faces (default) or the originals.
        image_size: `(height, width)` of the returned images.
        channels: 3 (RGB) or 1.
        on_error: `"raise"` or `"skip"`.

    Returns:
        A `keras_fer.data.FERDataset`.

    Example:

    ```python
    train = load_rafdb("RAF-DB/basic", "train", image_size=(224, 224))
    train.images.shape[1:]
    # (224, 224, 3)
    ```
    """
    root = Path(root)
    check_image_format(image_size, channels)
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}. Received: split={split!r}")
    if not (root / LABEL_FILE).is_file():
        raise ValueError(f"RAF-DB folder {root} has no {LABEL_FILE}.")
    policy = ErrorPolicy(on_error)
    paths, labels, sources = [], [], []
    listed = ListedOnce(policy)
    for line, text in enumerate(read_text(root / LABEL_FILE, LABEL_FILE.name).splitlines(), start=1):
        source = f"{LABEL_FILE.name}:{line}"
        try:
            name, label = _parse_line(text, source)
        except DataError as error:
            policy.handle(error)
            continue
        if name.startswith(f"{split}_") and listed.is_new(name, f"label {label}", source):
            stem = Path(name).stem
            paths.append(root / "Image" / "aligned" / f"{stem}_aligned.jpg" if aligned else root / "Image" / "original" / name)
            labels.append(EXPRESSIONS.index(RAFDB_ORDER[label - 1]))
            sources.append(source)
    return decode_dataset(paths, np.asarray(labels, "int32"), sources, EXPRESSIONS, image_size, channels, policy)


def _parse_line(text, source):
    fields = text.split()
    if len(fields) != 2 or not fields[0].startswith(tuple(f"{s}_" for s in SPLITS)):
        raise DataError(source, f"expected '<train_|test_name>.jpg <label 1..7>'. Received: {text!r}")
    if fields[1] not in {str(i) for i in range(1, 8)}:
        raise DataError(source, f"label must be an integer 1..7. Received: {fields[1]!r}")
    return fields[0], int(fields[1])
