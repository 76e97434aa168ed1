"""Training without TensorFlow: the JAX backend, as on a GPU machine that has JAX but no TensorFlow."""

import dataclasses
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import yaml

from keras_fer.cli import main
from keras_fer.data import FERDataset
from keras_fer.data.dataset import _Batches
from keras_fer.export import LiteRTModel
from keras_fer.training import load_config, train
from keras_fer.training.splits import load_splits
from tests.testing import SMALL, WITHOUT_TENSORFLOW, run_on_jax


class Doubling(keras.layers.Layer):
    """Doubles pixels in training mode only: shows that `batches` augments with `training=True`."""

    def call(self, images, training=False):
        return images * 2.0 if training else images


def test_batches_without_tensorflow_slice_a_reshuffled_order():
    images = np.arange(10 * 2 * 2 * 1, dtype="uint8").reshape(10, 2, 2, 1)
    dataset = FERDataset(images, np.arange(10, dtype="int32") % 3, ("a", "b", "c"))
    batches = _Batches(dataset, 4, shuffle=True, augmentation=Doubling(), seed=7, drop_remainder=True)
    rng = np.random.default_rng(7)
    for _ in range(2):  # two epochs, reshuffled in between
        order = rng.permutation(10)
        assert len(batches) == 2  # 10 // 4: the last 2 examples are left out
        for index, (got_images, got_labels) in enumerate(batches):
            chosen = order[index * 4 : (index + 1) * 4]
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(got_images), images[chosen].astype("float32") * 2)
            np.testing.assert_array_equal(got_labels, dataset.labels[chosen])
        batches.on_epoch_end()
    with pytest.raises(IndexError, match="Batch 2 of 2"):
        batches[2]


def test_batches_without_tensorflow_keep_order_and_the_last_batch(monkeypatch):
    dataset = FERDataset(np.zeros((5, 2, 2, 1), "uint8"), np.arange(5, dtype="int32") % 2, ("a", "b"))
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    batches = dataset.batches(2)
    assert isinstance(batches, _Batches)
    assert [labels.tolist() for _, labels in batches] == [[0, 1], [0, 1], [0]]


ON_JAX = (
    WITHOUT_TENSORFLOW
    + """
import dataclasses, json
import keras, numpy as np
assert keras.backend.backend() == "jax"
from keras_fer.training import distribution_strategy, load_config, train
from keras_fer.models.tta import predict_probabilities
from keras_fer.training.splits import load_splits
strategy = distribution_strategy("mirrored")  # a keras.distribution.DataParallel over the one CPU device
mirrored = [type(strategy.distribution).__name__, strategy.num_replicas_in_sync]
config = load_config("synthetic", sys.argv[2:] + ["output.path=" + sys.argv[1]])
run_dir, report = train(config, verbose=0)
model = keras.models.load_model(run_dir / "model.keras")
_, validation = load_splits(**dataclasses.asdict(config.data), image_size=model.input_shape[1:3], seed=0)
np.save(run_dir / "probabilities.npy", predict_probabilities(model, validation, flip=True))
# Augmentation compiled by `batches` draws what the same layer draws op by op.
from keras_fer.data import FERDataset
from keras_fer.data.augment import augmentation
faces = FERDataset(validation.images[:8], validation.labels[:8], validation.class_names)
compiled = [np.asarray(images) for images, _ in faces.batches(4, augmentation=augmentation(seed=3))]
eager = augmentation(seed=3)
by_op = [np.asarray(eager(faces.images[i : i + 4].astype("float32"), training=True)) for i in (0, 4)]
same = all(np.allclose(a, b, atol=1e-3) for a, b in zip(compiled, by_op))
changed = not np.allclose(compiled[0], faces.images[:4])
# Batch-norm re-estimation, compiled on JAX, against NumPy: the mean over batches of each batch's mean and variance.
from keras_fer.training import recalibrate_batch_norm
normalized = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization()])
pixels = np.random.default_rng(0).normal(2.0, 3.0, size=(3, 8, 3)).astype("float32")
recalibrate_batch_norm(normalized, list(pixels))
layer = normalized.layers[0]
recalibrated = [np.asarray(layer.moving_mean).tolist(), np.asarray(layer.moving_variance).tolist(), layer.momentum]
expected = [pixels.mean(axis=1).mean(axis=0).tolist(), pixels.var(axis=1).mean(axis=0).tolist(), 0.99]
print(json.dumps({"mirrored": mirrored, "tensorflow": "tensorflow" in sys.modules, "same": same, "changed": changed,
                  "recalibrated": recalibrated, "expected": expected}))
"""
)


@pytest.mark.slow
def test_training_on_jax_without_tensorflow(tmp_path):
    # Compiled: op by op, JAX compiles every op on its own, which takes longer than compiling the step once.
    settings = [*SMALL, "training.jit_compile=true", "training.epochs=2", "training.recalibrate_batch_norm=2", "loss.weighting=effective_number"]
    outcome = run_on_jax(ON_JAX, [tmp_path / "run", *settings], cwd=tmp_path)
    assert outcome["mirrored"] == ["DataParallel", 1]
    assert not outcome["tensorflow"] and outcome["same"] and outcome["changed"]
    (mean, variance, momentum), (expected_mean, expected_variance, expected_momentum) = outcome["recalibrated"], outcome["expected"]
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-5)
    np.testing.assert_allclose(variance, expected_variance, rtol=1e-5)
    assert momentum == expected_momentum  # restored after momentum 0 was compiled in

    # The model JAX trained and saved loads here, on TensorFlow, and predicts what it predicted there.
    config = load_config("synthetic", settings)
    model = keras.models.load_model(tmp_path / "run" / "model.keras")
    _, validation = load_splits(**dataclasses.asdict(config.data), image_size=model.input_shape[1:3], seed=0)
    on_tensorflow = (model.predict(validation.images, verbose=0) + model.predict(validation.images[:, :, ::-1], verbose=0)) / 2
    on_jax = np.load(tmp_path / "run" / "probabilities.npy")
    np.testing.assert_allclose(on_tensorflow, on_jax, atol=1e-4)
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    predicted = model.predict(validation.images, verbose=0).argmax(axis=1)
    assert report["accuracy"] == pytest.approx(np.mean(predicted == validation.labels), abs=5e-5)  # 4 decimals


@pytest.mark.parametrize("backend, compiled", [("tensorflow", False), ("jax", True), ("torch", False)])
def test_xla_by_default_on_jax_and_on_tensorflow_gpus_only(backend, compiled, monkeypatch):
    from keras_fer.backend import default_jit_compile

    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    assert default_jit_compile() is compiled  # this machine has no GPU


@pytest.mark.slow
def test_train_backend_starts_the_command_again_on_jax_and_tensorflow_exports_its_model(tmp_path):
    flags = [argument for setting in [*SMALL, "training.epochs=1", "training.jit_compile=true"] for argument in ("--set", setting)]
    environment = {**os.environ, "KERAS_BACKEND": "tensorflow", "JAX_PLATFORMS": "cpu"}
    command = [sys.executable, "-m", "keras_fer.cli", "train", "--backend", "jax", "--output", "run", *flags]
    result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Keras runs on tensorflow here; training.backend is jax: starting keras-fer train again with KERAS_BACKEND=jax" in result.stdout
    run = tmp_path / "run"
    report = json.loads((run / "report.json").read_text())
    assert report["keras_backend"] == "jax"
    assert yaml.safe_load((run / "config.yaml").read_text())["training"]["backend"] == "jax"  # the same command resumes it

    # Here, on TensorFlow: the model reproduces the report, and exports.
    model = keras.models.load_model(run / "model.keras")
    _, validation = load_splits(**dataclasses.asdict(load_config("synthetic", SMALL).data), image_size=model.input_shape[1:3], seed=0)
    probabilities = model.predict(validation.images, verbose=0)
    assert report["accuracy"] == pytest.approx(np.mean(probabilities.argmax(axis=1) == validation.labels), abs=5e-5)
    assert main(["export", str(run / "model.keras"), "--out", str(tmp_path / "model.tflite")]) == 0
    np.testing.assert_allclose(LiteRTModel(tmp_path / "model.tflite").predict(validation.images), probabilities, atol=1e-4)


def test_a_caller_of_main_gets_the_return_code_of_the_command_started_again(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.chdir(tmp_path)
    # The weights are checked after the switch: the command started again on JAX fails, before training.
    assert main(["train", "--backend", "jax", "--set", "model.weights=gone.keras", "--output", "run"]) == 2
    out, err = capfd.readouterr()
    assert "starting keras-fer train again with KERAS_BACKEND=jax" in out
    assert err.strip() == "keras-fer train: error: model.weights: gone.keras does not exist" and not (tmp_path / "run").exists()


def test_a_backend_that_is_not_installed_or_not_taken_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    import importlib.util

    monkeypatch.chdir(tmp_path)
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name == "torch" else find_spec(name, *rest))
    assert main(["train", "--backend", "torch", "--output", "run"]) == 2
    expected = "training.backend: 'torch' is not installed here (Keras runs on 'tensorflow'): pip install torch, or leave it unset."
    assert capsys.readouterr().err == f"keras-fer train: error: {expected}\n"
    monkeypatch.setenv("KERAS_FER_BACKEND_SWITCHED", "jax")  # started again with KERAS_BACKEND=jax, and still on TensorFlow
    assert main(["train", "--set", "training.backend=jax", "--output", "run"]) == 2
    assert "training.backend: 'jax' was asked for, but Keras started on 'tensorflow' with KERAS_BACKEND=jax" in capsys.readouterr().err
    assert main(["train", "--set", "training.backend=theano"]) == 2
    assert "`--set training.backend` must be one of" in capsys.readouterr().err
    with pytest.raises(ValueError, match="training.backend is 'jax', but Keras runs on 'tensorflow' in this process: set KERAS_BACKEND=jax"):
        train(load_config("synthetic", ["training.backend=jax", f"output.path={tmp_path / 'api'}"]))
    assert sorted(path.name for path in tmp_path.iterdir()) == []
