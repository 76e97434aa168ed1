import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_fer.layers import UncertaintyMixing
from keras_fer.losses import ClassBalancedLoss
from keras_fer.models import FERModel
from tests.testing import fit_with_finite_loss, random_images, run_model_saving_test, tiny_resnet

LABELS = np.array([0, 1, 2, 0, 1, 2, 0, 1])


def trained_tiny_resnet():
    model = tiny_resnet()
    model.compile("adam", ClassBalancedLoss([3, 3, 2], weighting="inverse_frequency"), metrics=["accuracy"])
    fit_with_finite_loss(model, random_images(8), LABELS, batch_size=4)
    return model


def test_trained_model_round_trips_and_trains_after_loading(tmp_path):
    model = trained_tiny_resnet()
    loaded = run_model_saving_test(model, random_images(4, seed=1), tmp_path)
    assert isinstance(loaded, FERModel)
    assert isinstance(loaded.mixing_layer, UncertaintyMixing)
    assert loaded.loss.class_weights == model.loss.class_weights
    fit_with_finite_loss(loaded, random_images(8), LABELS, batch_size=4)


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


@keras.saving.register_keras_serializable(package="tests")
class _Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(3, activation="softmax")

    def call(self, inputs):
        return self.dense(inputs)


def test_the_float32_copy_of_a_subclassed_mixed_precision_model_keeps_its_weights():
    from keras_fer.models.loading import float32_clone, float32_copy

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = _Subclassed()
        model(np.ones((1, 4), "float32"))
    finally:
        keras.config.set_dtype_policy(previous)
    for copy in (float32_copy(model), float32_clone(model)):  # from get_config alone it came back unbuilt: set_weights failed
        assert copy.dense.compute_dtype == "float32"
        np.testing.assert_array_equal(copy.dense.kernel.numpy(), model.dense.kernel.numpy())
