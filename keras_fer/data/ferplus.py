"""FER+: Microsoft's 10-annotator relabelling of the FER2013 images."""

from pathlib import Path

import numpy as np

from keras_fer.data.classes import EXPRESSIONS, EXPRESSIONS_WITH_CONTEMPT, FERPLUS_VOTE_ORDER
from keras_fer.data.dataset import ErrorPolicy, ListedOnce, csv_records, csv_rows, decode_dataset
from keras_fer.data.images import DataError, check_image_format

SPLIT_FOLDERS = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
LABEL_MODES = ("majority", "probability")
NON_EMOTION_COLUMNS = [FERPLUS_VOTE_ORDER.index("unknown"), FERPLUS_VOTE_ORDER.index("NF")]
# The header of Microsoft's fer2013new.csv: its vote columns are FERPLUS_VOTE_ORDER under their own names.
NEW_CSV_HEADER = ("Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")


def load_ferplus(
    path,
    split,
    label_mode="majority",
    num_classes=8,
    drop_ties=True,
    images=None,
    image_size=(48, 48),
    channels=1,
    on_error="raise",
):
    """Loads one split of FER+ with majority or soft (vote) labels.

    Two layouts:
    - the FER+ folders: `path` holds `FER2013Train/`, `FER2013Valid/`,
      `FER2013Test/`, each with the PNGs and a header-less `label.csv`
      (`image name, "(x, y, w, h)", 10 vote counts`); `split` is
      `"Training"`, `"PublicTest"` or `"PrivateTest"`;
    - `fer2013new.csv` (header `NEW_CSV_HEADER`: `Usage,Image name` and the
      10 vote columns, in the order of `label.csv`): `path` is that
      file, `split` a `Usage` value and `images` the folder holding the
      images, directly or in the `FER2013Train`-style folders.

    Votes are mapped onto the canonical classes
    (`keras_fer.data.EXPRESSIONS_WITH_CONTEMPT`, or `EXPRESSIONS` with
    `num_classes=7`, which discards contempt votes). An image is dropped,
    and listed in `dataset.skipped` with the reason, when unknown + NF votes
    are more than half of its votes, when it has no emotion vote, when FER+
    dropped it (no image name) or, in `"majority"` mode with `drop_ties`,
    when two classes tie for the most votes (without `drop_ties` the first
    in canonical order wins).

    A malformed row, an image listed again in the split with other votes
    (or face box) or a missing or corrupt image is a `DataError` naming the
    line or file (or skipped and listed with `on_error="skip"`); a row
    repeating an earlier one, as three of Microsoft's `fer2013new.csv`
    Training rows do, is read once (the repeat listed in `dataset.skipped`).

    Args:
        path: the FER+ folder, or `fer2013new.csv`.
        split: `"Training"`, `"PublicTest"` or `"PrivateTest"`.
        label_mode: `"majority"` (integer labels) or `"probability"`
            (vote fractions, for soft-target training).
        num_classes: 8 (with contempt) or 7.
        drop_ties: in `"majority"` mode, drop images with tied votes.
        images: with `fer2013new.csv`, the folder of the FER2013 PNGs.
        image_size: `(height, width)` of the returned images.
        channels: 1 or 3.
        on_error: `"raise"` or `"skip"` for bad rows and image files.

    Returns:
        A `keras_fer.data.FERDataset`.

    Example:

    ```python
    soft = load_ferplus("FERPlus/data", "Training", label_mode="probability")
    soft.labels.shape[1], soft.class_names[-1]
    # (8, 'contempt')
    ```
    """
    if label_mode not in LABEL_MODES:
        raise ValueError(f"`label_mode` must be one of {LABEL_MODES}. Received: label_mode={label_mode!r}")
    if num_classes not in (7, 8):
        raise ValueError(f"`num_classes` must be 7 or 8. Received: num_classes={num_classes!r}")
    check_image_format(image_size, channels)
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"`split` must be one of {tuple(SPLIT_FOLDERS)}. Received: split={split!r}")
    policy = ErrorPolicy(on_error)
    rows = _rows(Path(path), split, images, policy)
    class_names = EXPRESSIONS_WITH_CONTEMPT if num_classes == 8 else EXPRESSIONS
    columns = [FERPLUS_VOTE_ORDER.index(name) for name in class_names]
    sources, paths, boxes, labels = [], [], [], []
    for source, image_path, crop_box, votes in rows:
        label, reason = _label(votes, columns, label_mode, drop_ties)
        if reason:
            policy.leave_out(source, reason)
            continue
        sources.append(source)
        paths.append(image_path)
        boxes.append(crop_box)
        labels.append(label)
    labels = np.asarray(labels, "float32" if label_mode == "probability" else "int32")
    return decode_dataset(paths, labels, sources, class_names, image_size, channels, policy, boxes)


def _label(votes, columns, label_mode, drop_ties):
    emotion_votes = votes[columns]
    if votes[NON_EMOTION_COLUMNS].sum() > votes.sum() / 2:
        return None, "votes mostly unknown or not a face"
    if emotion_votes.sum() == 0:
        return None, "no emotion votes"
    if label_mode == "probability":
        return emotion_votes / emotion_votes.sum(), None
    winners = np.flatnonzero(emotion_votes == emotion_votes.max())
    if len(winners) > 1 and drop_ties:
        return None, "tied majority vote"
    return int(winners[0]), None


def _rows(path, split, images, policy):
    if path.is_dir():
        folder = path / SPLIT_FOLDERS[split]
        if not (folder / "label.csv").is_file():
            raise ValueError(f"FER+ folder {path} has no {SPLIT_FOLDERS[split]}/label.csv.")
        return list(_label_csv_rows(folder, policy))
    if not path.is_file():
        raise ValueError(f"FER+ path {path} does not exist.")
    if images is None or not Path(images).is_dir():
        raise ValueError(f"With {path.name}, `images` must be the folder of the FER2013 images. Received: images={images!r}")
    return list(_new_csv_rows(path, split, Path(images), policy))


def _label_csv_rows(folder, policy):
    listed = ListedOnce(policy)
    for line, row in csv_rows(folder / "label.csv", f"{folder.name}/label.csv"):
        source = f"{folder.name}/label.csv:{line}"
        try:
            if len(row) != 12:
                raise DataError(source, f"expected 12 fields (name, box, 10 votes), found {len(row)}")
            name, box, votes = row[0].strip(), _box(row[1], source), _votes(row[2:], source)
            if not name:
                raise DataError(source, f"the image name is empty; expected a file name in {folder.name}")
        except DataError as error:
            policy.handle(error)
            continue
        if listed.is_new(name, f"face box {box}, votes {votes.astype(int).tolist()}", source):
            yield source, folder / name, box, votes


def _new_csv_rows(path, split, images, policy):
    listed = ListedOnce(policy)
    for source, row in csv_records(path, NEW_CSV_HEADER):
        if len(row) != 12:
            policy.handle(DataError(source, f"expected 12 fields, found {len(row)}"))
        elif row[0].strip() == split:
            name = row[1].strip()
            if not name:
                policy.leave_out(source, "dropped by FER+ (no image name)")
                continue
            try:
                votes = _votes(row[2:], source)
            except DataError as error:
                policy.handle(error)
                continue
            if listed.is_new(name, f"votes {votes.astype(int).tolist()}", source):
                nested = images / SPLIT_FOLDERS[split] / name
                yield source, nested if nested.is_file() else images / name, None, votes


def _box(text, source):
    try:
        x, y, width, height = (int(v) for v in text.strip().strip("()").split(","))
    except ValueError:
        raise DataError(source, f"face box must be '(x, y, width, height)'. Received: {text!r}") from None
    return x, y, width, height


def _votes(fields, source):
    try:
        votes = np.asarray([int(f) for f in fields], "float64")
    except ValueError:
        raise DataError(source, f"votes must be non-negative integers. Received: {fields}") from None
    if votes.min() < 0:
        raise DataError(source, f"votes must be non-negative integers. Received: {fields}")
    return votes
