"""`optimizer.ema_momentum`: a moving average of the weights is validated and saved, the raw weights backed up."""

import keras
import numpy as np
import pytest

from keras_fer.training import load_config, make_optimizer, train
from keras_fer.training.fit import _callbacks
from keras_fer.training.run import build_model
from tests.testing import SMALL, random_images, tiny_resnet


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd"])
def test_ema_momentum_turns_on_keras_weight_averaging(name):
    averaged = make_optimizer(name, ema_momentum=0.999)
    assert averaged.use_ema and averaged.ema_momentum == pytest.approx(0.999)
    assert not make_optimizer(name).use_ema


def test_bad_ema_momentum_names_the_argument_and_the_range():
    with pytest.raises(ValueError, match=r"`ema_momentum` must be None or in \[0, 1\]. Received: ema_momentum=1.5"):
        make_optimizer(ema_momentum=1.5)
    with pytest.raises(ValueError, match=r"optimizer.ema_momentum` must lie in \[0.0, 1.0\]. Received: -0.1"):
        load_config("synthetic", ["optimizer.ema_momentum=-0.1"])
    assert load_config("synthetic", ["optimizer.ema_momentum=0.999"]).optimizer.ema_momentum == pytest.approx(0.999)


def trainable(model):
    return [keras.ops.convert_to_numpy(variable) for variable in model.trainable_variables]


def test_saved_model_is_the_average_not_the_last_weights(tmp_path):
    # With momentum 1 the average stays at the weights after the first step,
    # and one Adam step moves each weight by at most the learning rate.
    start = build_model(load_config("synthetic").model, num_classes=7, seed=0)
    start.save(tmp_path / "start.keras")
    settings = [*SMALL, "training.epochs=2", "optimizer.schedule=constant", f"model.weights={tmp_path / 'start.keras'}"]
    moved = {}
    for ema in ("1.0", "null"):
        config = load_config("synthetic", [*settings, f"optimizer.ema_momentum={ema}", f"output.path={tmp_path / ema}"])
        run_dir, _ = train(config, verbose=0)
        saved = keras.models.load_model(run_dir / "model.keras")
        moved[ema] = max(np.abs(a - b).max() for a, b in zip(trainable(saved), trainable(start)))
    learning_rate = load_config("synthetic").optimizer.learning_rate
    assert 0 < moved["1.0"] <= learning_rate * 1.001
    assert moved["null"] > 2 * learning_rate


class Probe(keras.callbacks.Callback):
    """Records, at each epoch end, the model's weights and the optimizer's average."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        average = [keras.ops.convert_to_numpy(variable) for variable in self.model.optimizer._model_variables_moving_average]
        self.seen.append((trainable(self.model), average))


def test_checkpoint_gets_the_average_and_backup_the_raw_weights(tmp_path):
    images, labels = random_images(24), np.eye(3)[np.arange(24) % 3]
    model = tiny_resnet()
    model.compile(make_optimizer(learning_rate=0.01, ema_momentum=1.0), "categorical_crossentropy", jit_compile=True)
    callbacks = _callbacks(tmp_path, "val_loss", None, False, ema=True)
    assert isinstance(callbacks[0], keras.callbacks.SwapEMAWeights)
    assert isinstance(callbacks[-1], keras.callbacks.BackupAndRestore)
    probe = Probe()
    callbacks.insert(len(callbacks) - 1, probe)  # sees what BackupAndRestore saves
    model.fit(images, labels, batch_size=8, epochs=2, validation_data=(images, labels), callbacks=callbacks, verbose=0)
    saved = trainable(keras.models.load_model(tmp_path / "model.keras"))
    for raw, average in probe.seen[:-1]:
        for saved_value, average_value in zip(saved, average):
            np.testing.assert_array_equal(saved_value, average_value)
        assert max(np.abs(r - a).max() for r, a in zip(raw, average)) > 0.01
    # After the last epoch Keras leaves the average in the model (Keras swaps
    # by adding and subtracting, hence the rounding).
    for final, saved_value in zip(trainable(model), saved):
        np.testing.assert_allclose(final, saved_value, atol=1e-7)
