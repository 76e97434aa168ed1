import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_fer import layers
from keras_fer.losses import ClassBalancedLoss
from keras_fer.models import from_preset
from tests.testing import run_layer_test


def feature_map(shape=(8, 5, 5, 6), seed=0):
    """Channels of very different scales and offsets, as after a convolution."""
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * rng.uniform(0.01, 10, shape[-1]) + rng.normal(size=shape[-1]) * 3).astype("float32")


def twins(x, seed=1, **arguments):
    """Our layer and Keras' with the same weights (random gamma and beta, moving statistics as initialised)."""
    ours, theirs = layers.BatchNormalization(**arguments), keras.layers.BatchNormalization(**arguments)
    ours.build(x.shape), theirs.build(x.shape)
    rng = np.random.default_rng(seed)
    for weight in ours.trainable_weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32"))
    for mine, keras_weight in zip(ours.weights, theirs.weights):
        keras_weight.assign(mine)
    return ours, theirs


def training_step(layer, jit_compile):
    @tf.function(jit_compile=jit_compile)
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.cos(y))
        return y, tape.gradient(loss, [x, *layer.trainable_weights])

    return step


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("arguments", [{"momentum": 0.9, "epsilon": 1e-5}, {"center": False, "scale": False, "epsilon": 2e-5}])
def test_training_matches_keras_outputs_gradients_and_moving_statistics(arguments, jit_compile):
    x = feature_map()
    ours, theirs = twins(x, **arguments)
    ours_step, keras_step = training_step(ours, jit_compile), training_step(theirs, jit_compile)
    for _ in range(3):
        (y, gradients), (keras_y, keras_gradients) = ours_step(tf.constant(x)), keras_step(tf.constant(x))
        np.testing.assert_allclose(y, keras_y, atol=5e-6)
        for gradient, keras_gradient in zip(gradients, keras_gradients):
            scale = float(np.abs(keras_gradient).max())
            np.testing.assert_allclose(gradient, keras_gradient, atol=2e-6 * scale)
    for weight, keras_weight in zip(ours.weights, theirs.weights):
        np.testing.assert_allclose(weight, keras_weight, rtol=2e-6, atol=1e-7)
    # Took the fused kernel, and its gradient.
    graph = ours_step.get_concrete_function(tf.constant(x)).graph
    assert {"FusedBatchNormV3", "FusedBatchNormGradV3"} <= {op.type for op in graph.get_operations()}


def test_moving_statistics_use_the_biased_batch_variance_as_keras_does():
    x = feature_map(shape=(4, 3, 2, 5), seed=2)
    layer = layers.BatchNormalization(momentum=0.75)
    y = keras.ops.convert_to_numpy(layer(x, training=True))
    mean, variance = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # NumPy's var divides by n: biased
    np.testing.assert_allclose(layer.moving_mean, 0.25 * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance, 0.75 + 0.25 * variance, rtol=1e-5)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(variance + 1e-3), atol=2e-5)  # gamma 1, beta 0, Keras' epsilon


def test_a_batch_of_one_value_per_channel_has_variance_zero():
    layer = layers.BatchNormalization(momentum=0.0)
    x = np.array([[[[3.0, -2.0]]]], "float32")
    np.testing.assert_array_equal(layer(x, training=True), np.zeros_like(x))
    np.testing.assert_array_equal(layer.moving_mean, [3.0, -2.0])
    np.testing.assert_array_equal(layer.moving_variance, [0.0, 0.0])


def test_inference_and_other_inputs_run_keras_ops():
    x = feature_map()
    ours, theirs = twins(x)
    inference = tf.function(lambda x: ours(x, training=False)).get_concrete_function(tf.constant(x)).graph
    assert not any(op.type.startswith("FusedBatchNorm") for op in inference.get_operations())
    np.testing.assert_array_equal(ours(x, training=False), theirs(x, training=False))
    flat = x.reshape(8, -1)  # 2-D: Keras' code, bit for bit
    ours, theirs = twins(flat)
    np.testing.assert_array_equal(ours(flat, training=True), theirs(flat, training=True))
    np.testing.assert_array_equal(ours.moving_variance, theirs.moving_variance)
    frozen, keras_frozen = twins(x)
    frozen.trainable = keras_frozen.trainable = False  # a frozen batch norm normalizes with the moving statistics
    np.testing.assert_array_equal(frozen(x, training=True), keras_frozen(x, training=True))


def test_mixed_precision_computes_in_float32_and_returns_the_policy_dtype():
    x = feature_map()
    ours, theirs = twins(x, dtype="mixed_bfloat16")
    y, keras_y = ours(x.astype("float32"), training=True), theirs(x.astype("float32"), training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.cast(y, "float32")), keras.ops.cast(keras_y, "float32"), atol=0.05)
    np.testing.assert_allclose(ours.moving_variance, theirs.moving_variance, rtol=1e-5)


def test_layer_checks(tmp_path):
    x = feature_map(shape=(4, 6, 6, 3))
    loaded = run_layer_test(layers.BatchNormalization, {"momentum": 0.9, "epsilon": 1e-5, "name": "norm"}, x, x.shape, tmp_path)
    assert loaded.get_config()["epsilon"] == 1e-5


def test_the_presets_training_step_uses_the_fused_kernel_for_every_feature_map_norm():
    # The speed choice, guarded by structure: each 4-D batch norm of the
    # network (after the convolutions, CBAM's spatial map, the mixing heads'
    # inputs) is one FusedBatchNormV3 and one gradient kernel in the traced
    # training step; only the 1-D feature norms of the heads take Keras' moments.
    model = from_preset("tiny")
    norms = [layer for layer in model._flatten_layers(include_self=False) if isinstance(layer, keras.layers.BatchNormalization)]
    assert all(isinstance(layer, layers.BatchNormalization) for layer in norms)
    feature_map_norms = [layer for layer in norms if layer.input_spec.ndim == 4]
    loss = ClassBalancedLoss([10] * 7)

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            value = loss(labels, model(images, training=True))
        return tape.gradient(value, model.trainable_weights)

    graph = step.get_concrete_function(tf.zeros((2, 32, 32, 1)), tf.zeros((2,), "int32")).graph
    operations = [op.type for op in graph.get_operations()]
    assert len(feature_map_norms) == 1 + 4 * 3 + 3 + 2  # the stem, 4 blocks of 2 convs + CBAM, 3 shortcuts, 2 head inputs
    assert operations.count("FusedBatchNormV3") == operations.count("FusedBatchNormGradV3") == len(feature_map_norms)
    assert operations.count("SquaredDifference") == len(norms) - len(feature_map_norms)


def test_nan_weights_give_nan_outputs_in_a_training_step_as_with_keras_layer():
    # Grappler fuses FusedBatchNormV3 and the ReLU after it into one oneDNN
    # kernel that turns NaN into 0; the layer keeps them apart, so a model
    # with NaN weights gives a NaN loss (and `train` stops) as with Keras' layer.
    model = from_preset("tiny")
    kernel = model.get_layer("stem_conv").kernel
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 1)).astype("float32")
    outputs = tf.function(lambda images: model(images, training=True))(tf.constant(images))
    assert np.isnan(outputs).all()


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_weights_files_of_models_with_keras_layer_load_both_ways(suffix, tmp_path):
    # Keras keys a functional model's layers in weights files by class name: ours is named as Keras' for this.
    def model(norm):
        inputs = keras.Input((6, 6, 3))
        x = norm(momentum=0.5)(keras.layers.Conv2D(4, 3)(inputs))
        return keras.Model(inputs, norm()(keras.layers.Conv2D(2, 3)(x)))

    images = feature_map(shape=(8, 6, 6, 3), seed=3)
    theirs, ours = keras.layers.BatchNormalization, layers.BatchNormalization
    for saved_norm, loaded_norm in ((theirs, ours), (ours, theirs)):
        saved = model(saved_norm)
        saved(images, training=True)  # moving statistics away from their initial values
        path = tmp_path / f"{saved_norm.__module__}{suffix}"
        saved.save(path) if suffix == ".keras" else saved.save_weights(path)
        loaded = model(loaded_norm)
        loaded.load_weights(path)
        for weight, expected in zip(loaded.weights, saved.weights):
            np.testing.assert_array_equal(weight, expected)
        np.testing.assert_allclose(loaded.predict(images, verbose=0), saved.predict(images, verbose=0), atol=1e-6)
