import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

from keras_fer.models import from_preset  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(scope="session")
def model_file(tmp_path_factory):
    """A `.keras` file of the untrained `tiny` preset (seed 0), for inference tests."""
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    from_preset("tiny", seed=0).save(path)
    return path


@pytest.fixture(scope="session")
def tflite_file(model_file, tmp_path_factory):
    """`model_file` exported as a float32 `.tflite` (a conversion takes 10-15 s)."""
    from keras_fer.export import export_tflite

    return export_tflite(keras.models.load_model(model_file), tmp_path_factory.mktemp("tflite") / "tiny.tflite")


@pytest.fixture(scope="session")
def trained_tiny():
    """`(model, faces)`: the `tiny` preset trained on 1,050 clean synthetic faces.

    Shared by the learning test and the export tests, which need a model whose
    predictions mean something; training it once saves a minute of the suite.
    """
    from keras_fer.data.synthetic import make_faces
    from keras_fer.losses import ClassBalancedLoss

    keras.utils.set_random_seed(0)
    faces = make_faces(samples_per_class=150, image_size=32, seed=0)
    model = from_preset("tiny", seed=0)
    model.compile(keras.optimizers.Adam(3e-3), ClassBalancedLoss([150] * 7, weighting="none"), metrics=["accuracy"])
    # 15 whole batches an epoch: one XLA compilation of the train step.
    model.fit(faces.images, faces.labels, epochs=12, batch_size=70, verbose=0)
    return model, faces
