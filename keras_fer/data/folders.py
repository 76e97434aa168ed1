"""Labelled image folders: `<root>/<class name>/<image file>`."""

from pathlib import Path

import numpy as np

from keras_fer.data.dataset import ErrorPolicy, decode_dataset
from keras_fer.data.images import IMAGE_SUFFIXES, DataError, check_image_format


def load_image_folder(root, class_names, image_size=(48, 48), channels=1, on_error="raise"):
    """Loads `<root>/<class name>/*.{png,jpg,jpeg,bmp,tif,tiff}`.

    The label of an image is the index of its folder's name in
    `class_names`; alphabetical folder order is never used. Images directly
    in a class folder are read (no deeper nesting); hidden files (`.name`)
    are ignored. Every image is decoded, converted to `channels` and resized
    to `image_size` now, so a bad file is reported before training.

    Problems, each raised as a `DataError` naming the path (or, with
    `on_error="skip"`, skipped and listed in `dataset.skipped`): a class in
    `class_names` without a folder or without images, a folder that is not
    in `class_names`, a file outside the class folders, a file that is not
    an image, an empty, truncated or corrupt image.

    Args:
        root: the folder holding one folder per class.
        class_names: folder names in label order, e.g.
            `keras_fer.data.EXPRESSIONS`; plain names, not paths.
        image_size: `(height, width)` of the returned images.
        channels: 1 (grayscale) or 3 (RGB).
        on_error: `"raise"` or `"skip"`.

    Returns:
        A `keras_fer.data.FERDataset`.

    Example:

    >>> import tempfile
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for name in ("happy", "sad"):
    ...     (root / name).mkdir()
    ...     Image.new("L", (64, 64)).save(root / name / "face.png")
    >>> dataset = load_image_folder(root, class_names=("sad", "happy"))
    >>> dataset.images.shape
    (2, 48, 48, 1)
    >>> list(zip(dataset.sources, dataset.labels.tolist()))
    [('sad/face.png', 0), ('happy/face.png', 1)]
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"Image folder {root} does not exist or is not a directory.")
    class_names = _validated_class_names(class_names)
    check_image_format(image_size, channels)
    policy = ErrorPolicy(on_error)
    paths, labels = [], []
    for entry in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if entry.is_dir() and entry.name not in class_names:
            policy.handle(DataError(entry, f"unknown class folder; expected one of {list(class_names)}"))
        elif not entry.is_dir():
            policy.handle(DataError(entry, "file outside the class folders"))
    for label, name in enumerate(class_names):
        class_paths = _image_files(root / name, policy)
        if not class_paths:
            policy.handle(DataError(root / name, f"no images for class {name!r}"))
        paths += class_paths
        labels += [label] * len(class_paths)
    sources = [str(path.relative_to(root)) for path in paths]
    return decode_dataset(paths, np.asarray(labels, "int32"), sources, class_names, image_size, channels, policy)


def _image_files(folder, policy):
    if not folder.is_dir():
        return []
    files = []
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith(".")):
        if path.is_dir():
            policy.handle(DataError(path, "nested folder inside a class folder; images must lie directly in it"))
        elif path.suffix.lower() not in IMAGE_SUFFIXES:
            policy.handle(DataError(path, f"not an image file; expected one of {list(IMAGE_SUFFIXES)}"))
        else:
            files.append(path)
    return files


def split_folder(root, split):
    """The folder of split `split` of a dataset in `root` (`root/<split>/<class>/...`), which must lie inside `root`.

    Raises:
        ValueError: for a split that is absolute or holds `..`, which would
            read images from outside the dataset.
    """
    if not isinstance(split, str) or not split or Path(split).is_absolute() or ".." in Path(split).parts:
        raise ValueError(f"`split` must be the name of a split folder inside {root} (not absolute, no '..'). Received: split={split!r}")
    return Path(root) / split


def _validated_class_names(class_names):
    names = tuple(class_names) if not isinstance(class_names, str) else ()
    if not names or len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise ValueError(
            f"`class_names` must be distinct folder names in label order, e.g. keras_fer.data.EXPRESSIONS. Received: class_names={class_names!r}"
        )
    paths = [name for name in names if name in (".", "..") or set(name) & {"/", "\\", "\0"}]
    if paths:
        raise ValueError(f"`class_names` must be plain folder names, not paths, '.' or '..'. Received: {paths[0]!r} in class_names={class_names!r}")
    return names
