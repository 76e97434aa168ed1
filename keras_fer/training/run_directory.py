"""The run directory: its file names, where it goes, its lock, resuming and replacing a run in it.

A run directory holds `config.yaml` (the resolved config), `model.keras`,
`history.csv`, `backup/` (`keras.callbacks.BackupAndRestore`'s state while
the run is unfinished), `report.json` (written last: a run with a report is
finished) and its plots, and `flipped_labels.csv` / `tensorboard/` when the
config asks for them. Evaluation reports written elsewhere use the same
report file names.
"""

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path

import yaml

from keras_fer.files import locked
from keras_fer.training.config import config_from_dict, config_to_dict, load_yaml

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.keras"
HISTORY_FILE = "history.csv"
BACKUP_DIR = "backup"
# What Keras' BackupAndRestore writes in BACKUP_DIR, and the suffix of the previous copies double_checkpoint keeps.
BACKUP_WEIGHTS, BACKUP_METADATA, PREVIOUS = "latest.weights.h5", "training_metadata.json", ".bkp"
REPORT_FILE = "report.json"
CONFUSION_MATRIX_FILE = "confusion_matrix.png"
TRAINING_CURVES_FILE = "training_curves.png"
FLIPPED_LABELS_FILE = "flipped_labels.csv"
TIME_PLAN_FILE = "time_limit.json"  # the epochs `training.time_limit` shortened the run to
TENSORBOARD_DIR = "tensorboard"
RUN_FILES = (
    CONFIG_FILE,
    MODEL_FILE,
    HISTORY_FILE,
    BACKUP_DIR,
    REPORT_FILE,
    CONFUSION_MATRIX_FILE,
    TRAINING_CURVES_FILE,
    FLIPPED_LABELS_FILE,
    TIME_PLAN_FILE,
    TENSORBOARD_DIR,
)


def resolve_run_directory(config):
    """The run directory for `config`, created, or an unfinished one of the same config.

    `output.path` defaults to `runs/<config name>`, then `-2`, `-3`... past
    finished runs. A directory holding an unfinished run of the same config
    is resumed; any other non-empty directory is an error unless
    `output.overwrite` and it holds a keras-fer run, whose files `train`
    deletes only once the new run's data, initial weights and teachers have
    loaded (`replace_run`), so a command that fails its checks leaves the
    old run as it was (with `training.distribute: multi_worker`, at once).
    A directory another keras-fer run is training in is an error (or, for
    the default path, skipped).
    """
    if config.output.path is not None:
        # multi_worker: deleted now, before the other workers, which train from this run's backup/, can read the old one.
        return _prepared(config.output.path, config.output.overwrite, config, delete_now=config.training.distribute == "multi_worker")
    base = Path("runs") / config.name
    for index in range(1, 1000):
        path = base if index == 1 else base.with_name(f"{base.name}-{index}")
        if lock_owner(path) is not None:
            continue
        if not path.exists() or not any(path.iterdir()) or is_resumable(path, config):
            return prepare_run_directory(path, False, config)
    raise ValueError(f"No free run directory next to {base}; pass --output.")


def prepare_run_directory(path, overwrite=False, config=None):
    """Creates `path` for a run, refusing to replace an earlier run.

    Fails before any training when `path` is a file, cannot be written, or
    holds files, unless it holds an unfinished run of the same `config`
    (which is resumed) or `overwrite` is set and it holds a keras-fer run
    (whose files are deleted now; other files are kept). Files with the
    names of a run's (`RUN_FILES`) in a folder without a keras-fer
    `config.yaml` are not a run: they are refused, `overwrite` or not.
    """
    return _prepared(path, overwrite, config, delete_now=True)


def _prepared(path, overwrite, config, delete_now):
    """`path` made for a run after `_replaces_a_run`'s checks, the run it replaces deleted if `delete_now`."""
    path = Path(path)
    if _replaces_a_run(path, overwrite, config) and delete_now:
        with run_lock(path):  # a run that started since the check keeps its files: this fails instead
            delete_run_files(path)
    _make_writable_directory(path, "Run directory")
    return path


def replace_run(run_dir, config):
    """Deletes the files of the run in `run_dir` that a new run of `config` replaces (`output.overwrite`): none when it resumes it.

    `train` calls it, holding the run's lock, after the new run's inputs
    have loaded and before it writes its first file. Files of a run's names
    beside no keras-fer `config.yaml` are refused, as by
    `resolve_run_directory`.
    """
    if _replaces_files(run_dir, config):
        _check_a_run_is_there(Path(run_dir))
        delete_run_files(run_dir)


def _replaces_files(run_dir, config):
    return Path(run_dir).is_dir() and any(Path(run_dir).iterdir()) and not is_resumable(run_dir, config)


def _replaces_a_run(path, overwrite, config):
    """Whether a new run of `config` in `path` replaces the run there; a `ValueError` for every case it must not go on."""
    if path.exists() and not path.is_dir():
        raise ValueError(f"Run directory {path} is a file, not a directory.")
    owner = lock_owner(path)
    if owner is not None:
        raise _in_use(path, owner)
    if not _replaces_files(path, config):
        return False
    if not overwrite:
        raise ValueError(f"Run directory {path} already holds a run. Choose another or pass --overwrite.")
    _check_a_run_is_there(path)
    return True


def _check_a_run_is_there(path):
    """Refuses to delete files of a run's names (`RUN_FILES`) in `path` unless they sit beside a `config.yaml` keras-fer reads."""
    names = [name for name in RUN_FILES if (path / name).exists()]
    if names and _saved_config(path) is None:
        raise ValueError(
            f"Run directory {path} holds {', '.join(names)} but no keras-fer run (no config.yaml that keras-fer reads): "
            "--overwrite would delete them. Choose another --output or move them away."
        )


def prepare_report_directory(path, overwrite=False):
    """Creates `path` for an evaluation report, refusing to replace files in it unless `overwrite`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"Report directory {path} is a file, not a directory.")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ValueError(f"Report directory {path} already holds files. Choose another --output or pass --overwrite.")
    _make_writable_directory(path, "Report directory")
    return path


def _make_writable_directory(path, what):
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"{what} {path} is not writable: {error.strerror}.") from error


@contextlib.contextmanager
def run_lock(run_dir):
    """Holds the lock of `run_dir` for the block, or fails at once when another process holds it.

    The lock is an `flock` on `.<name>.lock` beside the directory, so the
    system releases it when its process ends, however it ends (a killed run
    leaves no stale lock), and the run directory itself holds only the run.
    The file is removed when the block ends.
    """
    run_dir = Path(run_dir)
    path = _lock_path(run_dir)
    with locked(path, wait=False, remove=True) as file:
        if file is None:
            owner = "unknown"
            with contextlib.suppress(OSError):
                owner = path.read_text().strip() or owner
            raise _in_use(run_dir, owner)
        file.truncate(0)
        file.write(str(os.getpid()))
        file.flush()
        yield


def lock_owner(run_dir):
    """The process (its id, as written in the lock) holding `run_dir`'s lock, or `None` when no run holds it.

    Only looks: creates, takes and removes nothing, so checking a directory
    never gets in the way of the run that holds it.
    """
    path = _lock_path(Path(run_dir))
    try:
        file = open(path)
    except OSError:
        return None
    with file:
        try:
            fcntl.flock(file, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return file.read().strip() or "unknown"
        fcntl.flock(file, fcntl.LOCK_UN)
        return None


def _lock_path(run_dir):
    return run_dir.parent / f".{run_dir.name}.lock"


def _in_use(run_dir, owner):
    return ValueError(
        f"Run directory {run_dir} is in use by another keras-fer run (process {owner}); wait for it to finish or choose another --output."
    )


def is_resumable(path, config):
    """Whether `path` holds an unfinished run (no report yet) of the same `config`, output settings, backend and time limit aside.

    The saved config is read through `config_from_dict`, so a run started by
    an older keras-fer, whose `config.yaml` lacks keys added since (with
    defaults that keep its meaning), still resumes.
    """
    if config is None or (Path(path) / REPORT_FILE).exists():
        return False
    saved = _saved_config(path)
    if saved is None:
        return False  # no config this keras-fer reads: not the same run
    theirs = config_to_dict(saved)
    ours = config_to_dict(config)
    for values in (ours, theirs):
        values.get("output", {}).pop("overwrite", None)
        values.get("output", {}).pop("path", None)
        values.get("training", {}).pop("backend", None)  # any backend continues the run: weights and optimizer state load on each
        values.get("training", {}).pop("time_limit", None)  # a limit is the call's, not the run's: time_limit.json keeps its plan
    return ours == theirs


def _saved_config(path):
    """The `Config` of the run in `path` (its `config.yaml`), or `None` when there is none that this keras-fer reads."""
    saved = Path(path) / CONFIG_FILE
    if not saved.is_file():
        return None
    try:
        return config_from_dict(load_yaml(saved.read_text()), source=str(saved))
    except (ValueError, TypeError, AttributeError, OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def delete_run_files(path):
    """Deletes keras-fer's files (`RUN_FILES`) in `path`, keeping any others."""
    for name in RUN_FILES:
        target = Path(path) / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def completed_epochs(run_dir):
    """Epochs that `BackupAndRestore` saved in `run_dir`, 0 when none (as `repair_backup` will leave it)."""
    backup = Path(run_dir) / BACKUP_DIR
    metadata = backup / BACKUP_METADATA
    if not metadata.is_file():
        return 0
    epoch = _saved_epoch(metadata)
    if epoch is None and (backup / (BACKUP_WEIGHTS + PREVIOUS)).is_file():
        epoch = _saved_epoch(backup / (BACKUP_METADATA + PREVIOUS))
    return epoch or 0


def repair_backup(run_dir):
    """Steps a backup back one checkpoint when a kill cut Keras's rewrite of `training_metadata.json`.

    Keras saves the weights, then truncates and rewrites the metadata; a run
    killed in between leaves an empty file that `BackupAndRestore` cannot
    read. With `double_checkpoint` the previous weights and metadata lie
    beside them (`.bkp`): they are put back and the run repeats one epoch.
    Without them the backup is removed and the run starts over.
    """
    backup = Path(run_dir) / BACKUP_DIR
    metadata = backup / BACKUP_METADATA
    if not metadata.is_file() or _saved_epoch(metadata) is not None:
        return
    previous_weights, previous = backup / (BACKUP_WEIGHTS + PREVIOUS), backup / (BACKUP_METADATA + PREVIOUS)
    if previous_weights.is_file() and _saved_epoch(previous) is not None:
        shutil.copyfile(previous_weights, backup / BACKUP_WEIGHTS)
        shutil.copyfile(previous, metadata)
    else:
        shutil.rmtree(backup)


def _saved_epoch(path):
    try:
        return int(json.loads(Path(path).read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def describe_resume(run_dir, config=None):
    """`"resuming after epoch N"` when `run_dir` holds a backup that a run of `config` resumes from, else `""`.

    With `output.overwrite` a run of another config there is replaced, not
    resumed (`replace_run`): `"replacing the run there"`.
    """
    if config is not None and config.output.overwrite and _replaces_files(run_dir, config):
        return "replacing the run there"
    epochs = completed_epochs(run_dir)
    return f"resuming after epoch {epochs}" if epochs else ""


def resolve_model_file(path):
    """`(model.keras path, run directory or None)` for a run directory or a `.keras` file."""
    path = Path(path)
    if path.is_dir():
        if not (path / MODEL_FILE).is_file():
            raise ValueError(f"Run directory {path} holds no {MODEL_FILE}.")
        return path / MODEL_FILE, path
    if path.suffix != ".keras" or not path.is_file():
        raise ValueError(f"{path} is neither a run directory nor a .keras file.")
    return path, None
