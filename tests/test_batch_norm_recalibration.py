"""`recalibrate_batch_norm` and `training.recalibrate_batch_norm`, against NumPy batch statistics."""

import csv
import dataclasses

import keras
import numpy as np
import pytest

from keras_fer.layers import CBAMBlock
from keras_fer.training import load_config, load_splits, recalibrate_batch_norm, train
from keras_fer.training.batch_norm import RecalibrateBatchNorm
from tests.testing import SMALL, random_images, tiny_resnet


def batch_statistics(batches):
    """Mean over batches of each batch's per-channel mean and (biased) variance."""
    axes = tuple(range(batches[0].ndim - 1))
    means = np.mean([batch.mean(axis=axes) for batch in batches], axis=0)
    variances = np.mean([batch.var(axis=axes) for batch in batches], axis=0)
    return means, variances


def test_statistics_are_the_mean_of_the_batch_statistics():
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, kernel_initializer=keras.initializers.GlorotUniform(seed=0)),
            keras.layers.BatchNormalization(momentum=0.9),
        ]
    )
    rng = np.random.default_rng(0)
    batches = [rng.normal(2.0, 3.0, (5, 3)).astype("float32") for _ in range(3)]
    assert recalibrate_batch_norm(model, [(batch, None) for batch in batches]) == 3
    dense, norm = model.layers
    kernel, bias = (keras.ops.convert_to_numpy(weight) for weight in dense.weights)
    means, variances = batch_statistics([batch @ kernel + bias for batch in batches])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norm.moving_mean), means, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norm.moving_variance), variances, rtol=1e-5)
    assert norm.momentum == 0.9
    assert recalibrate_batch_norm(model, batches, max_batches=1) == 1
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norm.moving_mean), (batches[0] @ kernel + bias).mean(0), rtol=1e-5, atol=1e-6)


def test_every_layer_of_a_resnet_is_recalibrated_including_cbam():
    model = tiny_resnet()
    batches = [random_images(8, seed=seed) for seed in range(2)]
    recalibrate_batch_norm(model, batches)
    stem = keras.Model(model.input, model.get_layer("stem_conv").output)
    means, variances = batch_statistics([np.array(stem(batch)) for batch in batches])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.get_layer("stem_bn").moving_mean), means, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.get_layer("stem_bn").moving_variance), variances, rtol=1e-4)
    for layer in model.layers:
        if isinstance(layer, CBAMBlock):
            assert not np.allclose(keras.ops.convert_to_numpy(layer.spatial_norm.moving_variance), 1.0)
            assert layer.spatial_norm.momentum == pytest.approx(0.9)


def test_one_traced_forward_pass_serves_every_epoch():
    model = tiny_resnet()
    batches = [random_images(8, seed=seed) for seed in range(2)]
    callback = RecalibrateBatchNorm(lambda: iter(batches), None)
    callback.set_model(model)
    callback.on_test_begin()
    kernel = model.get_layer("stem_conv").kernel
    kernel.assign(keras.ops.convert_to_numpy(kernel) * 2.0)  # the weights move between epochs
    callback.on_test_begin()
    stem = keras.Model(model.input, model.get_layer("stem_conv").output)
    means, variances = batch_statistics([np.array(stem(batch)) for batch in batches])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.get_layer("stem_bn").moving_mean), means, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model.get_layer("stem_bn").moving_variance), variances, rtol=1e-4)
    if keras.backend.backend() == "tensorflow":
        assert callback.forward.experimental_get_tracing_count() == 1


def test_no_batch_norm_reads_nothing_and_no_batches_is_an_error():
    def unread():
        raise AssertionError("batches were read")
        yield

    assert recalibrate_batch_norm(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]), unread()) == 0
    model = keras.Sequential([keras.Input((3,)), keras.layers.BatchNormalization(momentum=0.5)])
    with pytest.raises(ValueError, match="`batches` held no batch"):
        recalibrate_batch_norm(model, [])
    assert model.layers[0].momentum == 0.5
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(model.layers[0].moving_mean), 0.0)


def test_training_validates_and_saves_the_recalibrated_model(tmp_path):
    config = load_config("synthetic", [*SMALL, "training.epochs=1", "training.recalibrate_batch_norm=2", f"output.path={tmp_path}"])
    run_dir, report = train(config, verbose=0)
    saved = keras.models.load_model(run_dir / "model.keras")
    train_split, _ = load_splits(**dataclasses.asdict(config.data), image_size=(32, 32), channels=1, seed=0)
    first = [np.array(images) for images, _ in train_split.batches(16, shuffle=True, seed=0).take(2)]
    stem = keras.Model(saved.input, saved.get_layer("stem_conv").output)
    means, variances = batch_statistics([np.array(stem(batch)) for batch in first])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(saved.get_layer("stem_bn").moving_mean), means, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(saved.get_layer("stem_bn").moving_variance), variances, rtol=1e-4)
    with open(run_dir / "history.csv", newline="") as file:
        validated = float(next(csv.DictReader(file))["val_accuracy"])
    assert report["accuracy"] == pytest.approx(validated, abs=5e-5)  # the report rounds to 4 places
