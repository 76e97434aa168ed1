"""Helpers shared by the tests: tiny models, NumPy references, a small training run."""

import csv

import keras
import numpy as np
from matplotlib import cbook

from keras_fer.models import resnet18

PHOTO = cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)  # a real portrait shipped with matplotlib

# Prepended to a `python -c` script: every import of tensorflow then fails, as where it is not installed.
WITHOUT_TENSORFLOW = """
import sys

class NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "tensorflow":
            raise ModuleNotFoundError(f"No module named {name!r}")

sys.meta_path.insert(0, NoTensorFlow())
"""


def tiny_resnet(**overrides):
    """A 16 px, 2-stage ResNet with CBAM and mixing: builds and fits in seconds."""
    arguments = {
        "input_shape": (16, 16, 1),
        "num_classes": 3,
        "stem": "small",
        "width": 8,
        "blocks_per_stage": (1, 1),
        "feature_dim": 8,
        "seed": 1,
    }
    return resnet18(**{**arguments, **overrides})


class BoxDetector:
    """A face detector that returns fixed boxes: tests the Recognizer without OpenCV's judgement."""

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, image):
        return list(self.boxes)


def random_images(count, shape=(16, 16, 1), seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (count, *shape)).astype("float32")


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_categorical_crossentropy(targets, probabilities, class_weights=None, gamma=0.0):
    """Per-sample `sum_c w_c t_c (1 - p_c)^gamma (-log p_c)`, in float64."""
    probabilities = np.asarray(probabilities, dtype="float64")
    probabilities = probabilities / probabilities.sum(-1, keepdims=True)
    probabilities = np.clip(probabilities, 1e-7, 1 - 1e-7)
    weights = np.ones(probabilities.shape[-1]) if class_weights is None else np.asarray(class_weights)
    focal = (1.0 - probabilities) ** gamma
    return np.sum(-np.asarray(targets) * weights * focal * np.log(probabilities), axis=-1)


def mixing_partner(mixing):
    """The permutation of a mixing layer's last training call, as NumPy.

    `mix_targets(I)` is `0.5 * I + 0.5 * P` for the permutation matrix `P`.
    """
    batch_size = int(mixing._partner.shape[0])
    mixed = keras.ops.convert_to_numpy(mixing.mix_targets(keras.ops.eye(batch_size)))
    return np.argmax(2.0 * mixed - np.eye(batch_size), axis=-1)


# A synthetic training run small enough for tests: 76 faces, 21 to validate.
SMALL = [
    "data.options={train_samples_per_class: [12, 4, 12, 12, 12, 12, 12], validation_samples_per_class: 3}",
    "training.batch_size=16",
    # XLA compilation, not the steps, is much of a tiny run's time; the XLA
    # path has its own tests (test_resnet.py::test_fit_with_xla_and_mixed_precision).
    "training.jit_compile=false",
]
RUN_FILES = ["config.yaml", "confusion_matrix.png", "history.csv", "model.keras", "report.json", "training_curves.png"]


class _Fitted(Exception):
    """Stops `train` at `fit`, once the training split it was given is known."""


def training_split_of(config, monkeypatch, targets=None):
    """The training split that `train(config, targets=targets)` hands to `fit`, without fitting."""
    from keras_fer.training import train

    seen = {}

    def fake_fit(model, train_split, *args, **kwargs):
        seen["split"] = train_split
        raise _Fitted

    monkeypatch.setattr("keras_fer.training.run.fit", fake_fit)
    try:
        train(config, targets=targets)
    except _Fitted:
        return seen["split"]
    raise AssertionError("train() returned without calling fit")


def history_epochs(run_dir):
    """The epoch numbers logged in a run's `history.csv`."""
    with open(run_dir / "history.csv", newline="") as file:
        return [int(row["epoch"]) for row in csv.DictReader(file)]
