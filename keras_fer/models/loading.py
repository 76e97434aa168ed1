"""One way to read a `.keras` model file, with a one-line error for every file that is not one; a float32 copy of a mixed-precision model."""

import zipfile
from pathlib import Path

import keras


def load_model_file(path):
    """The Keras model saved in the `.keras` file `path`.

    Raises:
        ValueError: "not a keras-fer model file: <path> (<reason>)" when the
            file is missing, empty, truncated, not a `.keras` archive, has
            no `config.json`, or holds layers or weights that do not load.
    """
    import keras_fer.models  # noqa: F401  registers keras-fer's layers, losses and models

    path = Path(path)
    reason = _problem(path)
    if reason is None:
        try:
            return keras.models.load_model(path)
        except (ValueError, TypeError, KeyError, OSError, zipfile.BadZipFile) as error:
            reason = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else 'no detail'}"
    raise ValueError(f"not a keras-fer model file: {path} ({reason})")


def _problem(path):
    if not path.exists():
        return "it does not exist"
    if path.is_dir():
        return "it is a folder; a .keras model is one file"
    if path.stat().st_size == 0:
        return "the file is empty"
    if not zipfile.is_zipfile(path):
        return "not a .keras archive: truncated, or another format"
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if "config.json" not in names:
            return "the archive has no config.json"
        if archive.testzip() is not None:
            return "the archive is damaged"
    return None


def float32_copy(model):
    """`model` itself when every layer computes in float32, else a copy that does, with the same weights.

    A model built under a mixed-precision policy (`training.mixed_precision`)
    is saved with it by `model.save` and runs in bfloat16 or float16 when
    loaded. TFLite has no bfloat16 kernels, and CPUs without bfloat16 units
    emulate it: the exports, `Recognizer` and `keras-fer evaluate` take this
    copy, and a run's final `model.keras` is one (`save_for_inference`). Its
    weights are the model's (mixed precision keeps them in float32), so it
    differs only by the rounding the model's lower-precision computation did.

    Example:

    ```python
    model = keras.models.load_model("runs/fer2013-bf16/model.keras")  # trained with training.mixed_precision
    float32_copy(model).predict(faces)  # the same weights, computed in float32
    ```
    """
    config = keras.saving.serialize_keras_object(model)
    return _from_config(model, config) if _float32_policies(config) else model


def float32_clone(model):
    """A new, uncompiled model like `model`, with its weights, every layer computing in float32 (`float32_copy`)."""
    config = keras.saving.serialize_keras_object(model)
    _float32_policies(config)
    return _from_config(model, config)


def _from_config(model, config):
    """The model `config` (a serialized Keras object: subclassed models are built from it too) describes, uncompiled, with `model`'s weights."""
    config.pop("compile_config", None)  # compiled, it would be saved with an optimizer's state
    clone = keras.saving.deserialize_keras_object(config)
    clone.set_weights(model.get_weights())
    return clone


def _float32_policies(config):
    """Sets every dtype policy in a serialized Keras object to float32, in place; whether any was another."""
    changed = False
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and config.get("config", {}).get("name") != "float32":
            config["config"]["name"] = "float32"
            return True
        for value in config.values():
            changed |= _float32_policies(value)
    elif isinstance(config, list):
        for value in config:
            changed |= _float32_policies(value)
    return changed
