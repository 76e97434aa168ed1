import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_fer.layers import UncertaintyMixing
from tests.testing import mixing_partner, run_layer_test

BATCH, DIM = 8, 8


def numpy_weights(log_var, partner):
    uncertainty = np.exp(log_var.astype("float64")).mean(-1)
    return uncertainty / (uncertainty + uncertainty[partner])


def mix(log_var, dtype="float32", seed=3):
    """Mixes `mu = I` so that output row i is `a_i e_i + (1 - a_i) e_partner(i)`."""
    layer = UncertaintyMixing(seed=seed, dtype=dtype)
    mixed = layer([np.eye(BATCH, DIM, dtype="float32"), log_var], training=True)
    return keras.ops.convert_to_numpy(mixed).astype("float64"), mixing_partner(layer)


def own_weights(mixed, partner):
    return np.where(partner == np.arange(BATCH), 0.5, mixed[np.arange(BATCH), np.arange(BATCH)])


def assert_mixes_like_numpy(layer, mu, log_var):
    mixed = layer([mu, log_var], training=True)
    partner = mixing_partner(layer)
    weights = numpy_weights(log_var, partner)[:, None]
    np.testing.assert_allclose(mixed, weights * mu + (1 - weights) * mu[partner], rtol=1e-5, atol=1e-6)


def test_mixed_features_match_numpy():
    rng = np.random.default_rng(0)
    assert_mixes_like_numpy(UncertaintyMixing(seed=7), *rng.normal(size=(2, BATCH, DIM)).astype("float32"))


def test_layer_checks_and_loaded_layer_mixes_like_numpy(tmp_path):
    mu, log_var = np.random.default_rng(5).normal(size=(2, BATCH, DIM)).astype("float32")
    loaded = run_layer_test(UncertaintyMixing, {"seed": 9, "name": "mix"}, [mu, log_var], (BATCH, DIM), tmp_path)
    np.testing.assert_array_equal(loaded([mu, log_var]), mu)
    assert_mixes_like_numpy(loaded, mu, log_var)


def test_weights_match_numpy_and_pairs_sum_to_one():
    log_var = np.random.default_rng(1).normal(size=(BATCH, DIM)).astype("float32")
    mixed, partner = mix(log_var)
    assert sorted(partner) == list(range(BATCH))
    np.testing.assert_allclose(mixed.sum(-1), 1.0, rtol=1e-6)
    moved = partner != np.arange(BATCH)
    np.testing.assert_allclose(own_weights(mixed, partner)[moved], numpy_weights(log_var, partner)[moved], rtol=1e-6)
    np.testing.assert_allclose(mixed[moved, partner[moved]], 1 - numpy_weights(log_var, partner)[moved], rtol=1e-5)


def test_more_uncertain_sample_keeps_more_of_its_feature():
    log_var = np.repeat(np.linspace(-2, 2, BATCH)[:, None], DIM, axis=1).astype("float32")
    mixed, partner = mix(log_var)
    moved = partner != np.arange(BATCH)
    assert moved.any()
    own = own_weights(mixed, partner)
    more_uncertain = log_var[:, 0] > log_var[partner, 0]
    assert np.all((own > 0.5)[moved] == more_uncertain[moved])


@pytest.mark.parametrize("dtype,extreme", [("float32", 100.0), ("mixed_float16", 80.0), ("float16", 80.0)])
def test_extreme_log_variance_is_stable(dtype, extreme):
    log_var = np.zeros((BATCH, DIM), "float32")
    log_var[::2] = extreme
    log_var[1::2] = -extreme
    mixed, partner = mix(log_var, dtype=dtype)
    assert np.all(np.isfinite(mixed))
    own = own_weights(mixed, partner)
    assert np.all((own >= 0) & (own <= 1))
    opposite = (np.arange(BATCH) % 2) != (partner % 2)
    expected = np.where(np.arange(BATCH) % 2 == 0, 1.0, 0.0)
    np.testing.assert_allclose(own[opposite], expected[opposite], atol=1e-3)


def test_inference_returns_mu_unchanged():
    rng = np.random.default_rng(2)
    mu = rng.normal(size=(BATCH, DIM)).astype("float32")
    log_var = rng.normal(size=(BATCH, DIM)).astype("float32")
    layer = UncertaintyMixing()
    np.testing.assert_array_equal(layer([mu, log_var]), mu)
    np.testing.assert_array_equal(layer([mu, log_var], training=False), mu)


def test_mix_targets_pairs_targets_like_features():
    layer = UncertaintyMixing(seed=5)
    mu = np.eye(BATCH, dtype="float32")
    layer([mu, np.zeros_like(mu)], training=True)
    partner = mixing_partner(layer)
    labels = np.eye(3, dtype="float32")[np.arange(BATCH) % 3]
    expected = 0.5 * labels + 0.5 * labels[partner]
    np.testing.assert_allclose(layer.mix_targets(labels), expected)


def test_mix_targets_without_training_call_raises():
    layer = UncertaintyMixing()
    layer([np.zeros((2, 4), "float32")] * 2, training=False)
    with pytest.raises(RuntimeError, match="training=True"):
        layer.mix_targets(np.eye(2, dtype="float32"))


def test_same_seed_draws_same_permutations():
    log_var = np.zeros((BATCH, DIM), "float32")
    first = [mix(log_var, seed=11)[1] for _ in range(2)]
    second = [mix(log_var, seed=11)[1] for _ in range(2)]
    np.testing.assert_array_equal(first, second)


def test_gradient_reaches_both_heads():
    features = np.random.default_rng(3).normal(size=(BATCH, 4)).astype("float32")
    mu_head, log_var_head = keras.layers.Dense(DIM), keras.layers.Dense(DIM)
    layer = UncertaintyMixing(seed=2)
    target = np.random.default_rng(4).normal(size=(BATCH, DIM)).astype("float32")
    with tf.GradientTape() as tape:
        mixed = layer([mu_head(features), log_var_head(features)], training=True)
        loss = keras.ops.sum((mixed - target) ** 2)
    gradients = tape.gradient(loss, [mu_head.kernel, log_var_head.kernel])
    assert all(float(np.abs(g).sum()) > 1e-6 for g in gradients)


@pytest.mark.parametrize("arguments,message", [({"seed": 1.5}, "seed=1.5"), ({"seed": "a"}, "seed=a")])
def test_invalid_seed_raises(arguments, message):
    with pytest.raises(ValueError, match=message):
        UncertaintyMixing(**arguments)


@pytest.mark.parametrize(
    "inputs",
    [
        [np.zeros((2, 4), "float32"), np.zeros((2, 5), "float32")],
        np.zeros((2, 4), "float32"),  # one tensor: a TypeError before
        [np.zeros((2, 3, 4), "float32"), np.zeros((2, 3, 4), "float32")],  # 3-D: failed inside the backend before
    ],
)
def test_mismatched_inputs_raise(inputs):
    with pytest.raises(ValueError, match="two tensors of the same shape \\(batch, dim\\)"):
        UncertaintyMixing()(inputs, training=True)
