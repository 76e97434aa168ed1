"""Runs a study's cells as ordinary training runs and gathers their figures in `results.csv`."""

import contextlib
import csv
from pathlib import Path

import keras
import numpy as np

from keras_fer.data import load_split
from keras_fer.files import atomic_write, locked
from keras_fer.models.tta import predict_probabilities
from keras_fer.training.run import train
from keras_fer.training.run_directory import MODEL_FILE, REPORT_FILE
from keras_fer.training.scoring import classification_report

RESULTS_FILE = "results.csv"
PREDICTIONS_FILE = "predictions.csv"
LABELS_FILE = "labels.csv"
KEY_COLUMNS = ("study", "variant", "seed", "train_labels", "eval_labels", "noise")
RESULT_COLUMNS = (*KEY_COLUMNS, "epochs", "num_examples", "accuracy", "balanced_accuracy", "macro_f1")


def run_study(study, output_dir, results_dir=None, verbose="auto", log=print):
    """Trains and evaluates every cell of `study` that `results.csv` does not hold yet.

    Each cell is a `keras_fer.training.train` run in `output_dir/<cell>`:
    killed, the same call resumes it from its last completed epoch; a cell
    whose run finished but whose figures are missing is evaluated again
    without training. After each cell its rows (one per evaluation label
    set) are added to `results_dir/results.csv`, its predicted classes to
    `predictions.csv`, and each label set's true classes are written once
    to `labels.csv`, so that paired tests need neither the data nor the
    models. Several processes may run the same study at once (`keras-fer
    study --jobs N`): each cell is claimed with a lock that its process
    holds until it ends, and result files are updated under a lock.

    Args:
        study: a `keras_fer.studies.Study`.
        output_dir: where the cells' run directories go.
        results_dir: where the result files go (default `output_dir`).
        verbose: `model.fit` verbosity.
        log: called with one line per cell.

    Returns:
        The path of `results.csv`.
    """
    output_dir = Path(output_dir)
    results_dir = Path(results_dir or output_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    evaluation_sets = {}
    cells = study.cells()
    for number, cell in enumerate(cells, start=1):
        with _claimed(output_dir, cell) as claimed:
            if not claimed or _finished(study, cell, results_dir):
                continue
            log(f"study {study.name}: cell {number}/{len(cells)} {cell.name}")
            _run_cell(study, cell, output_dir / cell.name, results_dir, evaluation_sets, verbose)
    return results_dir / RESULTS_FILE


def _run_cell(study, cell, run_dir, results_dir, evaluation_sets, verbose):
    config = study.config(cell, run_dir)
    if not (run_dir / REPORT_FILE).is_file():
        train(config, verbose=verbose)
    model = keras.models.load_model(run_dir / MODEL_FILE)
    for label_set, data in study.evaluate.items():
        dataset = _evaluation_set(evaluation_sets, label_set, {"path": config.data.path, **data}, model)
        probabilities = predict_probabilities(model, dataset, config.training.batch_size)
        row = _result_row(study, cell, label_set, config.training.epochs, dataset, probabilities)
        with locked(results_dir / ".results.lock"):
            _append_predictions(results_dir, row, probabilities.argmax(-1))
            _write_labels(results_dir, label_set, dataset)
            _append_row(results_dir / RESULTS_FILE, row)
    keras.backend.clear_session()


def _finished(study, cell, results_dir):
    done = {_key(row) for row in read_results(results_dir / RESULTS_FILE)}
    return all(_key(_key_row(study, cell, label_set)) in done for label_set in study.evaluate)


@contextlib.contextmanager
def _claimed(output_dir, cell):
    """Yields whether this process holds the cell's lock (released when the block or the process ends)."""
    with locked(output_dir / ".locks" / f"{cell.name.replace('/', '_')}.lock", wait=False) as file:
        yield file is not None


def read_results(path):
    """The rows of a `results.csv` as dicts of strings; `[]` when it does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def read_predictions(results_dir):
    """`({key: predicted classes}, {label set: true classes}, {label set: class names})` from a results folder.

    Keys are `(variant, seed, noise, eval_labels)` strings as in `results.csv`.
    """
    results_dir = Path(results_dir)
    predictions = {
        (row["variant"], row["seed"], row["noise"], row["eval_labels"]): _digits(row["predicted"])
        for row in read_results(results_dir / PREDICTIONS_FILE)
    }
    label_rows = read_results(results_dir / LABELS_FILE)
    labels = {row["eval_labels"]: _digits(row["labels"]) for row in label_rows}
    class_names = {row["eval_labels"]: row["class_names"].split() for row in label_rows}
    return predictions, labels, class_names


def _evaluation_set(cache, label_set, data, model):
    height, width, channels = model.input_shape[1:]
    key = (label_set, height, width, channels)
    if key not in cache:
        cache[key] = load_split(
            data["dataset"],
            data.get("path"),
            data["split"],
            data.get("on_error", "raise"),
            data.get("options"),
            (height, width),
            channels,
        )
    return cache[key]


def _key_row(study, cell, label_set):
    return {
        "study": study.name,
        "variant": cell.variant,
        "seed": str(cell.seed),
        "train_labels": study.train_labels,
        "eval_labels": label_set,
        "noise": f"{cell.noise:g}",
    }


def _key(row):
    return tuple(row[column] for column in KEY_COLUMNS)


def _result_row(study, cell, label_set, epochs, dataset, probabilities):
    report = classification_report(dataset.labels, probabilities, dataset.class_names)
    row = {**_key_row(study, cell, label_set), "epochs": str(epochs), "num_examples": str(report["num_examples"])}
    row.update({metric: f"{report[metric]:.4f}" for metric in ("accuracy", "balanced_accuracy", "macro_f1")})
    row.update({f"recall_{name}": f"{scores['recall']:.4f}" for name, scores in report["per_class"].items()})
    return row


def _append_row(path, row):
    rows = read_results(path) + [row]
    columns = list(RESULT_COLUMNS) + [column for column in row if column not in RESULT_COLUMNS]
    for existing in rows:
        columns += [column for column in existing if column not in columns]
    _write_csv(path, columns, rows)


def _append_predictions(results_dir, row, predicted):
    path = results_dir / PREDICTIONS_FILE
    entry = {**{column: row[column] for column in ("variant", "seed", "noise", "eval_labels")}, "predicted": _text(predicted)}
    rows = [r for r in read_results(path) if _prediction_key(r) != _prediction_key(entry)] + [entry]
    _write_csv(path, list(entry), rows)


def _write_labels(results_dir, label_set, dataset):
    path = results_dir / LABELS_FILE
    labels = dataset.labels if dataset.labels.ndim == 1 else dataset.labels.argmax(-1)
    entry = {"eval_labels": label_set, "class_names": " ".join(dataset.class_names), "labels": _text(labels)}
    rows = [row for row in read_results(path) if row["eval_labels"] != label_set] + [entry]
    _write_csv(path, list(entry), rows)


def _prediction_key(row):
    return tuple(row[column] for column in ("variant", "seed", "noise", "eval_labels"))


def _write_csv(path, columns, rows):
    """Writes the whole file next to `path` and renames it into place: a kill leaves the old file or the new."""
    with atomic_write(path, newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)


def _text(classes):
    if len(classes) and max(classes) > 9:
        raise ValueError("Predictions are stored one digit per face: at most 10 classes.")
    return "".join(str(int(c)) for c in classes)


def _digits(text):
    return np.frombuffer(text.encode(), "uint8") - ord("0")
