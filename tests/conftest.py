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


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A `.keras` file of the untrained `tiny` preset (seed 0), for inference tests."""
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    from_preset("tiny", seed=0).save(path)
    return path
