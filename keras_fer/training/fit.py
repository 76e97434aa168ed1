"""`model.fit` with the callbacks of a resumable, logged training run."""

import csv
import dataclasses
import functools
import json
from pathlib import Path

import keras
import numpy as np

from keras_fer.backend import default_jit_compile
from keras_fer.data.augment import augmentation as default_augmentation
from keras_fer.files import atomic_path, atomic_write
from keras_fer.losses import ClassBalancedLoss
from keras_fer.models.loading import float32_clone
from keras_fer.training.batch_norm import RecalibrateBatchNorm
from keras_fer.training.callbacks import ModelFileCheckpoint, StopOnNonFiniteLoss, SwapBack, TimeLimit, WorkerBackupAndRestore
from keras_fer.training.metrics import BalancedAccuracy, MacroF1
from keras_fer.training.optimizers import make_optimizer, shorten_schedule
from keras_fer.training.run_directory import BACKUP_DIR, HISTORY_FILE, MODEL_FILE, TENSORBOARD_DIR, TIME_PLAN_FILE, completed_epochs

LAST_EPOCH = "last"


def fit(
    model,
    train,
    validation,
    run_dir,
    loss=None,
    optimizer=None,
    epochs=12,
    batch_size=64,
    steps_per_epoch=None,
    monitor="val_balanced_accuracy",
    augmentation=True,
    early_stopping_patience=None,
    time_limit=None,
    recalibrate_batch_norm=0,
    tensorboard=False,
    jit_compile=None,
    seed=0,
    verbose="auto",
    backup_dir=None,
    write_backup=True,
):
    """Compiles and trains `model` with `model.fit`, resumable, into `run_dir`.

    Compiles with `ClassBalancedLoss` weighted by the training split's class
    counts and the optimizer of `make_optimizer`; reports accuracy, balanced
    accuracy and macro-F1. With `optimizer={"ema_momentum": ...}`, the
    moving average of the weights is what is validated and saved. Callbacks: `ModelCheckpoint` keeps the best model
    by `monitor` in `model.keras` (saved without optimizer state),
    `BackupAndRestore` in `backup/` lets the same call continue a killed run
    from its last completed epoch, `CSVLogger` appends to `history.csv`, and
    optionally `EarlyStopping` and `TensorBoard` (`tensorboard/`). Epochs
    are whole batches: the last partial batch of each reshuffled pass is
    left out, so XLA compiles the train step once, not for a second shape.

    Args:
        model: a Keras model, e.g. from `keras_fer.models.from_preset`.
        train, validation: `keras_fer.data.FERDataset`s.
        run_dir: a directory from `prepare_run_directory`.
        loss: keyword arguments of `ClassBalancedLoss` besides the counts.
        optimizer: keyword arguments of `make_optimizer` besides the length.
        epochs, batch_size: length of the training and examples per step.
        steps_per_epoch: batches per epoch, when fewer than one pass over
            the training split (a large prepared dataset validated more
            often, or a benchmark of a few steps); `None` for whole passes.
        monitor: the validation metric that picks the best model, or
            `"last"` to keep the last epoch's model (no choice made on the
            validation split, as in an ablation that reports it).
        augmentation: whether to augment training batches with
            `keras_fer.data.augment.augmentation`, or a dict of its keyword
            arguments (e.g. `{"erasing_scale": None}`).
        early_stopping_patience: epochs without improvement of `monitor`
            before stopping, or `None` to train all `epochs`.
        time_limit: seconds this call of `fit` may train, or `None`. After
            the first epoch, the run is shortened to the epochs that fit at
            that epoch's pace (compilation left out), a cosine schedule with
            it (so the learning rate still decays to 0 at its end), and the
            shortened length is kept in `time_limit.json`, which a resumed
            run keeps to (with any limit, or none); training also stops
            before an epoch that would end past the limit
            (`keras_fer.training.callbacks.TimeLimit`). The first epoch
            always runs whole, under the planned schedule: a run cut to its
            warm-up epochs never decays. What happens before `fit` (loading
            data, a teacher's predictions) and the report after it do not
            count.
        recalibrate_batch_norm: before each validation, re-estimate the
            batch-normalization statistics on this many training batches
            (the same shuffled, unaugmented ones each time) with
            `recalibrate_batch_norm`; 0 for the statistics training left.
            The saved model keeps the re-estimated ones.
        tensorboard: whether to write TensorBoard logs.
        jit_compile: compile the train step with XLA; `None` for
            `keras_fer.backend.default_jit_compile()`: on TensorFlow only
            with a GPU (on CPUs it trains slower: `fer2013` preset, 202
            img/s with XLA against 237 without, `benchmarks/train_vs_pytorch.py`;
            `tiny` 666 against 812), on JAX always.
        seed: seed of the shuffle and the augmentation.
        verbose: `model.fit` verbosity.
        backup_dir: where `BackupAndRestore` keeps the state a killed run
            resumes from; default `run_dir/backup`.
        write_backup: `False` for a worker of a multi-worker run other
            than the chief: it restores from the chief's `backup_dir` and
            writes its own backups into `run_dir/backup` (see
            `WorkerBackupAndRestore`).

    Returns:
        The `keras.callbacks.History` of this call.
    """
    run_dir = Path(run_dir)
    if monitor == LAST_EPOCH and early_stopping_patience:
        raise ValueError("`early_stopping_patience` needs a validation metric to watch; `monitor: last` has none.")
    train.check_model(model)
    validation.check_model(model)
    if tuple(train.class_names) != tuple(validation.class_names):
        raise ValueError(
            f"The training and validation splits name their classes differently, so the validation metrics would compare other classes: "
            f"training {list(train.class_names)}, validation {list(validation.class_names)}"
        )
    validation = _labels_like(train, validation)
    devices = data_parallel_devices()
    shard = process_shard() if devices > 1 else None
    if devices > 1 and (batch_size % devices or train.num_examples < batch_size):
        raise ValueError(
            f"training.batch_size must be a multiple of the {devices} devices that training.distribute trains on, and at most the "
            f"{train.num_examples} training images. Received: batch_size={batch_size}"
        )
    # Whole batches only (one XLA compilation of the train step, see
    # `FERDataset.batches`), unless the split is smaller than one batch.
    drop_remainder = train.num_examples >= batch_size
    passes = train.num_examples // batch_size if drop_remainder else 1
    steps_per_epoch = min(steps_per_epoch, passes) if steps_per_epoch else passes
    num_classes = model.output_shape[-1]
    metrics = ["accuracy", BalancedAccuracy(num_classes), MacroF1(num_classes)]
    # Padded validation batches (see `data_parallel_devices`) carry weights 0 for the padding: the
    # loss and the metrics weigh by them. Training batches carry none, so training is unchanged.
    padding = {"reduction": "mean_with_sample_weight"} if devices > 1 else {}
    planned_epochs = _time_plan(run_dir)
    epochs = min(epochs, planned_epochs or epochs)  # a resumed run keeps the length a time limit set, with or without the limit
    model.compile(
        make_optimizer(**(optimizer or {}), epochs=epochs, steps_per_epoch=steps_per_epoch),
        ClassBalancedLoss(train.class_counts, **(loss or {}), **padding),
        metrics=None if padding else metrics,
        weighted_metrics=metrics if padding else None,
        jit_compile=default_jit_compile() if jit_compile is None else jit_compile,
    )
    _build_training_state(model, train)
    _work_around_multi_worker(model)
    ema = getattr(model.optimizer, "inner_optimizer", model.optimizer).use_ema
    callbacks = _callbacks(run_dir, monitor, early_stopping_patience, tensorboard, ema, backup_dir, write_backup)
    if time_limit is not None:
        # Last: the epoch's time it measures then includes the checkpoint and the backup written before it.
        callbacks.append(_time_limit(model, run_dir, time_limit, epochs, planned_epochs, steps_per_epoch, verbose))
    if recalibrate_batch_norm:
        # After `SwapEMAWeights`, so that the statistics are the averaged weights'.
        batches = functools.partial(train.batches, batch_size, shuffle=True, seed=seed)
        callbacks.insert(int(ema), RecalibrateBatchNorm(batches, recalibrate_batch_norm))
    if isinstance(augmentation, dict):
        augment = default_augmentation(**augmentation, seed=seed)
    else:
        augment = default_augmentation(seed=seed) if augmentation else None
    history = model.fit(
        train.batches(batch_size, shuffle=True, augmentation=augment, seed=seed, drop_remainder=drop_remainder, shard=shard),
        validation_data=validation.batches(batch_size, pad_to_multiple=devices if devices > 1 else None, shard=shard),
        epochs=epochs,
        steps_per_epoch=steps_per_epoch if steps_per_epoch < passes else None,
        callbacks=callbacks,
        shuffle=False,
        verbose=verbose,
    )
    save_for_inference(keras.models.load_model(run_dir / MODEL_FILE), run_dir / MODEL_FILE)
    return history


def _time_plan(run_dir):
    """The epochs an earlier call's time limit shortened this run to (`time_limit.json`), or `None`."""
    path = Path(run_dir) / TIME_PLAN_FILE
    return json.loads(path.read_text())["epochs"] if path.is_file() else None


def _time_limit(model, run_dir, seconds, epochs, planned_epochs, steps_per_epoch, verbose):
    """The `TimeLimit` callback of `fit`; when it shortens the run, the cosine schedule ends there and the plan is saved for a resume."""

    def shorten(fitting):
        with atomic_write(Path(run_dir) / TIME_PLAN_FILE) as file:
            json.dump({"epochs": fitting, "planned_epochs": epochs, "time_limit": seconds}, file)
        if not shorten_schedule(model.optimizer, fitting, steps_per_epoch):
            return False
        model.make_train_function(force=True)  # the traced step holds the schedule's length as a constant
        return True

    return TimeLimit(seconds, epochs, None if planned_epochs else shorten, verbose=bool(verbose))


def data_parallel_devices():
    """The number of devices a JAX `keras.distribution.DataParallel` in effect splits each batch over; 1 without one."""
    if keras.backend.backend() != "jax":
        return 1
    distribution = keras.distribution.distribution()
    if isinstance(distribution, keras.distribution.DataParallel):
        return int(np.prod(distribution.device_mesh.shape))
    return 1


def process_shard():
    """`(process index, process count)` when JAX processes train together, each feeding its part of every batch; else `None`.

    Called under a `DataParallel` (`data_parallel_devices() > 1`).
    """
    import jax

    return (jax.process_index(), jax.process_count()) if jax.process_count() > 1 else None


def _build_training_state(model, train):
    """Creates the optimizer's and the compiled loss's and metrics' variables before `fit` traces its step.

    TensorFlow traces a function that creates variables twice; built here,
    eagerly on two training images, the train step is traced once (the
    start-up of a tiny ResNet's run: 4.5 s instead of 8.9 s).
    """
    model.optimizer.build(model.trainable_variables)
    images, labels = train.images[:2].astype("float32"), train.labels[:2]
    predictions = model(images, training=False)
    model.compute_loss(images, labels, predictions, training=False)
    model.compute_metrics(images, labels, predictions, sample_weight=None)
    model.reset_metrics()


def _work_around_multi_worker(model):
    """Lets Keras 3's `fit` train under a `MultiWorkerMirroredStrategy` (keras-team/keras#20585).

    Keras 3.15 reduces what each step returns with `strategy.reduce("MEAN",
    value, axis=0)` across workers, which fails on the scalar logs, and, before
    the first step, the first batch with `axis=None`, which fails on its
    per-replica values. Each log gets a leading axis of 1 here (the reduction
    then averages over workers, as meant; the metrics are synchronised, so
    every worker holds the same values), and the symbolic build is skipped:
    `_build_training_state` has built every variable already.
    """
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    if not isinstance(model.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    def with_leading_axis(step):
        def run(data):
            return {name: keras.ops.expand_dims(value, 0) for name, value in step(data).items()}

        return run

    model.train_step = with_leading_axis(model.train_step)
    model.test_step = with_leading_axis(model.test_step)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def _labels_like(train, validation):
    """`validation` with labels of the training labels' kind.

    Keras picks the accuracy of `"accuracy"` from the training targets: on
    class indices against probabilities it would measure nonsense.
    """
    if train.labels.ndim == validation.labels.ndim:
        return validation
    if train.labels.ndim == 2:
        one_hot = np.eye(len(validation.class_names), dtype="float32")[validation.labels]
        return dataclasses.replace(validation, labels=one_hot)
    raise ValueError(
        "The training labels are class indices but the validation labels are probabilities: "
        "give both splits the same kind of label (e.g. the same FER+ `label_mode`)."
    )


def save_for_inference(model, path):
    """Saves `model` as a `.keras` file without optimizer state (a third of the size), replacing `path` whole.

    Mixed precision is a training setting: the file computes in float32
    (`keras_fer.models.loading.float32_clone`), as the exports do, so its
    answers do not depend on a CPU's bfloat16 units.
    """
    with atomic_path(path) as temporary:
        float32_clone(model).save(temporary)


def _callbacks(run_dir, monitor, early_stopping_patience, tensorboard, ema=False, backup_dir=None, write_backup=True):
    mode = "min" if monitor == "val_loss" else "max"
    best = _resume_history(run_dir, completed_epochs(run_dir), monitor, mode)
    checkpoint = ModelFileCheckpoint(run_dir / MODEL_FILE, None if monitor == LAST_EPOCH else monitor, mode, best)
    # With weight averaging, validation and `ModelCheckpoint` see the averaged
    # weights (swapped in at the end of each epoch), `BackupAndRestore` the
    # raw ones with the average in the optimizer (swapped back before it).
    swap = keras.callbacks.SwapEMAWeights(swap_on_epoch=True) if ema else None
    callbacks = [swap] if swap else []
    callbacks += [StopOnNonFiniteLoss(), checkpoint, keras.callbacks.CSVLogger(run_dir / HISTORY_FILE, append=True)]
    if early_stopping_patience:
        callbacks.append(keras.callbacks.EarlyStopping(monitor, patience=early_stopping_patience, mode=mode))
    if tensorboard:
        _check_tensorboard()
        callbacks.append(keras.callbacks.TensorBoard(run_dir / TENSORBOARD_DIR))
    if swap:
        callbacks.append(SwapBack(swap))
    # Kept after `fit`: `keras_fer.training.train` removes it once the final files are complete.
    backup_dir = backup_dir or run_dir / BACKUP_DIR
    if write_backup:
        callbacks.append(keras.callbacks.BackupAndRestore(backup_dir, double_checkpoint=True, delete_checkpoint=False))
    else:
        callbacks.append(WorkerBackupAndRestore(run_dir / BACKUP_DIR, backup_dir, double_checkpoint=True, delete_checkpoint=False))
    return callbacks


def _check_tensorboard():
    try:
        import tensorboard  # noqa: F401
    except ImportError as error:
        raise ValueError("`training.tensorboard: true` needs the tensorboard package: pip install 'keras-fer[tensorboard]'.") from error


def _resume_history(run_dir, epochs_done, monitor, mode):
    """Keeps the rows of the epochs the backup holds; returns their best `monitor`."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return None
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    # A row cut short by a kill has missing fields (None) or an empty last one: it is dropped.
    rows = [row for row in rows if None not in row.values() and all(row.values()) and int(row["epoch"]) < epochs_done]
    with atomic_write(path, newline="") as file:
        if rows:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    values = [float(row[monitor]) for row in rows if row.get(monitor)]  # none for monitor "last"
    if not values:
        return None
    return min(values) if mode == "min" else max(values)
