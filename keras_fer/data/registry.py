"""Dataset formats by name: what a config's `data.dataset` loads, and how."""

import dataclasses
import inspect
from pathlib import Path
from typing import Callable

from keras_fer.data.affectnet import load_affectnet
from keras_fer.data.classes import EXPRESSIONS
from keras_fer.data.fer2013 import load_fer2013
from keras_fer.data.ferplus import load_ferplus
from keras_fer.data.folders import load_image_folder, split_folder
from keras_fer.data.rafdb import load_rafdb
from keras_fer.data.synthetic import load_synthetic_split

LOADING_ARGUMENTS = ("image_size", "channels", "on_error")


@dataclasses.dataclass(frozen=True)
class DatasetFormat:
    """One dataset format: its loader and where its path and split go.

    Attributes:
        loader: the `keras_fer.data` loader; its keyword arguments other than
            the path, the split and `LOADING_ARGUMENTS` are the format's
            `data.options`.
        path_argument: the loader's argument that takes `data.path`, or
            `None` for a format that needs no files.
        split_argument: the loader's argument that takes the split name.
        split_relative_to_path: whether the split is a file under `data.path`
            (AffectNet's annotation CSVs) rather than a name.
        seeded: whether the loader takes the run's `seed` (synthetic faces).
    """

    loader: Callable
    path_argument: str = None
    split_argument: str = "split"
    split_relative_to_path: bool = False
    seeded: bool = False

    @property
    def options(self):
        """The names `data.options` may hold for this format."""
        fixed = {self.path_argument, self.split_argument, "seed", *LOADING_ARGUMENTS}
        parameters = inspect.signature(self.loader).parameters.values()
        return sorted(p.name for p in parameters if p.kind != p.VAR_KEYWORD and p.name not in fixed)


def _load_folder_split(path, split, class_names=EXPRESSIONS, **arguments):
    return load_image_folder(split_folder(path, split), class_names, **arguments)


DATASETS = {
    "synthetic": DatasetFormat(load_synthetic_split, seeded=True),
    "fer2013": DatasetFormat(load_fer2013, "path"),
    "ferplus": DatasetFormat(load_ferplus, "path"),
    "rafdb": DatasetFormat(load_rafdb, "root"),
    "affectnet": DatasetFormat(load_affectnet, "images_root", split_argument="csv_path", split_relative_to_path=True),
    "folder": DatasetFormat(_load_folder_split, "path"),
}


def load_split(dataset, path=None, split="train", on_error="raise", options=None, image_size=(48, 48), channels=1, seed=0):
    """Loads one split of a dataset named in `DATASETS`, as a config's `data` section describes it.

    Args:
        dataset: a name of `DATASETS`.
        path: where the dataset lies (not used by `"synthetic"`).
        split: the split's name; for `"affectnet"` an annotation CSV,
            relative to `path` or absolute; for `"synthetic"` `"train"` or
            `"val"` (the validation faces).
        on_error: `"raise"` or `"skip"` bad records.
        options: extra keyword arguments of the format's loader.
        image_size: `(height, width)` the images are resized to.
        channels: 1 or 3.
        seed: seed of the synthetic faces.

    Returns:
        A `keras_fer.data.FERDataset`.

    Example:

    >>> faces = load_split("synthetic", split="val", image_size=(32, 32),
    ...                    options={"validation_samples_per_class": 2})
    >>> faces.class_counts
    [2, 2, 2, 2, 2, 2, 2]
    """
    if dataset not in DATASETS:
        raise ValueError(f"Unknown dataset. Valid datasets: {sorted(DATASETS)}. Received: dataset={dataset!r}")
    data_format = DATASETS[dataset]
    arguments = dict(_checked_options(data_format, dataset, options or {}))
    arguments.update(image_size=tuple(image_size), channels=channels)
    if data_format.seeded:
        arguments["seed"] = seed
    if data_format.path_argument:
        arguments.update({data_format.path_argument: _existing(path, dataset), "on_error": on_error})
    if data_format.split_relative_to_path and not Path(split).is_absolute():
        split = Path(path) / split
    return data_format.loader(**arguments, **{data_format.split_argument: split})


def _existing(path, dataset):
    if path is None:
        raise ValueError(f"`data.path` is required for dataset {dataset!r}: where the dataset lies.")
    if not Path(path).exists():
        raise ValueError(f"`data.path` {path} does not exist (dataset {dataset!r}).")
    return path


def _checked_options(data_format, dataset, options):
    unknown = sorted(set(options) - set(data_format.options))
    if unknown:
        raise ValueError(f"`data.options` {unknown} are not options of dataset {dataset!r}. Valid options: {data_format.options}")
    return options
