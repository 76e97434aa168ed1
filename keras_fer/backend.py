"""The parts of keras-fer that depend on the backend: TensorFlow-only features, and whether there is a GPU."""

import keras


def check_tensorflow_backend(what):
    """Raises a `ValueError` naming `what` unless Keras runs on TensorFlow.

    Training, evaluation and prediction with `.keras` models run on any
    Keras backend; TensorFlow's distribution strategies, Grad-CAM (which
    takes gradients with `tf.GradientTape`) and the exports do not.
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"{what} needs the TensorFlow backend. Received: KERAS_BACKEND={keras.backend.backend()!r}")


def check_backend(backend):
    """Raises a `ValueError` unless Keras runs on `backend` (`training.backend`; `None` accepts any).

    Keras takes its backend once, when first imported, so a process cannot
    switch: `keras-fer train` starts itself again with `KERAS_BACKEND` set.
    """
    if backend is not None and backend != keras.backend.backend():
        raise ValueError(
            f"training.backend is {backend!r}, but Keras runs on {keras.backend.backend()!r} in this process: set "
            f"KERAS_BACKEND={backend} before Python starts (keras-fer train and study do so themselves), or leave training.backend unset."
        )


def default_jit_compile():
    """Whether `fit` compiles the train step with XLA when the config leaves it open (`jit_compile: null`).

    On JAX always (without `jax.jit` it runs op by op); on TensorFlow only
    with a GPU, since on CPUs XLA trains slower (`fer2013` preset, 2-core
    AMD EPYC: 202 img/s with XLA, 237 without); never `torch.compile`.
    """
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_logical_devices("GPU"))
    return keras.backend.backend() == "jax"
