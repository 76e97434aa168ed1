"""Knowledge distillation: training targets mixed from the labels and teacher models' predictions."""

import keras
import numpy as np

from keras_fer.models.loading import load_model_file
from keras_fer.models.tta import predict_probabilities
from keras_fer.training.config import check_model_file


def distillation_targets(dataset, teachers, label_weight=0.5, flip=True, batch_size=256):
    """Soft targets: part label, part the teachers' mean prediction.

    Each image's target is `label_weight * label + (1 - label_weight) * p`,
    where `label` is its one-hot (or soft) label and `p` the mean class
    probabilities of `teachers` on the image and, with `flip`, on its
    mirror image. Trained on these (`keras_fer.training.train` does so when
    the config's `distillation.teachers` is set), a student learns which
    classes the teachers find alike; the shipped FER2013 model's last two
    stages were distilled from earlier stages this way.

    Args:
        dataset: a `keras_fer.data.FERDataset`, usually the training split.
        teachers: `.keras` files or Keras models, each taking the
            dataset's images and predicting its classes.
        label_weight: the share of the label in each target, in [0, 1].
        flip: average each teacher's prediction over the image and its
            horizontal mirror.
        batch_size: batch size of the teachers' predictions.

    Returns:
        `(targets, accuracy)`: float32 targets `(n, num_classes)`, and how
        often the teachers' mean prediction names the image's label (or the
        argmax of a soft label). With a one-hot label in every target the
        label wins the targets' own argmax, so that is no measure.

    Example:

    ```python
    targets, accuracy = distillation_targets(train_split, ["runs/big/model.keras"])
    train(config, targets=lambda split: targets)
    ```
    """
    if not teachers:
        raise ValueError("`teachers` must name at least one model.")
    if not 0 <= label_weight <= 1:
        raise ValueError(f"`label_weight` must lie in [0, 1]. Received: label_weight={label_weight}")
    num_classes = len(dataset.class_names)
    labels = dataset.labels if dataset.labels.ndim == 2 else np.eye(num_classes)[dataset.labels]
    predictions = sum(_probabilities(name, model, dataset, batch_size, flip) for name, model in _load_teachers(teachers, dataset))
    predictions = predictions / len(teachers)
    accuracy = float(np.mean(predictions.argmax(axis=1) == labels.argmax(axis=1)))
    targets = label_weight * labels + (1 - label_weight) * predictions
    return targets.astype("float32"), accuracy


def check_teachers(teachers):
    """Fails early unless every teacher path names an existing `.keras` file."""
    for path in teachers:
        check_model_file("distillation.teachers", path)


def _load_teachers(teachers, dataset):
    """`(name, model)` of each teacher, checked against `dataset`."""
    for teacher in teachers:
        if isinstance(teacher, keras.Model):
            dataset.check_model(teacher)
            yield f"model {teacher.name!r}", teacher
            continue
        check_teachers([teacher])
        model = load_model_file(teacher)
        try:
            dataset.check_model(model)
        except ValueError as error:
            raise ValueError(f"Teacher {teacher}: {error}") from None
        yield str(teacher), model


def _probabilities(name, model, dataset, batch_size, flip):
    """A teacher's predictions, or a `ValueError` naming it when they are not class probabilities (logits, say)."""
    predictions = predict_probabilities(model, dataset, batch_size, flip)
    bad = not_probabilities(predictions)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Teacher {name}: its outputs must be class probabilities (a softmax: non-negative, summing to 1); {bad.sum()} rows are not. "
            f"Received: row {row} = {predictions[row].round(4).tolist()}"
        )
    return predictions


def not_probabilities(rows):
    """Which rows of `rows` `(n, classes)` are not probability distributions: not finite, negative, or not summing to 1 (within 1e-3)."""
    return ~np.isfinite(rows).all(axis=1) | (rows < 0).any(axis=1) | ~np.isclose(rows.sum(axis=1), 1, atol=1e-3)
