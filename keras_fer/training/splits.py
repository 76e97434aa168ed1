"""The training and validation splits named by a config's `data` section."""

import numpy as np

from keras_fer.data.images import DataError
from keras_fer.data.label_noise import flip_labels
from keras_fer.data.prepared import load_prepared, read_manifest
from keras_fer.data.registry import load_split


def load_splits(
    dataset="synthetic",
    path=None,
    train_split="train",
    validation_split="val",
    on_error="raise",
    options=None,
    label_noise=0.0,
    label_noise_seed=0,
    prepared=None,
    image_size=(48, 48),
    channels=1,
    seed=0,
):
    """Loads the training and validation `FERDataset`s of one dataset.

    Splits and `path` per dataset (`keras_fer.data.registry.DATASETS`):
    - `"synthetic"`: no path; faces drawn with FER2013-like imbalance
      (options `train_samples_per_class`, `validation_samples_per_class`,
      `label_noise`); splits `"train"` and `"val"`.
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
        prepared: a folder from `keras_fer.data.prepare` holding both
            splits, streamed from there (`dataset`, `path`, `options` and
            `on_error` were applied when it was prepared); its images must
            have the size and channels the model takes.
        image_size: `(height, width)` the model takes.
        channels: channels the model takes.
        seed: seed of the synthetic faces.

    Returns:
        `(train, validation)` `FERDataset`s.

    Raises:
        DataError: when the training split is empty or a class has no
            training images (before the validation split is read), or the
            validation split is empty: nothing to train or validate on,
            whatever `on_error` skipped.
    """
    where = prepared or path or dataset
    train = _load(dataset, path, train_split, on_error, options, prepared, image_size, channels, seed)
    check_training_split(train, where, train_split)
    validation = _load(dataset, path, validation_split, on_error, options, prepared, image_size, channels, seed)
    check_not_empty(validation, where, validation_split, "the validation split")
    if label_noise:
        train, _ = flip_labels(train, label_noise, label_noise_seed)
    return train, validation


def load_config_split(data, split, image_size, channels, seed=0):
    """One split of a config's `data` section (a `keras_fer.training.config.DataConfig`); a `DataError` when it is empty."""
    dataset = _load(data.dataset, data.path, split, data.on_error, data.options, data.prepared, image_size, channels, seed)
    check_not_empty(dataset, data.prepared or data.path or data.dataset, split, "the data split")
    return dataset


def _load(dataset, path, split, on_error, options, prepared, image_size, channels, seed):
    """One split: from the prepared folder when there is one, else from the dataset by its loader."""
    if prepared:
        return load_prepared_split(prepared, split, image_size, channels, dataset)
    return load_split(dataset, path, split, on_error, options, image_size, channels, seed)


def load_prepared_split(prepared, split, image_size, channels, dataset=None):
    """One split of a prepared dataset; a `ValueError` unless its images are `image_size` with `channels` and came from `dataset`.

    `dataset` is the config's `data.dataset`, which the run's config and
    report record: it must be the one the folder was prepared from
    (`None` takes any).
    """
    source = read_manifest(prepared)["source"].get("dataset")
    if dataset is not None and source != dataset:
        raise ValueError(
            f"data.prepared: {prepared} was prepared from dataset {source!r}, but data.dataset is {dataset!r}: "
            f"set data.dataset={source} (or train with that dataset's preset), so that the run records the data it trained on"
        )
    dataset = load_prepared(prepared, split)
    if (*dataset.image_size, dataset.channels) != (*image_size, channels):
        raise ValueError(
            f"data.prepared: {prepared} holds {dataset.image_size[0]}x{dataset.image_size[1]}x{dataset.channels} images; the model takes "
            f"{image_size[0]}x{image_size[1]}x{channels}: prepare the data again with this model's config"
        )
    return dataset


def check_training_split(train, where, split):
    """Raises a `DataError` unless `train` holds images of every class: the class-balanced loss weighs each by its count."""
    check_not_empty(train, where, split, "the training split")
    counts = np.asarray(train.class_counts, "float64")
    if (counts <= 0).any():
        name = train.class_names[int(np.flatnonzero(counts <= 0)[0])]
        raise DataError(
            where,
            f"class {name!r} has no training images (split {split!r}{_skipped(train)}); expected at least one image of every class "
            f"{list(train.class_names)}",
        )


def check_not_empty(dataset, where, split, what):
    """Raises a `DataError` saying `what` (e.g. "the training split") is empty when `dataset` has no images."""
    if not dataset.num_examples:
        raise DataError(where, f"{what} is empty (split {split!r}{_skipped(dataset)}); expected at least one image")


def _skipped(dataset):
    if not dataset.skipped:
        return ""
    source, problem = dataset.skipped[0]
    return f", {len(dataset.skipped)} records skipped or left out, the first {source}: {problem}"
