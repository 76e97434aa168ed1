"""The training and validation splits named by a config's `data` section."""

import inspect
from pathlib import Path

from keras_fer.data import EXPRESSIONS, FERDataset, load_affectnet, load_fer2013, load_ferplus, load_image_folder, load_rafdb
from keras_fer.data.label_noise import flip_labels
from keras_fer.data.synthetic import make_faces


def load_splits(
    dataset="synthetic",
    path=None,
    train_split="train",
    validation_split="val",
    on_error="raise",
    options=None,
    label_noise=0.0,
    label_noise_seed=0,
    image_size=(48, 48),
    channels=1,
    seed=0,
):
    """Loads the training and validation `FERDataset`s of one dataset.

    Splits and `path` per dataset:
    - `"synthetic"`: no path; faces drawn with FER2013-like imbalance
      (options `train_samples_per_class`, `validation_samples_per_class`,
      `label_noise`); split `"train"` is the training faces, any other
      name the validation faces.
    - `"fer2013"`: `fer2013.csv` (splits are `Usage` values, e.g.
      `Training`/`PublicTest`) or its image folders (splits are folders).
    - `"ferplus"`: the FER+ folder or `fer2013new.csv`; splits `Training`,
      `PublicTest`, `PrivateTest`; options of `load_ferplus`
      (`label_mode`, `num_classes`, `drop_ties`, `images`).
    - `"rafdb"`: the RAF-DB `basic` folder; splits `train`, `test`; option
      `aligned`.
    - `"affectnet"`: `path` is the images root, splits are the annotation
      CSVs (`training.csv`, `validation.csv`), relative to `path` or absolute;
      option `num_classes`.
    - `"folder"`: `path/<split>/<class>/*.png`; option `class_names`
      (default `keras_fer.data.EXPRESSIONS`).

    Args:
        dataset: one of the names above.
        path: where the dataset lies.
        train_split, validation_split: the splits to train and validate on.
        on_error: `"raise"` or `"skip"` bad records.
        options: extra keyword arguments of the dataset's loader.
        label_noise: share of the training labels to flip to another class,
            uniformly at random (`keras_fer.data.label_noise.flip_labels`),
            for label-noise studies; validation labels stay clean.
        label_noise_seed: seed of that flip.
        image_size: `(height, width)` the model takes.
        channels: channels the model takes.
        seed: seed of the synthetic faces.

    Returns:
        `(train, validation)` `FERDataset`s.
    """
    train, validation = (load_split(dataset, path, split, on_error, options, image_size, channels, seed) for split in (train_split, validation_split))
    if label_noise:
        train, _ = flip_labels(train, label_noise, label_noise_seed)
    return train, validation


def load_split(dataset, path, split, on_error="raise", options=None, image_size=(48, 48), channels=1, seed=0):
    """Loads one split as `load_splits` does; for synthetic data, `"train"` or any other name (validation)."""
    options = dict(options or {})
    if dataset == "synthetic":
        return _synthetic_split(split, image_size, channels, seed, **_checked_options(_synthetic_split, options, dataset))
    if path is None:
        raise ValueError(f"`data.path` is required for dataset {dataset!r}: where the dataset lies.")
    if not Path(path).exists():
        raise ValueError(f"`data.path` {path} does not exist (dataset {dataset!r}).")
    loader, arguments = _loader(dataset, path, options)
    return loader(**arguments, **_split_argument(dataset, path, split), image_size=tuple(image_size), channels=channels, on_error=on_error)


def load_config_split(data, split, image_size, channels, seed=0):
    """One split of a config's `data` section (a `keras_fer.training.config.DataConfig`)."""
    return load_split(data.dataset, data.path, split, data.on_error, data.options, image_size, channels, seed)


def _loader(dataset, path, options):
    if dataset == "fer2013":
        return load_fer2013, {"path": path, **_checked_options(load_fer2013, options, dataset)}
    if dataset == "ferplus":
        return load_ferplus, {"path": path, **_checked_options(load_ferplus, options, dataset)}
    if dataset == "rafdb":
        return load_rafdb, {"root": path, **_checked_options(load_rafdb, options, dataset)}
    if dataset == "affectnet":
        return load_affectnet, {"images_root": path, **_checked_options(load_affectnet, options, dataset)}
    if dataset == "folder":
        options = {"class_names": EXPRESSIONS, **options}
        return _load_folder_split, {"path": path, **_checked_options(load_image_folder, options, dataset)}
    raise ValueError(f"Unknown dataset {dataset!r}.")


def _split_argument(dataset, path, split):
    if dataset == "affectnet":
        csv_path = Path(split) if Path(split).is_absolute() else Path(path) / split
        return {"csv_path": csv_path}
    return {"split": split}


def _load_folder_split(path, split, **arguments):
    return load_image_folder(Path(path) / split, **arguments)


def _checked_options(function, options, dataset):
    fixed = {"path", "root", "csv_path", "images_root", "split", "image_size", "channels", "on_error", "seed"}
    valid = sorted(set(inspect.signature(function).parameters) - fixed)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"`data.options` {unknown} are not options of dataset {dataset!r}. Valid options: {valid}")
    return options


def _synthetic_split(
    split,
    image_size,
    channels,
    seed,
    train_samples_per_class=200,
    validation_samples_per_class=40,
    label_noise=0.0,
):
    if image_size[0] != image_size[1]:
        raise ValueError(f"Synthetic faces are square. Received: image_size={tuple(image_size)}")
    if split == "train":
        faces = make_faces(train_samples_per_class, image_size[0], channels, label_noise, seed=seed)
    else:
        faces = make_faces(validation_samples_per_class, image_size[0], channels, seed=seed + 1)
    return FERDataset(faces.images, faces.labels, faces.class_names)
