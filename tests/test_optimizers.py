import keras
import numpy as np
import pytest

from keras_fer.training import make_optimizer


def learning_rates(optimizer, steps):
    schedule = optimizer._learning_rate
    return np.array([float(schedule(step)) if callable(schedule) else float(schedule) for step in steps])


def test_exponential_is_times_decay_rate_per_epoch():
    optimizer = make_optimizer(learning_rate=0.1, schedule="exponential", decay_rate=0.9, steps_per_epoch=10)
    np.testing.assert_allclose(learning_rates(optimizer, [0, 9, 10, 25]), [0.1, 0.1, 0.09, 0.081], rtol=1e-6)


def test_step_decays_every_decay_epochs():
    optimizer = make_optimizer(learning_rate=1.0, schedule="step", decay_rate=0.1, decay_epochs=3, steps_per_epoch=5)
    np.testing.assert_allclose(learning_rates(optimizer, [0, 14, 15, 30]), [1.0, 1.0, 0.1, 0.01], rtol=1e-6)


def test_cosine_with_warmup():
    optimizer = make_optimizer(learning_rate=1.0, schedule="cosine", warmup_epochs=1, epochs=5, steps_per_epoch=10)
    expected = [0.0, 0.5, 1.0, 0.5 * (1 + np.cos(np.pi * 0.5)), 0.0]
    np.testing.assert_allclose(learning_rates(optimizer, [0, 5, 10, 30, 50]), expected, atol=1e-6)


@pytest.mark.parametrize("name, cls", [("adam", keras.optimizers.Adam), ("adamw", keras.optimizers.AdamW), ("sgd", keras.optimizers.SGD)])
def test_names_and_weight_decay(name, cls):
    optimizer = make_optimizer(name, weight_decay=1e-4)
    assert type(optimizer) is cls and optimizer.weight_decay == pytest.approx(1e-4)


def test_bad_names():
    with pytest.raises(ValueError, match="`schedule` must be one of"):
        make_optimizer(schedule="linear")
    with pytest.raises(ValueError, match="`name` must be one of \\('adam', 'adamw', 'sgd'\\). Received: name='rmsprop'"):
        make_optimizer("rmsprop")
