"""One way to read a `.keras` model file, with a one-line error for every file that is not one."""

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
