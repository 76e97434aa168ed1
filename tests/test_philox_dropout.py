import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_fer.layers import PhiloxDropout
from tests.testing import run_layer_test


def compiled_hlo(layer, x):
    run = tf.function(lambda x: layer(x, training=True), jit_compile=True)
    return run.experimental_get_compiler_ir(x)(stage="hlo")


@pytest.mark.parametrize("jit_compile", [False, True])
def test_same_masks_as_keras_dropout_with_the_same_seed(jit_compile):
    x = tf.ones((64, 300))
    ours, keras_dropout = PhiloxDropout(0.4, seed=7), keras.layers.Dropout(0.4, seed=7)
    run_ours = tf.function(lambda x: ours(x, training=True), jit_compile=jit_compile)
    run_keras = tf.function(lambda x: keras_dropout(x, training=True), jit_compile=jit_compile)
    for _ in range(3):
        np.testing.assert_array_equal(run_ours(x), run_keras(x))


def test_layer_checks_and_loaded_layer_draws_keras_masks(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 8)).astype("float32")
    arguments = {"rate": 0.3, "noise_shape": (None, 1, 1, 8), "seed": 5}
    loaded = run_layer_test(PhiloxDropout, {**arguments, "name": "drop"}, x, x.shape, tmp_path)
    keras_dropout = keras.layers.Dropout(**arguments)
    keras_dropout.seed_generator.state.assign(loaded.seed_generator.state)
    dropped = keras.ops.convert_to_numpy(loaded(x, training=True))
    np.testing.assert_array_equal(dropped, keras_dropout(x, training=True))
    assert 0 < (dropped == 0).mean() < 1
    np.testing.assert_array_equal(loaded(x), x)


def test_drops_the_rate_and_scales_the_rest():
    x = np.full((200, 500), 3.0, "float32")
    outputs = keras.ops.convert_to_numpy(PhiloxDropout(0.4, seed=1)(x, training=True))
    assert set(np.unique(outputs)) == {0.0, np.float32(3.0 / 0.6)}
    assert abs((outputs == 0).mean() - 0.4) < 0.01


def test_inference_and_zero_rate_return_inputs():
    x = np.arange(12, dtype="float32").reshape(3, 4)
    np.testing.assert_array_equal(PhiloxDropout(0.5)(x, training=False), x)
    np.testing.assert_array_equal(PhiloxDropout(0.0)(x, training=True), x)


def test_rate_one_drops_everything_as_keras_dropout_does():
    x = np.arange(12, dtype="float32").reshape(3, 4)
    np.testing.assert_array_equal(keras.layers.Dropout(1.0)(x, training=True), np.zeros_like(x))
    np.testing.assert_array_equal(PhiloxDropout(1.0)(x, training=True), np.zeros_like(x))  # TensorFlow's op refused rate 1


def test_new_mask_each_call_and_same_masks_for_same_seed():
    x = np.ones((4, 64), "float32")
    first, second = PhiloxDropout(0.5, seed=3), PhiloxDropout(0.5, seed=3)
    masks = [keras.ops.convert_to_numpy(layer(x, training=True)) for layer in (first, first, second)]
    assert not np.array_equal(masks[0], masks[1])
    np.testing.assert_array_equal(masks[0], masks[2])


def test_noise_shape_shares_the_mask_along_none_free_axes():
    x = np.ones((3, 5, 5, 8), "float32")
    outputs = keras.ops.convert_to_numpy(PhiloxDropout(0.5, noise_shape=(None, 1, 1, 8), seed=2)(x, training=True))
    np.testing.assert_array_equal(outputs, np.broadcast_to(outputs[:, :1, :1, :], x.shape))
    assert 0 < (outputs == 0).mean() < 1


def test_xla_compiles_no_per_element_seed_scrambling():
    # Keras' Dropout makes XLA recompute the seed's key for every element
    # (StatelessRandomGetKeyCounter fused into the loop), 25x slower on CPU.
    x = tf.ones((8, 3, 3, 16))
    assert "StatelessRandomGetKeyCounter" in compiled_hlo(keras.layers.Dropout(0.4, seed=1), x)
    hlo = compiled_hlo(PhiloxDropout(0.4, seed=1), x)
    assert "StatelessRandomGetKeyCounter" not in hlo
    assert "rng-bit-generator" in hlo


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_compiled_dropout_keeps_dtype_and_rate(dtype):
    layer = PhiloxDropout(0.25, seed=4, dtype=dtype)
    outputs = tf.function(lambda x: layer(x, training=True), jit_compile=True)(tf.ones((100, 400), dtype))
    assert outputs.dtype == dtype
    assert abs(float(tf.reduce_mean(tf.cast(outputs == 0, "float32"))) - 0.25) < 0.01
