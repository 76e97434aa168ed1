import keras
import numpy as np
import pytest

from keras_fer.layers import CBAMBlock
from tests.testing import run_layer_test, sigmoid


def numpy_conv_same(x, kernel):
    """2-D 'same' convolution of (B, H, W, Cin) with (k, k, Cin, Cout)."""
    size = kernel.shape[0]
    pad = size // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    height, width = x.shape[1:3]
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for i in range(size):
        for j in range(size):
            out += padded[:, i : i + height, j : j + width, :] @ kernel[i, j]
    return out


def numpy_cbam(x, layer, training):
    attended, attention = numpy_cbam_parts(x, layer, training)
    return attended * attention


def numpy_cbam_parts(x, layer, training):
    hidden_kernel, hidden_bias = (w.numpy() for w in layer.channel_hidden.weights)
    output_kernel, output_bias = (w.numpy() for w in layer.channel_output.weights)

    def mlp(v):
        return np.maximum(v @ hidden_kernel + hidden_bias, 0) @ output_kernel + output_bias

    x = x * sigmoid(mlp(x.mean((1, 2))) + mlp(x.max((1, 2))))[:, None, None, :]
    pooled = np.concatenate([x.mean(-1, keepdims=True), x.max(-1, keepdims=True)], -1)
    conv = numpy_conv_same(pooled, layer.spatial_conv.kernel.numpy())
    gamma, beta, moving_mean, moving_var = (w.numpy() for w in layer.spatial_norm.weights)
    mean, var = (conv.mean((0, 1, 2)), conv.var((0, 1, 2))) if training else (moving_mean, moving_var)
    normalised = (conv - mean) / np.sqrt(var + 1e-5) * gamma + beta
    return x, sigmoid(normalised)


def randomise_weights(layer, seed=0):
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        values = rng.normal(0, 0.5, weight.shape)
        if "variance" in weight.path:
            values = np.abs(values) + 0.5
        weight.assign(values)


@pytest.mark.parametrize("shape,reduction_ratio", [((2, 16, 16, 32), 16), ((2, 9, 13, 5), 16), ((3, 8, 8, 12), 4)])
@pytest.mark.parametrize("training", [False, True])
def test_matches_numpy_reference(shape, reduction_ratio, training):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    layer = CBAMBlock(reduction_ratio=reduction_ratio)
    layer.build(shape)
    randomise_weights(layer)
    expected = numpy_cbam(x.astype("float64"), layer, training)
    np.testing.assert_allclose(layer(x, training=training), expected, atol=1e-5, rtol=1e-5)


def test_layer_checks_and_loaded_block_matches_numpy(tmp_path):
    x = np.random.default_rng(3).normal(size=(2, 16, 16, 8)).astype("float32")
    loaded = run_layer_test(CBAMBlock, {"reduction_ratio": 4, "spatial_kernel_size": 3, "name": "cbam"}, x, x.shape, tmp_path)
    for training in (False, True):
        np.testing.assert_allclose(loaded(x, training=training), numpy_cbam(x.astype("float64"), loaded, training), atol=1e-5, rtol=1e-5)


def test_spatial_attention_is_the_map_applied_at_inference():
    x = np.random.default_rng(2).normal(size=(2, 9, 13, 12)).astype("float32")
    layer = CBAMBlock(reduction_ratio=4)
    layer.build(x.shape)
    randomise_weights(layer)
    attention = np.asarray(layer.spatial_attention(x))
    assert attention.shape == (2, 9, 13, 1) and 0 < attention.min() and attention.max() < 1
    np.testing.assert_allclose(attention, numpy_cbam_parts(x.astype("float64"), layer, False)[1], atol=1e-5)


def test_hidden_width_is_at_least_one():
    layer = CBAMBlock(reduction_ratio=16)
    layer.build((None, 8, 8, 5))
    assert layer.channel_hidden.kernel.shape == (5, 1)
    assert layer.channel_output.kernel.shape == (1, 5)


def test_output_shape_equals_input_shape_in_functional_model():
    inputs = keras.Input((None, None, 24))
    assert CBAMBlock()(inputs).shape == (None, None, None, 24)


def test_mixed_float16_matches_float32():
    x = np.random.default_rng(2).normal(size=(2, 8, 8, 16)).astype("float32")
    reference = CBAMBlock(reduction_ratio=4)
    reference.build(x.shape)
    randomise_weights(reference)
    half = CBAMBlock(reduction_ratio=4, dtype="mixed_float16")
    half.build(x.shape)
    half.set_weights(reference.get_weights())
    output = half(x)
    assert output.dtype == "float16"
    np.testing.assert_allclose(np.asarray(output, "float32"), reference(x), atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"reduction_ratio": 0}, "reduction_ratio=0"),
        ({"reduction_ratio": 2.5}, "reduction_ratio=2.5"),
        ({"spatial_kernel_size": 4}, "spatial_kernel_size=4"),
        ({"spatial_kernel_size": -1}, "spatial_kernel_size=-1"),
    ],
)
def test_invalid_arguments_raise(arguments, message):
    with pytest.raises(ValueError, match=message):
        CBAMBlock(**arguments)


def test_non_4d_input_raises():
    with pytest.raises(ValueError, match="4-D channels-last"):
        CBAMBlock()(np.zeros((2, 8, 8), "float32"))


def test_the_spatial_map_is_one_conv_in_training_and_two_at_inference():
    # Training convolves concat([mean, max]) (one conv, as the paper); inference sums one conv per pooled map,
    # the form an int8 TFLite model quantizes well. Same map either way (test_matches_numpy_reference).
    import tensorflow as tf

    x = tf.random.normal((2, 8, 8, 16), seed=0)
    layer = CBAMBlock(reduction_ratio=4)
    layer.build(x.shape)

    def convolutions(training):
        graph = tf.function(lambda x: layer(x, training=training)).get_concrete_function(x).graph
        return [op.type for op in graph.get_operations()].count("Conv2D")

    assert (convolutions(True), convolutions(False)) == (1, 2)
