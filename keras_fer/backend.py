"""The parts of keras-fer that run on TensorFlow only, and the check that says so on other backends."""

import keras


def check_tensorflow_backend(what):
    """Raises a `ValueError` naming `what` unless Keras runs on TensorFlow.

    Training, evaluation and prediction with `.keras` models run on any
    Keras backend; TensorFlow's distribution strategies, Grad-CAM (which
    takes gradients with `tf.GradientTape`) and the exports do not.
    """
    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"{what} needs the TensorFlow backend. Received: KERAS_BACKEND={keras.backend.backend()!r}")
