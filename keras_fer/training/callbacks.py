"""Callbacks of a keras-fer training run: checkpoints written whole, a stop on a non-finite loss, weight-average swaps."""

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
                "training stopped and the run keeps its last finite epoch. Try a lower optimizer.learning_rate."
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
