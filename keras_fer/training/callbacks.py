"""Callbacks of a keras-fer training run: checkpoints written whole, a stop on a non-finite loss, weight-average swaps, a time limit."""

import time

import keras
import numpy as np

from keras_fer.files import atomic_path


class ModelFileCheckpoint(keras.callbacks.Callback):
    """Saves the model to one `.keras` file at the end of each epoch that improves `monitor`, replacing it whole.

    Like `keras.callbacks.ModelCheckpoint(path, monitor, mode=mode,
    save_best_only=True, initial_value_threshold=best)`, but the file is
    written beside `path` and renamed into place (`keras_fer.files.atomic_path`):
    a process killed while it saves leaves the previous checkpoint intact.

    Args:
        path: the `.keras` file.
        monitor: the logged metric that picks the model, or `None` to save
            every epoch (the last one is kept).
        mode: `"max"` or `"min"`: which way `monitor` improves.
        best: the best value of `monitor` so far (a resumed run's), or `None`.
    """

    def __init__(self, path, monitor=None, mode="max", best=None):
        super().__init__()
        self.path = path
        self.monitor = monitor
        self.mode = mode
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor is not None:
            value = (logs or {}).get(self.monitor)
            if value is None or not self._improves(float(value)):
                return
            self.best = float(value)
        with atomic_path(self.path) as temporary:
            self.model.save(temporary)

    def _improves(self, value):
        if not np.isfinite(value):
            return False
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Ends `fit` with a `ValueError` at the first batch whose loss is NaN or infinite.

    Unlike `keras.callbacks.TerminateOnNaN`, which lets the epoch end (and so
    the checkpoint and the backup save the broken weights), it raises before
    any epoch-end callback runs: `model.keras` and `backup/` keep the last
    finite epoch.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            raise ValueError(
                f"The training loss became {float(loss)} at epoch {getattr(self, 'epoch', 0) + 1}, batch {batch + 1}; "
                "training stopped and the run keeps its last finite epoch. Try a lower optimizer.learning_rate, "
                "and check that the labels are class indices from 0 to the number of classes - 1 (others give a NaN loss)."
            )


class SwapBack(keras.callbacks.Callback):
    """Puts the raw weights back after `swap` put the averaged ones in at epoch end."""

    def __init__(self, swap):
        super().__init__()
        self.swap = swap

    def on_epoch_end(self, epoch, logs=None):
        # `SwapEMAWeights.on_epoch_begin` swaps back when the average is in the model.
        self.swap.on_epoch_begin(epoch + 1)


class WorkerBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` for a worker of a multi-worker run other than the chief: restores the chief's backup, writes its own.

    Every worker must resume from the same weights, the chief's; and every
    worker must save when the chief saves, because Keras's saving creates a
    variable (a throwaway optimizer's), which under a
    `MultiWorkerMirroredStrategy` is a collective operation that all workers
    join. So this worker saves as the chief does, into its own `backup_dir`,
    and reads `restore_dir`, never writing there.
    """

    def __init__(self, backup_dir, restore_dir, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.chief_backup = keras.callbacks.BackupAndRestore(restore_dir)

    def on_train_begin(self, logs=None):
        self.chief_backup.set_model(self.model)
        self.chief_backup._load_model()


class TimeLimit(keras.callbacks.Callback):
    """Fits `model.fit` into `seconds`: shortens the run to the epochs that fit after its first epoch, and stops before one that would not.

    After the first epoch this process trains, it estimates an epoch's time
    without compilation (the epoch's time less what its first training and
    first validation batch took beyond a typical one) and, when fewer than
    the planned `epochs` fit in what is left of `seconds` (less one more
    compilation of the training step, which a shortened schedule needs),
    calls `shorten(epochs)` once with the number that fits, so the caller
    can end the learning-rate schedule there and record the new plan. At the
    end of every epoch it stops training when another epoch, at the last
    epoch's pace, would end past the limit.

    Args:
        seconds: the limit, counted from the start of `fit`.
        epochs: the planned number of epochs.
        shorten: `shorten(epochs) -> bool`, called at most once; whether it
            also shortened the learning-rate schedule. `None` when the plan
            is already made (a resumed run).
        clock: a function returning seconds; `time.monotonic` by default.
        verbose: whether to print what it decides.

    Example (what `keras_fer.training.fit(..., time_limit=540)` does, and
    `keras-fer train --time-limit 540`):

    ```python
    def shorten(epochs):  # end a cosine schedule after `epochs`, retrace the step
        return shorten_schedule(model.optimizer, epochs, steps_per_epoch) and bool(model.make_train_function(force=True))

    model.fit(batches, epochs=40, callbacks=[TimeLimit(540, 40, shorten)])
    ```
    """

    def __init__(self, seconds, epochs, shorten=None, clock=None, verbose=True):
        super().__init__()
        self.seconds = float(seconds)
        self.epochs = int(epochs)
        self.shorten = shorten
        self.clock = clock or time.monotonic
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        self.start = self.clock()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = self.clock()
        self.batch_ends, self.test_batch_ends, self.test_start = [], [], None

    def on_train_batch_end(self, batch, logs=None):
        self.batch_ends.append(self.clock())

    def on_test_begin(self, logs=None):
        self.test_start = self.clock()

    def on_test_batch_end(self, batch, logs=None):
        self.test_batch_ends.append(self.clock())

    def on_epoch_end(self, epoch, logs=None):
        now = self.clock()
        compiling = _first_batch_excess(self.epoch_start, self.batch_ends)
        pace = now - self.epoch_start - compiling - _first_batch_excess(self.test_start, self.test_batch_ends)
        left = self.seconds - (now - self.start)
        if self.shorten is not None:
            fitting = epoch + 1 + max(int((left - compiling) // pace), 0) if pace > 0 else self.epochs
            shorten, self.shorten = self.shorten, None
            if fitting < self.epochs:
                planned, self.epochs = self.epochs, fitting
                schedule = ", and its cosine schedule with it" if shorten(fitting) else ""
                self.say(
                    f"training.time_limit: {fitting} of the {planned} epochs fit in {self.seconds:g} s at {pace:.1f} s an epoch; "
                    f"the run now ends there{schedule}."
                )
        if epoch + 1 >= self.epochs:
            self.model.stop_training = True
        elif pace > left:
            self.say(f"training.time_limit: stopped after epoch {epoch + 1} of {self.epochs}: another would end past {self.seconds:g} s.")
            self.model.stop_training = True

    def say(self, message):
        if self.verbose:
            print(message, flush=True)


def _first_batch_excess(begin, ends):
    """How much longer than a typical batch the first batch after `begin` took (its compilation); 0 with under 3 batches."""
    if begin is None or len(ends) < 3:
        return 0.0
    typical = (ends[-1] - ends[0]) / (len(ends) - 1)
    return max(ends[0] - begin - typical, 0.0)
