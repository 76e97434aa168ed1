"""Evaluation reports: `report.json`, `confusion_matrix.png`, `training_curves.png`."""

import csv
import json
import time
from pathlib import Path

import keras
import numpy as np

from keras_fer.files import atomic_path, atomic_write
from keras_fer.models.tta import predict_probabilities
from keras_fer.training.run_directory import CONFUSION_MATRIX_FILE, REPORT_FILE, TRAINING_CURVES_FILE
from keras_fer.training.scoring import classification_report
from keras_fer.version import __version__

CURVES = (("loss", "loss"), ("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro-F1"))


def write_report(model, dataset, output_dir, data=None, model_path=None, history_path=None, batch_size=64, flip=False, shift=0):
    """Evaluates `model` on `dataset` and writes the report and its plots.

    Writes `report.json` (see `classification_report`, plus the data, the
    model and the test-time augmentation used),
    `confusion_matrix.png` (rows normalised) and, given a `CSVLogger`
    history, `training_curves.png`.

    Args:
        model: a Keras model.
        dataset: a `keras_fer.data.FERDataset`.
        output_dir: an existing directory.
        data: a description of the data for the report (e.g. the config's
            `data` section).
        model_path: where the model was read from, for the report.
        history_path: optional `history.csv` of the training run.
        batch_size: prediction batch size.
        flip: average predictions with those of horizontally flipped images.
        shift: also average over the images moved by 1 to `shift` pixels
            in each direction (see `predict_probabilities`).

    Returns:
        The report dict.
    """
    output_dir = Path(output_dir)
    dataset.check_model(model)
    start = time.perf_counter()
    probabilities = predict_probabilities(model, dataset, batch_size, flip, shift)
    report = classification_report(dataset.labels, probabilities, dataset.class_names)
    report.update(
        data=data,
        model={"name": model.name, "path": str(model_path) if model_path else None, "parameters": model.count_params()},
        test_time_flip=flip,
        test_time_shift=shift,
        seconds=round(time.perf_counter() - start, 1),
        keras_fer_version=__version__,
        keras_backend=keras.backend.backend(),
    )
    plot_confusion_matrix(np.array(report["confusion_matrix"]), dataset.class_names, output_dir / CONFUSION_MATRIX_FILE)
    if history_path is not None and Path(history_path).is_file():
        plot_training_curves(history_path, output_dir / TRAINING_CURVES_FILE)
    # Last and whole: a run directory with a report is a finished run.
    with atomic_write(output_dir / REPORT_FILE) as file:
        file.write(json.dumps(report, indent=2) + "\n")
    return report


def plot_confusion_matrix(counts, class_names, path):
    """Saves the confusion matrix, each row normalised to the class's recall, as a PNG."""
    figure, axes = new_figure(figsize=(1.1 * len(class_names) + 2, 1.0 * len(class_names) + 1.5))
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    image = axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for (row, column), rate in np.ndenumerate(rates):
        color = "white" if rate > 0.6 else "black"
        axes.text(column, row, f"{rate:.2f}\n({counts[row, column]})", ha="center", va="center", fontsize=8, color=color)
    ticks = range(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=45, ha="right")
    axes.set_yticks(ticks, class_names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title("Confusion matrix (rows normalised)")
    figure.colorbar(image, ax=axes, fraction=0.046)
    save_figure(figure, path)


def plot_training_curves(history_path, path):
    """Saves loss and metrics per epoch, training and validation, from a `CSVLogger` file.

    `history_path` may also be a list of the logs of runs that each started
    from the previous one's weights (`model.weights`): they are drawn as one
    run, epochs numbered on, with a dotted line where each later run starts.
    """
    rows, starts = read_histories([history_path] if isinstance(history_path, (str, Path)) else history_path)
    curves = [(key, title) for key, title in CURVES if any(key in row for row in rows)]
    figure, axes = new_figure(ncols=len(curves), figsize=(4 * len(curves), 3.4))
    epochs = [row["epoch"] for row in rows]
    for ax, (key, title) in zip(np.atleast_1d(axes), curves):
        for prefix, label in (("", "training"), ("val_", "validation")):
            if any(prefix + key in row for row in rows):
                values = [float(row.get(prefix + key) or "nan") for row in rows]
                ax.plot(epochs, values, marker="o", markersize=3, label=label)
        for start in starts[1:]:
            ax.axvline(start - 0.5, color="gray", linestyle=":", linewidth=1)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(figure, path)


def read_histories(history_paths):
    """Joins `CSVLogger` files of consecutive runs.

    Returns:
        `(rows, starts)`: the rows as dicts of strings, except `"epoch"`,
        numbered on from 1 across the files; and the joined epoch at which
        each file starts.
    """
    rows, starts = [], []
    for history_path in history_paths:
        with open(history_path, newline="") as file:
            run = list(csv.DictReader(file))
        offset = rows[-1]["epoch"] if rows else 0
        starts.append(offset + 1)
        rows += [{**row, "epoch": offset + int(row["epoch"]) + 1} for row in run]
    return rows, starts


def new_figure(ncols=1, figsize=None):
    """A matplotlib `Figure` and its axes, made without pyplot (no global state, any thread)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize)
    return figure, figure.subplots(ncols=ncols)


def save_figure(figure, path):
    """Saves `figure` as a PNG at 110 dpi, laid out tight, replacing `path` whole."""
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110)
