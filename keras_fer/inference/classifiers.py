"""Face classifiers from `.keras`, SavedModel and `.tflite` files, behind one call."""

from pathlib import Path

import numpy as np

from keras_fer.data.classes import class_names_for
from keras_fer.models.presets import WEIGHTS

# The shipped model Recognizer() and `keras-fer predict` use unless told otherwise.
# README, "Which model by default": the one that agreed most with FER+'s ten-annotator labels and kept most predictions under perturbations.
DEFAULT_MODEL = "ferplus"


class Classifier:
    """uint8 faces `(n, height, width, channels)` -> probabilities `(n, num_classes)`.

    Attributes:
        input_shape: `(height, width, channels)` the model takes.
        class_names: names of its outputs, in order.
        path: the file it was read from.
        model: the Keras model for `.keras` files (explanations need it),
            else `None`.
    """

    def __init__(self, predict, input_shape, class_names, path, model=None):
        self.predict = predict
        self.model = model
        self.input_shape = tuple(int(d) for d in input_shape)
        self.class_names = tuple(class_names)
        self.path = path

    def __call__(self, faces):
        return np.asarray(self.predict(np.asarray(faces, "uint8")), "float32")


def shipped_model_path(name=DEFAULT_MODEL):
    """The `.keras` file of shipped weights `name` (`keras_fer.models.WEIGHTS`), installed in `keras_fer/assets/`."""
    return WEIGHTS[name].path


def load_classifier(model: str | Path | None = None) -> Classifier:
    """A `Classifier` for shipped weights, a `.keras` file, a SavedModel folder or a `.tflite` file.

    Args:
        model: the name of weights shipped with keras-fer
            (`keras_fer.models.WEIGHTS`, e.g. `"fer2013"`), a path, or
            `None` for the default, `DEFAULT_MODEL`.

    Class names come from a `labels.txt` next to (or, for a SavedModel,
    inside) the model, else from the number of outputs (7 or 8 canonical
    expressions).
    """
    model = DEFAULT_MODEL if model is None else model
    path = shipped_model_path(model) if isinstance(model, str) and model in WEIGHTS else Path(model)
    if not path.exists():
        raise ValueError(f"Model {path} does not exist (shipped models: {sorted(WEIGHTS)}).")
    if path.is_dir():
        return _saved_model(path)
    if path.suffix == ".tflite":
        return _tflite(path)
    if path.suffix == ".keras":
        return _keras(path)
    raise ValueError(f"{path} is not a model keras-fer can read: expected .keras, .tflite or a SavedModel folder.")


def _keras(path):
    from keras_fer.models.loading import load_model_file

    model = load_model_file(path)
    names = _labels(path.parent, model.output_shape[-1]) or class_names_for(model.output_shape[-1])
    return Classifier(lambda faces: model.predict_on_batch(faces.astype("float32")), model.input_shape[1:], names, path, model)


def _saved_model(path):
    try:
        import tensorflow as tf
    except ImportError as error:
        raise ValueError(f"{path}: a SavedModel needs TensorFlow, which is not installed; a .keras or .tflite model does not.") from error
    if not (path / "saved_model.pb").is_file():
        raise ValueError(f"{path} is a folder without saved_model.pb: not a SavedModel.")
    try:
        loaded = tf.saved_model.load(str(path))
        signature = loaded.signatures["serve"]
    except (OSError, ValueError, KeyError, tf.errors.OpError) as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(f"not a keras-fer model file: {path} (a SavedModel that does not load: {reason})") from None
    input_shape = signature.structured_input_signature[1]["images"].shape[1:]
    num_classes = signature.structured_outputs["output_0"].shape[-1]
    names = _labels(path, num_classes) or class_names_for(num_classes)
    return Classifier(lambda faces: signature(images=tf.constant(faces))["output_0"].numpy(), input_shape, names, path)


def _tflite(path):
    from keras_fer.export.litert import LiteRTModel

    model = LiteRTModel(path)
    names = _labels(path.parent, model.num_classes) or class_names_for(model.num_classes)
    return Classifier(model.predict, model.input_shape, names, path)


def _labels(folder, num_classes):
    """The class names in `folder/labels.txt`, one a line, or `None` without that file."""
    labels = Path(folder) / "labels.txt"
    if not labels.is_file():
        return None
    try:
        names = [line.strip() for line in labels.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise ValueError(f"{labels}: not UTF-8 text (byte 0x{error.object[error.start]:02x}); expected one class name a line, in UTF-8") from None
    if len(names) != num_classes:
        raise ValueError(f"{labels}: {len(names)} class names for a model with {num_classes} outputs; expected one name a line per output")
    return names
