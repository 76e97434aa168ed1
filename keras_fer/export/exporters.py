"""SavedModel and TFLite exports of a keras-fer model, with their preprocessing written next to them."""

import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_fer.data.classes import class_names_for
from keras_fer.data.framing import FER2013_CROP
from keras_fer.export.quantization import repair_collapsed_ranges
from keras_fer.files import atomic_path, atomic_write, file_sha256
from keras_fer.models.loading import float32_copy
from keras_fer.validation import is_int
from keras_fer.version import __version__

QUANTIZATIONS = ("none", "float16", "dynamic_int8", "int8")
CHILD = "import sys; from keras_fer.export.exporters import convert; convert(*sys.argv[1:])"
FORMATS = ("savedmodel", "tflite")


def export_saved_model(
    model: keras.Model, path: str | Path, class_names: list[str] | None = None, batch_size: int | None = None, source: str | Path | None = None
) -> Path:
    """Exports the inference graph (no mixing) as a SavedModel with signature `serve`.

    The signature takes a batch of face crops as uint8 pixels
    `(batch, height, width, channels)` at the model's input size and returns
    class probabilities `(batch, num_classes)`. `labels.txt` and
    `preprocessing.json` are written into the SavedModel folder.

    Args:
        model: a keras-fer model taking pixels in `[0, 255]`; one that
            computes in mixed precision is exported as its float32 copy
            (`keras_fer.models.loading.float32_copy`).
        path: the SavedModel folder to create; must not exist.
        class_names: class names in output order; default the 7 or 8
            canonical expressions.
        batch_size: `None` for any batch size, or a fixed one (the TFLite
            export uses 1, so that no shape computations reach the runtime).
        source: the `.keras` file `model` was read from, if any, recorded
            with its SHA-256 in `preprocessing.json` (see `export_tflite`).

    Returns:
        `path` as a `Path`.
    """
    check_classifier(model)
    path = Path(path)
    if path.suffix in (".tflite", ".keras"):
        raise ValueError(f"A SavedModel is a folder, whose name must not end in .tflite or .keras (those are model files). Received: {path}")
    path = _new_path(path)
    model = float32_copy(model)  # a model trained in mixed precision: TFLite has no bfloat16 kernels
    input_shape = tuple(model.input_shape[1:])
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        lambda images: model(tf.cast(images, "float32"), training=False),
        input_signature=[tf.TensorSpec((batch_size, *input_shape), tf.uint8, name="images")],
    )
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.WARNING)  # not "INFO:tensorflow:Assets written to: ..." once per export
    try:
        with atomic_path(path) as temporary:  # a killed export leaves no half-written folder under `path`
            archive.write_out(str(temporary), verbose=False)
            write_metadata(model, temporary, class_names, source=source)
    finally:
        logger.setLevel(level)
    return path


def export_tflite(
    model: keras.Model,
    path: str | Path,
    quantize: str = "none",
    representative_images: np.ndarray | None = None,
    class_names: list[str] | None = None,
    source: str | Path | None = None,
) -> Path:
    """Converts `model` to a TFLite file that runs on TFLite builtin ops only.

    The model is first exported as a SavedModel (`export_saved_model`) and
    converted from it, in a child process (see `_convert_in_child_process`).
    Input: one face, uint8 pixels `(1, height, width, channels)`; output:
    float32 class probabilities `(1, num_classes)`. The batch size is fixed
    at 1, as mobile runtimes use it, so no shape arithmetic (`Flatten` of a
    dynamic batch) reaches the runtime. To write several quantisations, use
    `export_tflite_variants`: it converts them all from one SavedModel.

    Args:
        model: a keras-fer model.
        path: the `.tflite` file to write; must not exist. `labels.txt` and
            `<name>.json` (preprocessing) are written next to it: where
            either exists with other contents, nothing is written (see
            `write_metadata`).
        quantize: `"none"` (float32), `"float16"` (float16 weights),
            `"dynamic_int8"` (int8 weights; XNNPACK quantises each layer's
            activations to int8 as it runs, so no calibration: the closest
            to float and the fastest on phone and desktop CPUs) or `"int8"`
            (full-integer weights and activations, calibrated on
            `representative_images`, for integer-only accelerators such as
            NPUs, DSPs and the Edge TPU; collapsed ranges are repaired so
            that XNNPACK accepts the file, see
            `keras_fer.export.quantization`). Measured on the shipped models
            in DEVELOPERS.md ("int8 agreement").
        representative_images: uint8 array `(n, height, width, channels)`
            of training faces, for `"int8"` (a few hundred suffice).
        class_names: class names in output order.
        source: the `.keras` file `model` was read from, if any: its name
            and SHA-256 go into the metadata, so the export can be traced to
            (and checked against) the file it came from.

    Returns:
        `path` as a `Path`.
    """
    return _export_tflites(model, {quantize: path}, representative_images, class_names, source)[quantize]


def export_tflite_variants(model, folder, quantizations=QUANTIZATIONS, representative_images=None, class_names=None):
    """Writes `folder/model_<quantize>.tflite` for each quantisation, as `export_tflite` would.

    Faster than one `export_tflite` call each: the SavedModel is exported
    once and one child process converts every variant.

    Args:
        model: a keras-fer model.
        folder: where to write; created if missing. The files must not exist.
        quantizations: some of `QUANTIZATIONS`.
        representative_images, class_names: as for `export_tflite`.

    Returns:
        A dict `{quantize: Path}`; e.g. `export_tflite_variants(model,
        "exports", ("none", "float16"))` returns
        `{"none": Path("exports/model_none.tflite"), "float16":
        Path("exports/model_float16.tflite")}`.
    """
    targets = {quantize: Path(folder) / f"model_{quantize}.tflite" for quantize in quantizations}
    return _export_tflites(model, targets, representative_images, class_names)


def _export_tflites(model, targets, representative_images, class_names, source=None):
    targets = {quantize: Path(path) for quantize, path in targets.items()}
    for quantize, path in targets.items():
        if quantize not in QUANTIZATIONS:
            raise ValueError(f"`quantize` must be one of {QUANTIZATIONS}. Received: quantize={quantize!r}")
        if path.exists():
            raise ValueError(f"{path} already exists; choose another path or delete it.")
        if path.suffix != ".tflite":
            raise ValueError(f"A TFLite model file must end in .tflite. Received: {path}")
    if "int8" in targets:
        representative_images = _checked_representative_images(representative_images, model)
    side_files = {quantize: _metadata_files(model, path, class_names, quantize, source) for quantize, path in targets.items()}
    for files in side_files.values():
        _check_metadata_files(files)
    for path in targets.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        saved_model = export_saved_model(model, Path(folder) / "saved_model", class_names, batch_size=1)
        representative_path = Path(folder) / "representative.npy"
        if "int8" in targets:
            np.save(representative_path, representative_images)
        _convert_in_child_process(saved_model, targets, representative_path)
    for quantize, path in targets.items():
        if quantize == "int8":
            repair_collapsed_ranges(path)
        _write_files(side_files[quantize])
    return targets


def convert(saved_model, representative_path, *targets):
    """Converts a SavedModel's `serve` signature to `.tflite` files (run in a child process).

    Args:
        saved_model: the SavedModel folder.
        representative_path: a `.npy` of calibration images, read for int8.
        *targets: alternating output paths and quantisations.
    """
    for path, quantize in zip(targets[::2], targets[1::2]):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model), signature_keys=["serve"])
        representative_images = np.load(representative_path) if quantize == "int8" else None
        _configure(converter, quantize, representative_images)
        with atomic_write(path, "wb") as file:
            file.write(converter.convert())


def _convert_in_child_process(saved_model, targets, representative_path):
    """Runs `convert` in a fresh Python process.

    TensorFlow's converter calibrates int8 models with the TFLite runtime
    bundled in TensorFlow, and `ai_edge_litert` brings a second copy; a
    child process keeps the two apart in the caller's process.
    """
    pairs = [str(item) for quantize, path in targets.items() for item in (path, quantize)]
    command = [sys.executable, "-c", CHILD, str(saved_model), str(representative_path), *pairs]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        names = ", ".join(str(path) for path in targets.values())
        raise RuntimeError(f"TFLite conversion to {names} failed: {lines[-1] if lines else result.returncode}")


def write_metadata(model, path, class_names=None, quantize=None, source=None):
    """Writes `labels.txt` and the preprocessing JSON that an exported model needs.

    For a SavedModel folder they go inside it (`preprocessing.json`); for a
    `.tflite` file next to it (`<stem>.json`; `labels.txt` shared by the
    folder's models, so they must have the same classes). With `source`
    (the `.keras` file the model came from), the JSON records its file name
    and SHA-256 under `"source"`. A file already there with the same
    contents is left alone; one with other contents is a `ValueError`,
    raised before anything is written.
    """
    files = _metadata_files(model, path, class_names, quantize, source)
    _check_metadata_files(files)
    _write_files(files)


def _metadata_files(model, path, class_names=None, quantize=None, source=None):
    """`{path: text}` of the `labels.txt` and preprocessing JSON that `write_metadata` writes for the export at `path`."""
    check_classifier(model)
    path = Path(path)
    class_names = list(class_names or class_names_for(model.output_shape[-1]))
    height, width, channels = model.input_shape[1:]
    metadata = {
        "input_size": [height, width],
        "channels": channels,
        "color": "grayscale" if channels == 1 else "rgb",
        "input_dtype": "uint8",
        "normalization": "none: pass raw pixels in [0, 255]; the model normalises them itself",
        "output": "class probabilities (softmax), float32",
        "class_names": class_names,
        "face_crop": FER2013_CROP.as_dict() | {"units": "fractions of the square crop's side; crop faces so, eyes level, then resize"},
        "quantization": quantize,
        "keras_fer_version": __version__,
    }
    if source is not None:
        metadata["source"] = {"file": Path(source).name, "sha256": file_sha256(source)}
    folder, stem = (path, "preprocessing") if path.is_dir() else (path.parent, path.stem)
    return {folder / "labels.txt": "\n".join(class_names) + "\n", folder / f"{stem}.json": json.dumps(metadata, indent=2) + "\n"}


def check_classifier(model):
    """Raises a one-line `ValueError` unless `model` returns class probabilities: one output `(batch, num_classes)` from a softmax.

    The exports, their metadata (`"output": "class probabilities (softmax)"`,
    `labels.txt`) and `Recognizer` take a model's one output as class
    probabilities: keras-fer's models end in a softmax layer
    (`"probabilities"`); a plain Keras classifier must too (a `Softmax` or
    `Activation("softmax")` layer, or a layer with `activation="softmax"`).
    """
    shape = model.output_shape
    if not (isinstance(shape, tuple) and len(shape) == 2 and is_int(shape[-1], minimum=2)):
        raise ValueError(
            f"Only a classifier exports: the model must have one output of shape (batch, num_classes), num_classes >= 2. "
            f"Received: output shape {shape}"
        )
    layer = _output_layer(model)
    if not _is_softmax(layer):
        raise ValueError(
            "Only a classifier exports: the model's output must be class probabilities, from a softmax (end it in keras.layers.Softmax()). "
            f"Received: output layer {getattr(layer, 'name', None)!r} with activation {_activation_name(layer)!r}"
        )


def _output_layer(model):
    try:
        return model.outputs[0]._keras_history.operation
    except (AttributeError, IndexError, TypeError, ValueError):  # a subclassed model: what it ends in is unknown
        return None


def _is_softmax(layer):
    return isinstance(layer, keras.layers.Softmax) or getattr(layer, "activation", None) is keras.activations.softmax


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None) if activation is not None else None


def _check_metadata_files(files):
    """Raises a one-line `ValueError` when a file of `files` (`{path: text}`) exists with other contents.

    An export never replaces a user's file, nor the `labels.txt` of another
    model of other classes exported into the same folder (which would then
    be read with the wrong class names).
    """
    for path, text in files.items():
        if path.exists() and not _holds(path, text) and not _orphaned_export_json(path):
            raise ValueError(
                f"{path} exists with other contents than this export writes there; export into another folder (models with other "
                "classes need folders of their own: the .tflite files of a folder share its labels.txt) or move that file away."
            )


def _orphaned_export_json(path):
    """Whether `path` is the preprocessing JSON of an earlier export whose `.tflite` is gone, which a new export there replaces."""
    if path.suffix != ".json" or path.with_suffix(".tflite").exists():
        return False
    try:
        return "keras_fer_version" in json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, TypeError):
        return False


def _write_files(files):
    for path, text in files.items():
        if not _holds(path, text):
            with atomic_write(path, encoding="utf-8") as file:
                file.write(text)


def _holds(path, text):
    try:
        return path.read_bytes() == text.encode()
    except OSError:
        return False


def _configure(converter, quantize, representative_images):
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantize == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]  # without calibration data: weights only
    elif quantize == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in representative_images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]


def _checked_representative_images(images, model):
    if images is None:
        raise ValueError("int8 quantisation needs `representative_images`: uint8 faces at the model's input size.")
    images = np.asarray(images)
    expected = tuple(model.input_shape[1:])
    if images.ndim != 4 or images.shape[1:] != expected or len(images) == 0:
        raise ValueError(f"`representative_images` must be (n, {', '.join(map(str, expected))}) pixels. Received shape {images.shape}")
    return images.astype("uint8")


def _new_path(path):
    path = Path(path)
    if path.exists():
        raise ValueError(f"{path} already exists; choose another path or delete it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
