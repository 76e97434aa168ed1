"""The training and validation splits named by a config's `data` section."""

from keras_fer.data.label_noise import flip_labels
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
    image_size=(48, 48),
    channels=1,
    seed=0,
):
    """Loads the training and validation `FERDataset`s of one dataset.

    Splits and `path` per dataset (`keras_fer.data.registry.DATASETS`):
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


def load_config_split(data, split, image_size, channels, seed=0):
    """One split of a config's `data` section (a `keras_fer.training.config.DataConfig`)."""
    return load_split(data.dataset, data.path, split, data.on_error, data.options, image_size, channels, seed)
