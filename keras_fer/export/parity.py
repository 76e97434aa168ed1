"""Every export format side by side: outputs against `model.predict`, and file sizes."""

from pathlib import Path

import numpy as np
import tensorflow as tf

from keras_fer.export.exporters import export_saved_model, export_tflite_variants
from keras_fer.export.litert import LiteRTModel

TFLITE_QUANTIZATIONS = ("none", "float16", "dynamic_int8", "int8")
CLEAR_MARGIN = 0.05


def compare_formats(model, images, folder, representative_images, labels=None):
    """Exports `model` to SavedModel and the four TFLites in `folder` and runs each on `images`.

    Args:
        model: a Keras model.
        images: uint8 faces `(n, height, width, channels)` at its input size.
        folder: a new or empty folder for the exports.
        representative_images: uint8 faces that calibrate the int8 model.
        labels: optional class indices of `images`.

    Returns:
        One dict per format: `format`, `path`, `megabytes` (file size),
        `max_abs_difference` (largest probability difference from
        `model.predict`), `top1_agreement` (fraction of equal argmax) and
        `clear_agreement` (the same over the faces whose top two float
        probabilities lie more than `CLEAR_MARGIN` apart: a flip there is
        the export's error, not a coin toss); with `labels`, also
        `accuracy`, and a first row for the Keras model itself (`format`
        `"keras"`, `path` and `megabytes` `None`).
    """
    folder = Path(folder)
    expected = model.predict(np.asarray(images, "float32"), verbose=0)
    top_two = np.sort(expected, axis=-1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > CLEAR_MARGIN
    saved_model = export_saved_model(model, folder / "saved_model")
    loaded = tf.saved_model.load(str(saved_model))  # keep a reference: its variables die with it
    outputs = {"savedmodel": (saved_model, loaded.serve(tf.constant(images)).numpy())}
    for quantize, path in export_tflite_variants(model, folder, TFLITE_QUANTIZATIONS, representative_images).items():
        outputs[f"tflite {quantize}"] = (path, LiteRTModel(path).predict(images))
    rows = []
    if labels is not None:
        outputs = {"keras": (None, expected), **outputs}
    for name, (path, probabilities) in outputs.items():
        row = {
            "format": name,
            "path": path,
            "megabytes": _size(path) / 1e6 if path is not None else None,
            "max_abs_difference": float(np.abs(probabilities - expected).max()),
            "top1_agreement": float(np.mean(agrees := probabilities.argmax(-1) == expected.argmax(-1))),
            "clear_agreement": float(np.mean(agrees[clear])) if clear.any() else float("nan"),
        }
        if labels is not None:
            row["accuracy"] = float(np.mean(probabilities.argmax(-1) == np.asarray(labels)))
        rows.append(row)
    return rows


def format_comparison(rows):
    """The rows of `compare_formats` as a Markdown table."""
    scored = all("accuracy" in row for row in rows)
    header = f"| format | max abs difference | top-1 agreement | margin > {CLEAR_MARGIN} | size (MB) |"
    rule = "|---|---:|---:|---:|---:|"
    lines = [header + " accuracy |", rule + "---:|"] if scored else [header, rule]
    for row in rows:
        size = f"{row['megabytes']:.2f}" if row["megabytes"] is not None else ""
        line = f"| {row['format']} | {row['max_abs_difference']:.2e} | {row['top1_agreement']:.2%} | {row['clear_agreement']:.2%} | {size} |"
        lines.append(line + (f" {row['accuracy']:.2%} |" if scored else ""))
    return "\n".join(lines)


def _size(path):
    path = Path(path)
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
