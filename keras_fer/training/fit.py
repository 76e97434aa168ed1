import json
from pathlib import Path

import keras
import numpy as np

from keras_fer.losses import ClassBalancedLoss
from keras_fer.training.evaluation import per_class_recall


def prepare_run_directory(path, overwrite=False):
    """Creates `path` for a new run, refusing to replace an earlier run.

    Fails before any training when `path` holds files (unless `overwrite`)
    or cannot be written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"Run directory {path} is a file, not a directory.")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ValueError(f"Run directory {path} already holds a run. Choose another or pass --overwrite.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"Run directory {path} is not writable: {error.strerror}.") from error
    return path


def fit(model, train, validation, run_dir, epochs, batch_size=64, learning_rate=3e-3, verbose="auto"):
    """Trains `model` with `model.fit` and writes the run into `run_dir`.

    Compiles with Adam and a `ClassBalancedLoss` weighted by the training
    labels' class counts, keeps the best model by validation accuracy in
    `model.keras`, logs every epoch to `history.csv` and writes `summary.json`
    (per-class recall and balanced accuracy of the best model).

    Args:
        model: a Keras model of `num_classes` outputs, e.g. from
            `keras_fer.models.from_preset`.
        train: `(images, labels)` NumPy arrays, integer labels.
        validation: `(images, labels)` NumPy arrays.
        run_dir: a directory from `prepare_run_directory`.
        epochs, batch_size, learning_rate: training settings.
        verbose: `model.fit` verbosity.

    Returns:
        The summary dict written to `summary.json`.
    """
    run_dir = Path(run_dir)
    num_classes = model.output_shape[-1]
    counts = np.bincount(train[1], minlength=num_classes)
    model.compile(
        keras.optimizers.Adam(learning_rate),
        ClassBalancedLoss(counts, beta=0.999),
        metrics=["accuracy"],
        jit_compile=True,
    )
    callbacks = [
        keras.callbacks.ModelCheckpoint(run_dir / "model.keras", monitor="val_accuracy", save_best_only=True),
        keras.callbacks.CSVLogger(run_dir / "history.csv"),
    ]
    model.fit(*train, validation_data=validation, epochs=epochs, batch_size=batch_size, callbacks=callbacks, verbose=verbose)
    best = keras.models.load_model(run_dir / "model.keras")
    recall = per_class_recall(validation[1], best.predict(validation[0], verbose=0), num_classes)
    summary = {
        "training_class_counts": counts.tolist(),
        "validation_per_class_recall": [round(float(r), 4) for r in recall],
        "validation_balanced_accuracy": round(float(np.nanmean(recall)), 4),
    }
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
