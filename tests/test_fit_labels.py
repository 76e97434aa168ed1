"""`fit`: probability targets for training and class indices for validation; one trace of the train step."""

import csv

import keras
import numpy as np
import pytest

from keras_fer.data import FERDataset
from keras_fer.training import fit
from tests.testing import tiny_resnet

CLASSES = ("a", "b", "c")


def faces(count, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 16, 16, 1), dtype="uint8"), np.arange(count) % 3


def test_hard_validation_labels_are_scored_against_soft_training_targets(tmp_path):
    images, labels = faces(24, seed=0)
    soft = (0.7 * np.eye(3)[labels] + 0.1).astype("float32")
    validation_images, validation_labels = faces(9, seed=1)
    model, traced = tiny_resnet(), []
    train_step = model.train_step
    model.train_step = lambda data: (traced.append(data), train_step(data))[1]  # called once a trace, not once a step
    fit(
        model,
        FERDataset(images, soft, CLASSES),
        FERDataset(validation_images, validation_labels, CLASSES),
        tmp_path,
        epochs=1,
        batch_size=8,
        augmentation=False,
        verbose=0,
    )
    with open(tmp_path / "history.csv", newline="") as file:
        logged = float(next(csv.DictReader(file))["val_accuracy"])
    predicted = keras.models.load_model(tmp_path / "model.keras").predict(validation_images.astype("float32"), verbose=0)
    assert logged == pytest.approx(np.mean(predicted.argmax(1) == validation_labels), abs=1e-6)
    assert len(traced) == 1  # the optimizer was built before the step was traced: no second trace
    assert model.jit_compile is False  # the default, jit_compile=None: XLA on GPUs only, and this machine has none


def test_soft_validation_labels_against_class_indices_are_an_error(tmp_path):
    images, labels = faces(8, seed=0)
    with pytest.raises(ValueError, match="training labels are class indices but the validation labels are probabilities"):
        fit(tiny_resnet(), FERDataset(images, labels, CLASSES), FERDataset(images, np.eye(3, dtype="float32")[labels], CLASSES), tmp_path)
    assert not (tmp_path / "history.csv").exists()


def test_splits_that_name_their_classes_in_another_order_are_an_error(tmp_path):
    images, labels = faces(8, seed=0)
    swapped = FERDataset(images, labels, ("b", "a", "c"))  # its class 0 is the training split's class 1
    with pytest.raises(ValueError, match=r"name their classes differently.*training \['a', 'b', 'c'\], validation \['b', 'a', 'c'\]"):
        fit(tiny_resnet(), FERDataset(images, labels, CLASSES), swapped, tmp_path)
    assert not (tmp_path / "history.csv").exists()
