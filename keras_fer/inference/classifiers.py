"""Face classifiers from `.keras`, SavedModel and `.tflite` files, behind one call."""

import os
from pathlib import Path

import numpy as np

from keras_fer.data.classes import class_names_for
from keras_fer.models.presets import WEIGHTS

# The shipped model Recognizer() and `keras-fer predict` use unless told otherwise.
# README, "Which model by default": the one that agreed most with FER+'s ten-annotator labels and kept most predictions under perturbations.
DEFAULT_MODEL = "ferplus"


# How a shipped model runs: its TFLite twin (the default) or its `.keras` file through Keras.
RUNTIMES = ("tflite", "keras")


class Classifier:
    """uint8 faces `(n, height, width, channels)` -> probabilities `(n, num_classes)`.

    Attributes:
        input_shape: `(height, width, channels)` the model takes.
        class_names: names of its outputs, in order.
        path: the file it was read from.
        keras_path: the `.keras` file behind it: `path` itself, or for a
            shipped model's TFLite twin the `.keras` file it was exported
            from; `None` for other files.
    """

    def __init__(self, predict, input_shape, class_names, path, model=None, keras_path=None):
        self.predict = predict
        self._model = model
        self.keras_path = keras_path
        self.input_shape = tuple(int(d) for d in input_shape)
        self.class_names = tuple(class_names)
        self.path = path

    @property
    def model(self):
        """The Keras model (explanations need it), read from `keras_path` at first use; `None` without one."""
        if self._model is None and self.keras_path is not None:
            from keras_fer.models.loading import float32_copy, load_model_file

            self._model = float32_copy(load_model_file(self.keras_path))
        return self._model

    @model.setter
    def model(self, model):
        self._model = model

    def __call__(self, faces):
        return np.asarray(self.predict(np.asarray(faces, "uint8")), "float32")


def shipped_model_path(name=DEFAULT_MODEL):
    """The `.keras` file of shipped weights `name` (`keras_fer.models.WEIGHTS`), installed in `keras_fer/assets/`."""
    return WEIGHTS[name].path


def load_classifier(model: str | Path | None = None, runtime: str | None = None, num_threads: int | None = None) -> Classifier:
    """A `Classifier` for shipped weights, a `.keras` file, a SavedModel folder or a `.tflite` file.

    Args:
        model: the name of weights shipped with keras-fer
            (`keras_fer.models.WEIGHTS`, e.g. `"fer2013"`), a path, or
            `None` for the default, `DEFAULT_MODEL`.
        runtime: how a shipped model runs (`RUNTIMES`): `"tflite"` (the
            default) runs its TFLite twin, shipped beside it
            (`Weights.twin`, int8 weights, `TWIN_QUANTIZATION`): about 0.5 ms
            a face on one core against 6 ms for the `.keras` model through
            TensorFlow, and the same top class on 99.3% (`fer2013`) and 99.65%
            (`ferplus`) of the validation faces (their model cards);
            `"keras"` runs the `.keras` model itself (the exact model, which
            `from_preset` loads and fine-tuning starts from). A path runs as
            its file type says: `runtime` must then be `None`.
        num_threads: LiteRT threads for `.tflite` files and twins; `None`
            for the machine's cores, at most
            `keras_fer.export.litert.MAX_THREADS` (a twin takes 0.36 ms a
            face on 2 threads, 0.50 on one). `.keras` and SavedModel
            models run on TensorFlow's threads, so `num_threads` must then
            be `None`.

    Class names come from a `labels.txt` next to (or, for a SavedModel,
    inside) the model, else from the number of outputs (7 or 8 canonical
    expressions).

    Example:

    >>> twin = load_classifier("ferplus", num_threads=1)
    >>> twin.path.name, twin.keras_path.name, twin.class_names[-1]
    ('ferplus_dynamic_int8.tflite', 'ferplus.keras', 'contempt')
    >>> load_classifier("ferplus", runtime="keras").path.name
    'ferplus.keras'
    """
    from keras_fer.export.litert import resolve_threads

    threads = resolve_threads(num_threads)  # checked now; passed on only where LiteRT runs the model
    if runtime is not None and runtime not in RUNTIMES:
        raise ValueError(f"`runtime` must be one of {list(RUNTIMES)} or None. Received: runtime={runtime!r}")
    model = DEFAULT_MODEL if model is None else model
    if not isinstance(model, (str, os.PathLike)):
        raise ValueError(
            f"`model` must be the name of a shipped model ({sorted(WEIGHTS)}), the path of a .keras, .tflite or SavedModel model, "
            f"or None. Received: model={model!r}"
        )
    if isinstance(model, str) and model in WEIGHTS:
        weights = WEIGHTS[model]
        if runtime == "keras":
            _check_no_threads(num_threads, weights.path)
            return _keras(weights.path)
        twin = _tflite(weights.twin, threads, class_names_for)  # the 7 or 8 canonical names, whatever lies beside it
        twin.keras_path = weights.path
        return twin
    path = Path(model)
    if not path.exists():
        raise ValueError(f"Model {path} does not exist (shipped models: {sorted(WEIGHTS)}).")
    if runtime is not None:
        raise ValueError(
            f"{path} is a model file: `runtime` (--runtime) applies only to shipped models ({sorted(WEIGHTS)}); "
            f"a file runs as its type says, so leave it out. Received: runtime={runtime!r}"
        )
    if path.suffix == ".tflite":
        return _tflite(path, threads)
    if path.is_dir() or path.suffix == ".keras":
        _check_no_threads(num_threads, path)
        return _saved_model(path) if path.is_dir() else _keras(path)
    raise ValueError(f"{path} is not a model keras-fer can read: expected .keras, .tflite or a SavedModel folder.")


def runs_on_litert(model: str | Path | None = None, runtime: str | None = None) -> bool:
    """Whether `load_classifier(model, runtime)` runs the model with LiteRT (a twin or a `.tflite` file), so `num_threads` applies.

    Example:

    >>> runs_on_litert("ferplus"), runs_on_litert("ferplus", runtime="keras"), runs_on_litert("mine.tflite"), runs_on_litert("mine.keras")
    (True, False, True, False)
    """
    model = DEFAULT_MODEL if model is None else model
    if isinstance(model, str) and model in WEIGHTS:
        return runtime != "keras"
    return isinstance(model, (str, Path)) and Path(model).suffix == ".tflite"


def _keras(path):
    from keras_fer.models.loading import float32_copy, load_model_file

    model = float32_copy(load_model_file(path))  # a model saved in mixed precision answers as its exports do
    names = _labels(path.parent, model.output_shape[-1]) or class_names_for(model.output_shape[-1])
    return Classifier(lambda faces: model.predict_on_batch(faces.astype("float32")), model.input_shape[1:], names, path, model, keras_path=path)


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


def _check_no_threads(num_threads, path):
    if num_threads is not None:
        raise ValueError(
            f"`num_threads` sets LiteRT's threads, for .tflite models and shipped models' twins; {path} runs on TensorFlow's "
            f"(tf.config.threading). Received: num_threads={num_threads!r}"
        )


def _tflite(path, num_threads, names_for=None):
    from keras_fer.export.litert import LiteRTModel

    model = LiteRTModel(path, num_threads=num_threads)
    names = names_for(model.num_classes) if names_for else _labels(path.parent, model.num_classes) or class_names_for(model.num_classes)
    return Classifier(model.predict, model.input_shape, names, path)


def _labels(folder, num_classes):
    """The class names in `folder/labels.txt`, one a line (a UTF-8 byte order mark allowed), or `None` without that file."""
    labels = Path(folder) / "labels.txt"
    if not labels.is_file():
        return None
    try:
        names = [line.strip() for line in labels.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except UnicodeDecodeError as error:
        raise ValueError(f"{labels}: not UTF-8 text (byte 0x{error.object[error.start]:02x}); expected one class name a line, in UTF-8") from None
    if len(names) != num_classes:
        raise ValueError(f"{labels}: {len(names)} class names for a model with {num_classes} outputs; expected one name a line per output")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"{labels}: the class name {repeated[0]!r} is on more than one line; expected a different name for each output")
    return names
