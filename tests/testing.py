"""Helpers shared by the tests: tiny models, NumPy references, layer, loss and model checks, a small training run."""

import copy
import csv
import json
import os
import subprocess
import sys
import warnings

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


def run_on_jax(script, arguments, cwd, devices=1, timeout=600):
    """Runs `script` (Python source ending in a line of JSON) on JAX's CPU in a fresh interpreter; returns that JSON.

    `devices` > 1 splits the CPU into that many JAX devices
    (`--xla_force_host_platform_device_count`). A failed run fails the
    test with the end of its standard error.
    """
    environment = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    if devices > 1:
        environment["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    result = subprocess.run(
        [sys.executable, "-c", script, *map(str, arguments)], capture_output=True, text=True, timeout=timeout, env=environment, cwd=cwd
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


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


def fit_with_finite_loss(model, x, y, **fit_arguments):
    """Fits the compiled `model` (one epoch unless told) and asserts every epoch's loss is finite; returns the losses."""
    losses = model.fit(x, y, verbose=0, **fit_arguments).history["loss"]
    assert np.all(np.isfinite(losses)), losses
    return losses


def run_serialization_test(instance):
    """Asserts that `from_config(get_config())` and a JSON trip through `serialize_keras_object` rebuild `instance`.

    Both copies must be of `instance`'s class and have its config, compared as JSON (tuples read back as lists).
    Returns the deserialized copy.
    """
    config = instance.get_config()
    rebuilt = type(instance).from_config(copy.deepcopy(config))  # a functional model's `from_config` empties the dict
    serialized = json.loads(json.dumps(keras.saving.serialize_keras_object(instance)))
    deserialized = keras.saving.deserialize_keras_object(serialized)
    for revived in (rebuilt, deserialized):
        assert type(revived) is type(instance)
        assert as_json(revived.get_config()) == as_json(config)
    return deserialized


def as_json(config):
    """`config` as a JSON file gives it back: tuples become lists."""
    return json.loads(json.dumps(config))


def run_layer_test(layer_class, init_arguments, input_data, expected_output_shape, tmp_path):
    """Runs the checks every layer needs and returns the layer loaded back from a `.keras` file.

    - `run_serialization_test` on `layer_class(**init_arguments)`;
    - the output shape, symbolic and eager, and the eager output's dtype;
    - a functional model of the layer saved to `.keras` and loaded gives equal outputs, at inference and in training;
    - the loaded model fits one step with a finite loss and changes the layer's trainable weights, if it has any
      (a layer without weights still runs its training call inside `fit`).

    `input_data` is an array, or a list of arrays for a layer called on a list.
    """
    run_serialization_test(layer_class(**init_arguments))
    layer = layer_class(**init_arguments)
    inputs = keras.tree.map_structure(lambda array: keras.Input(array.shape[1:]), input_data)
    model = keras.Model(inputs, layer(inputs))
    assert tuple(model.output.shape) == (None, *expected_output_shape[1:])
    output = layer(input_data)
    assert tuple(output.shape) == tuple(expected_output_shape)
    assert keras.backend.standardize_dtype(output.dtype) == layer.compute_dtype

    model.save(tmp_path / f"{layer.name}.keras")
    loaded = keras.models.load_model(tmp_path / f"{layer.name}.keras")
    loaded_layer = loaded.get_layer(layer.name)
    assert type(loaded_layer) is layer_class
    for training in (False, True):
        np.testing.assert_array_equal(loaded(input_data, training=training), model(input_data, training=training))

    before = [keras.ops.convert_to_numpy(weight) for weight in loaded_layer.trainable_weights]
    loaded.compile(optimizer="sgd", loss="mean_squared_error")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The model does not have any trainable weights")
        fit_with_finite_loss(loaded, input_data, np.zeros(expected_output_shape, "float32"))
    after = [keras.ops.convert_to_numpy(weight) for weight in loaded_layer.trainable_weights]
    assert not before or any(not np.array_equal(old, new) for old, new in zip(before, after))
    return loaded_layer


def run_loss_test(loss, y_true, y_pred, expected):
    """Asserts that `loss(y_true, y_pred)` is `expected` and that its serialized copy gives the same value; returns the copy."""
    deserialized = run_serialization_test(loss)
    value = keras.ops.convert_to_numpy(loss(y_true, y_pred))
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    np.testing.assert_array_equal(deserialized(y_true, y_pred), value)
    return deserialized


def run_model_saving_test(model, input_data, tmp_path):
    """Asserts that a model comes back with equal predictions; returns the copy loaded from `.keras`.

    Checks `run_serialization_test` with the weights copied over, and a `.keras` save loaded by `keras.models.load_model`,
    which must also restore a compiled `keras.losses.Loss` with its config.
    """
    expected = model.predict(input_data, verbose=0)
    rebuilt = run_serialization_test(model)
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(rebuilt.predict(input_data, verbose=0), expected)

    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(input_data, verbose=0), expected)
    if isinstance(getattr(model, "loss", None), keras.losses.Loss):
        assert type(loaded.loss) is type(model.loss)
        assert as_json(loaded.loss.get_config()) == as_json(model.loss.get_config())
    return loaded


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
