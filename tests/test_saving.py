import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_fer.layers import CBAMBlock, PhiloxDropout, UncertaintyMixing
from keras_fer.losses import ClassBalancedLoss
from keras_fer.models import FERModel
from tests.testing import random_images, tiny_resnet

LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1])


def trained_tiny_resnet():
    model = tiny_resnet()
    model.compile("adam", ClassBalancedLoss([3, 3, 2], weighting="inverse_frequency"), metrics=["accuracy"])
    model.fit(random_images(8), LABELS, batch_size=4, epochs=1, verbose=0)
    return model


@pytest.mark.parametrize(
    "layer",
    [
        CBAMBlock(reduction_ratio=4, spatial_kernel_size=3, name="cbam"),
        UncertaintyMixing(seed=9, name="mix"),
        PhiloxDropout(0.3, noise_shape=(None, 1, 1, 4), seed=5, name="drop"),
    ],
)
def test_layer_config_round_trip(layer):
    restored = type(layer).from_config(layer.get_config())
    assert restored.get_config() == layer.get_config()
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer)).get_config() == layer.get_config()


def test_cbam_block_keras_file_round_trip(tmp_path):
    inputs = keras.Input((8, 8, 12))
    model = keras.Model(inputs, CBAMBlock(reduction_ratio=4)(keras.layers.Conv2D(12, 3, padding="same")(inputs)))
    images = random_images(2, (8, 8, 12))
    model.save(tmp_path / "cbam.keras")
    restored = keras.models.load_model(tmp_path / "cbam.keras")
    np.testing.assert_array_equal(restored.predict(images, verbose=0), model.predict(images, verbose=0))


def test_model_config_round_trip_gives_identical_predictions():
    model = trained_tiny_resnet()
    restored = FERModel.from_config(model.get_config())
    restored.set_weights(model.get_weights())
    images = random_images(4, seed=1)
    assert isinstance(restored, FERModel)
    np.testing.assert_array_equal(restored.predict(images, verbose=0), model.predict(images, verbose=0))


def test_model_keras_file_round_trip(tmp_path):
    model = trained_tiny_resnet()
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    images = random_images(4, seed=1)
    assert isinstance(restored, FERModel)
    assert isinstance(restored.mixing_layer, UncertaintyMixing)
    assert isinstance(restored.loss, ClassBalancedLoss)
    assert restored.loss.class_weights == model.loss.class_weights
    np.testing.assert_array_equal(restored.predict(images, verbose=0), model.predict(images, verbose=0))
    history = restored.fit(random_images(8), LABELS, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_export_savedmodel_serves_model_predictions(tmp_path):
    model = trained_tiny_resnet()
    model.export(tmp_path / "savedmodel", verbose=False)
    saved_model = tf.saved_model.load(str(tmp_path / "savedmodel"))
    images = random_images(5, seed=2)
    np.testing.assert_allclose(saved_model.serve(images).numpy(), model.predict(images, verbose=0), atol=1e-5)


def test_keras_file_with_lambda_is_still_refused(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    model.save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        keras.models.load_model(tmp_path / "lambda.keras")
