"""One training run from a `Config`: run directory, data, model, fit, report."""

import contextlib
import csv
import dataclasses
import functools
import json
import os
import re
import shutil
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np

from keras_fer.backend import check_backend, check_tensorflow_backend
from keras_fer.data.label_noise import flipped_examples
from keras_fer.files import atomic_write, remove_temporaries
from keras_fer.models import WEIGHTS, from_preset
from keras_fer.training.config import check_model_file, model_input_shape, write_config
from keras_fer.training.distillation import check_teachers, distillation_targets, not_probabilities
from keras_fer.training.fit import fit
from keras_fer.training.report import write_report
from keras_fer.training.run_directory import (
    BACKUP_DIR,
    CONFIG_FILE,
    FLIPPED_LABELS_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    completed_epochs,
    delete_run_files,
    is_resumable,
    repair_backup,
    replace_run,
    resolve_run_directory,
    run_lock,
)
from keras_fer.training.splits import load_splits


def train(config, run_dir=None, verbose="auto", targets=None):
    """Trains and evaluates the run that `config` describes.

    Writes into the run directory: `config.yaml` (the resolved config),
    `model.keras` (best by `training.monitor`), `history.csv`, `report.json`,
    `confusion_matrix.png` and `training_curves.png` on the validation split.
    Started again with the same config after being killed, it continues
    from the last completed epoch in the same directory. A run that fails
    before its first epoch ends removes what it wrote (and the directory, if
    it made it), so a bad config or dataset leaves nothing behind.

    Args:
        config: a `keras_fer.training.Config`.
        run_dir: the directory from `resolve_run_directory(config)`, or
            `None` to resolve it here.
        verbose: `model.fit` verbosity.
        targets: `None` to train on the training split's labels, or a
            function that takes the training split (a
            `keras_fer.data.FERDataset`) and returns what to train on
            instead: class indices `(n,)` or one row of class probabilities
            per image `(n, num_classes)`, such as a teacher's predictions
            mixed with the labels (which `distillation.teachers` in the
            config does for you).
            Validation keeps its labels. It is called again when a killed
            run resumes, so it must return the same targets each time.

    With `training.distribute: multi_worker` every worker (each task of
    `TF_CONFIG`, or each JAX process) runs this with the same config: the
    chief writes the run directory (`output.path`, required) and its
    backup; the other workers restore from that backup, keep their own
    files in `.<run>.<type>-<index>/` beside it while they train, remove
    it when done, and return `(run_dir, None)`.

    Returns:
        `(run_dir, report)`: the run directory and the report dict.
    """
    check_backend(config.training.backend)
    check_initial_weights(config.model.weights)
    check_teachers(config.distillation.teachers)
    check_time_limit(config.training)
    if config.distillation.teachers and targets is not None:
        raise ValueError("Pass `targets` or set distillation.teachers in the config, not both.")
    task = worker_task(config)
    if task is not None and not task.chief:
        return _train_worker(config, task, verbose, targets)
    run_dir = Path(run_dir) if run_dir is not None else resolve_run_directory(config)
    with run_lock(run_dir):
        remove_temporaries(run_dir)
        repair_backup(run_dir)
        fresh = not any(run_dir.iterdir())
        try:
            return _train(config, run_dir, verbose, targets)
        except BaseException:
            # A run that failed before its first epoch leaves nothing behind: in a folder it found empty, or one whose files are
            # now its own (an overwritten run's, deleted by `replace_run`); a failure before that leaves the old run as it was.
            own = fresh or is_resumable(run_dir, config)
            if own and not completed_epochs(run_dir) and not (run_dir / MODEL_FILE).exists():
                delete_run_files(run_dir)
                with contextlib.suppress(OSError):
                    run_dir.rmdir()
            raise


def check_time_limit(settings):
    """A `ValueError` for `training.time_limit` with `distribute: multi_worker`, which it cannot keep in step."""
    if settings.time_limit is not None and settings.distribute == "multi_worker":
        raise ValueError(
            "training.time_limit times each worker of a multi_worker run on its own clock, so they could stop at different epochs "
            "and wait on each other for ever: leave it unset for multi_worker."
        )


@dataclasses.dataclass(frozen=True)
class WorkerTask:
    """This process's task in a multi-worker run (a `TF_CONFIG` task or a JAX process): its type, index and whether it is the chief."""

    type: str
    index: int
    chief: bool


def worker_task(config):
    """The `WorkerTask` of this process when `config` trains with `training.distribute: multi_worker`, else `None`.

    TensorFlow reads `TF_CONFIG` (`{"cluster": {"worker": [...]}, "task":
    {"type": "worker", "index": 0}}`); the chief is the `chief` task, or
    worker 0 when the cluster has none. JAX reads
    `KERAS_DISTRIBUTION_JOB_ADDRESSES` (the coordinator, process 0),
    `KERAS_DISTRIBUTION_NUM_PROCESSES` and `KERAS_DISTRIBUTION_PROCESS_ID`;
    process 0 is the chief. Missing or malformed variables, or no
    `output.path` (every worker must name the same run directory), are a
    `ValueError`.
    """
    if config.training.distribute != "multi_worker":
        return None
    if config.output.path is None:
        raise ValueError("training.distribute: multi_worker needs output.path: every worker must name the same run directory.")
    if keras.backend.backend() == "jax":
        return _jax_process_task()
    check_tensorflow_backend("training.distribute: 'multi_worker'")
    text = os.environ.get("TF_CONFIG")
    expected = 'expected TF_CONFIG=\'{"cluster": {"worker": ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}\''
    if not text:
        raise ValueError(f"training.distribute: multi_worker needs the cluster in the TF_CONFIG environment variable; {expected}")
    try:
        cluster = json.loads(text)
        task_type, index = cluster["task"]["type"], int(cluster["task"]["index"])
        addresses = cluster["cluster"][task_type]
        if not 0 <= index < len(addresses):
            raise IndexError(index)
    except (ValueError, KeyError, TypeError, IndexError) as error:
        raise ValueError(f"TF_CONFIG is not a cluster with this task in it ({type(error).__name__}: {error}); {expected}") from None
    chief = task_type == "chief" or (task_type == "worker" and index == 0 and "chief" not in cluster["cluster"])
    return WorkerTask(task_type, index, chief)


def _jax_process_task():
    """The `WorkerTask` of this JAX process, from the variables `keras.distribution.initialize` reads; process 0 is the chief."""
    missing = [name for name in JAX_PROCESS_VARIABLES if not os.environ.get(name)]
    if missing:
        raise ValueError(
            f"training.distribute: multi_worker on JAX needs {', '.join(JAX_PROCESS_VARIABLES)} (the coordinator's address, "
            f"the number of processes and this one's index, from 0). Missing: {', '.join(missing)}"
        )
    try:
        count, index = int(os.environ["KERAS_DISTRIBUTION_NUM_PROCESSES"]), int(os.environ["KERAS_DISTRIBUTION_PROCESS_ID"])
    except ValueError:
        raise ValueError("KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID must be integers.") from None
    if not 0 <= index < count:
        raise ValueError(f"KERAS_DISTRIBUTION_PROCESS_ID must be 0 to {count - 1}. Received: {index}")
    return WorkerTask("process", index, index == 0)


def _train_worker(config, task, verbose, targets):
    """A non-chief worker's part of a multi-worker run: trains in step with the chief, writes nothing of the run's."""
    run_dir = Path(config.output.path)
    folder = run_dir.parent / f".{run_dir.name}.{task.type}-{task.index}"
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with run_lock(folder):
            _train(config, folder, verbose, targets, backup_dir=run_dir / BACKUP_DIR, chief=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return run_dir, None


def _train(config, run_dir, verbose, targets, backup_dir=None, chief=True):
    settings = config.training
    # First: a MultiWorkerMirroredStrategy must be made before TensorFlow starts its runtime.
    strategy = distribution_strategy(settings.distribute)
    keras.utils.set_random_seed(settings.seed)
    input_shape = model_input_shape(config.model)
    train_split, validation_split = load_splits(
        **dataclasses.asdict(config.data), image_size=input_shape[:2], channels=input_shape[2], seed=settings.seed
    )
    skipped = {
        "train": [list(record) for record in train_split.skipped],
        "validation": [list(record) for record in validation_split.skipped],
    }
    if config.distillation.teachers:
        targets = functools.partial(_distillation_targets, settings=config.distillation, verbose=verbose)
    if targets is not None:
        train_split = dataclasses.replace(train_split, labels=_checked_targets(targets(train_split), train_split))
    arguments = _fit_arguments(settings, strategy)
    with _precision(settings.mixed_precision), strategy.scope():
        model = build_model(config.model, num_classes=len(train_split.class_names), seed=settings.seed)
        if chief and config.output.overwrite:
            replace_run(run_dir, config)  # only now: a failed check above leaves the old run (it may even hold the weights or teachers)
        if config.data.label_noise:
            _write_flipped_labels(train_split, config.data, run_dir / FLIPPED_LABELS_FILE)
        write_config(config, run_dir / CONFIG_FILE)
        fit(
            model,
            train_split,
            validation_split,
            run_dir,
            loss=dataclasses.asdict(config.loss),
            optimizer=dataclasses.asdict(config.optimizer),
            verbose=verbose,
            backup_dir=backup_dir,
            write_backup=chief,
            **arguments,
        )
    if not chief:
        return run_dir, None
    best = keras.models.load_model(run_dir / MODEL_FILE)
    report = write_report(
        best,
        validation_split,
        run_dir,
        data={**dataclasses.asdict(config.data), "split": config.data.validation_split, "skipped": skipped},
        model_path=run_dir / MODEL_FILE,
        history_path=run_dir / HISTORY_FILE,
        batch_size=settings.batch_size,
    )
    shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)  # only now: a run killed before this resumes from it
    return run_dir, report


def _write_flipped_labels(train_split, data, path):
    """Writes which training labels `data.label_noise` flipped: index, source, original and noisy class."""
    rows = flipped_examples(train_split, data.label_noise, data.label_noise_seed)
    with atomic_write(path, newline="") as file:
        writer = csv.writer(file)
        writer.writerow(("index", "source", "original_label", "noisy_label"))
        writer.writerows(rows)


def _distillation_targets(train_split, settings, verbose):
    targets, accuracy = distillation_targets(train_split, **dataclasses.asdict(settings))
    if verbose:
        print(f"The teachers' mean prediction names the training label of {accuracy:.2%} of the images.", flush=True)
    return targets


def _checked_targets(targets, split):
    """`targets` as a label array for `split`, or a `ValueError` saying what is wrong with them."""
    targets = np.asarray(targets)
    n, num_classes = split.num_examples, len(split.class_names)
    expected = f"class indices ({n},) or class probabilities ({n}, {num_classes})"
    if targets.ndim == 1 and np.issubdtype(targets.dtype, np.integer):
        if len(targets) != n or targets.min(initial=0) < 0 or targets.max(initial=0) >= num_classes:
            raise ValueError(f"`targets` must return {expected}. Received: {len(targets)} labels in {targets.min()}..{targets.max()}")
        return targets.astype("int32")
    if targets.shape != (n, num_classes) or not np.issubdtype(targets.dtype, np.floating):
        raise ValueError(f"`targets` must return {expected}. Received: shape {targets.shape}, dtype {targets.dtype}")
    bad = not_probabilities(targets)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        where = f" ({split.sources[row]})" if split.sources else ""
        raise ValueError(
            f"`targets` rows must be probabilities (non-negative, summing to 1); {bad.sum()} are not. "
            f"Received: row {row}{where} = {targets[row].round(4).tolist()}"
        )
    return targets.astype("float32")


def build_model(model_config, num_classes, seed):
    """The `from_preset` model of a config's `model` section, from `model.weights` if set.

    `model.weights` is either the name of weights shipped for the preset
    (`keras_fer.models.WEIGHTS`, e.g. `fer2013`: the model takes their
    architecture, and a new classifier when the data has another number of
    classes) or a `.keras` / `.weights.h5` file of the same architecture;
    with `model.skip_mismatch` layers of another shape keep new weights.
    """
    overrides = {key: value for key, value in dataclasses.asdict(model_config).items() if value is not None}
    overrides["attention"] = model_config.attention
    weights = overrides.pop("weights", None)
    preset = overrides.pop("preset")
    skip_mismatch = overrides.pop("skip_mismatch")
    if weights in WEIGHTS:
        try:
            return from_preset(preset, weights=weights, skip_mismatch=skip_mismatch, num_classes=num_classes, seed=seed, **overrides)
        except ValueError as error:
            raise ValueError(f"model.weights: {error}") from None
    model = from_preset(preset, num_classes=num_classes, seed=seed, **overrides)
    if weights is not None:
        _load_initial_weights(model, weights, skip_mismatch)
    return model


def check_initial_weights(weights):
    """Fails early unless `model.weights` names shipped weights or a readable weights file."""
    if weights is not None and weights not in WEIGHTS:
        check_model_file("model.weights", weights, (".keras", ".weights.h5"), f"or the name of shipped weights: {sorted(WEIGHTS)}")


def _load_initial_weights(model, path, skip_mismatch=False):
    check_initial_weights(path)
    try:
        with warnings.catch_warnings():
            # Keras 3.15 warns about functional internals that hold no weights.
            warnings.filterwarnings("ignore", message="Skipping nested container")
            model.load_weights(path, skip_mismatch=skip_mismatch)
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"model.weights: not a keras-fer model file: {path} ({type(error).__name__}: {error})") from None
    except (ValueError, KeyError) as error:
        raise ValueError(f"model.weights: {path} does not fit the {model.name} model of this config: {_weights_mismatch(error)}") from None


def _weights_mismatch(error):
    """One line for Keras's mismatch message, which prints whole weight arrays over a hundred lines."""
    text = str(error)
    count = re.search(r"A total of (\d+) objects could not be loaded", text)
    shape = r"(\([^)]*\)|torch\.Size\(\[[^\]]*\]\))"  # TensorFlow and JAX print tuples, torch torch.Size([...])
    shapes = re.search(rf"variable\.shape={shape}, Received: value\.shape={shape}\. Target variable: <Variable path=([^,]+)", text)
    if shapes:
        here, there, name = shapes.groups()
        layers = f"{count.group(1)} layers differ, e.g. " if count else ""
        return f"{layers}{name} is {here} in this model and {there} in the file."
    header = ("A total of", "Example error message")  # Keras's preamble; the cause is the line after it
    first = next((line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(header)), type(error).__name__)
    return first if len(first) <= 300 else first[:297] + "..."


def distribution_strategy(distribute="auto"):
    """How `train` spreads each batch over devices: synchronous data parallelism, on the backend's own engine.

    TensorFlow: `"mirrored"` is a `tf.distribute.MirroredStrategy` over all
    GPUs, or all logical CPUs when there is no GPU (training on CPU
    replicas runs without XLA, which cannot place their variables);
    `"auto"` is mirrored when more than one GPU is visible, else the
    default strategy. JAX: `"mirrored"` is a
    `keras.distribution.DataParallel` over `keras.distribution.list_devices()`
    (the accelerators, or the CPU devices when there are none, e.g. with
    `XLA_FLAGS=--xla_force_host_platform_device_count=2`); `"auto"` is that
    when more than one accelerator is visible. `"multi_worker"`: on
    TensorFlow a `tf.distribute.MultiWorkerMirroredStrategy` over the
    workers of `TF_CONFIG`, on JAX a `DataParallel` over every process's
    devices after `keras.distribution.initialize()` (see `worker_task`).
    `"none"` is one device.
    The batch size must divide by the number of devices on JAX; `fit`
    pads validation batches to a multiple of it (the padding weighs
    nothing in the metrics).

    Returns:
        An object with `scope()` (a context manager to build and train
        in) and `num_replicas_in_sync`.
    """
    backend = keras.backend.backend()
    if backend == "jax" and distribute == "multi_worker":
        _initialize_jax_processes()
        return _DataParallel(keras.distribution.list_devices())
    if distribute == "multi_worker":
        check_tensorflow_backend("training.distribute: 'multi_worker'")
    if backend == "jax":
        devices = keras.distribution.list_devices()
        accelerators = [device for device in devices if not device.lower().startswith("cpu")]
        if distribute == "mirrored" or (distribute == "auto" and len(accelerators) > 1):
            return _DataParallel(devices)
        return _OneDevice()
    if distribute == "mirrored":
        check_tensorflow_backend("training.distribute: 'mirrored'")
    if backend != "tensorflow":
        return _OneDevice()
    import tensorflow as tf

    if distribute == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()

    gpus = tf.config.list_logical_devices("GPU")
    if distribute == "mirrored":
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([device.name for device in devices])
    if distribute == "auto" and len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


JAX_PROCESS_VARIABLES = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES", "KERAS_DISTRIBUTION_PROCESS_ID")


def _initialize_jax_processes():
    """Joins this process to the others of a JAX job (`keras.distribution.initialize`), once."""
    import jax

    if jax.distributed.is_initialized():
        return
    # Collectives between processes' CPU devices (tests on one machine, CPU-only clusters); GPUs use NCCL whatever this says.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    keras.distribution.initialize()


class _OneDevice:
    """The default strategy's two members that `train` uses, for backends without strategies."""

    num_replicas_in_sync = 1

    def scope(self):
        return contextlib.nullcontext()


class _DataParallel:
    """`keras.distribution.DataParallel` over `devices`, with a strategy's two members that `train` uses (JAX)."""

    def __init__(self, devices):
        # Batches are already each process's part (`FERDataset.batches(shard=...)`): Keras must not shard them again.
        self.distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
        self.num_replicas_in_sync = len(devices)

    def scope(self):
        return self.distribution.scope()


@contextlib.contextmanager
def _precision(policy):
    """Sets the global dtype policy for the block, then restores it."""
    previous = keras.config.dtype_policy()
    if policy:
        keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _fit_arguments(settings, strategy):
    """`fit` keyword arguments; XLA is off for replicas on CPUs, which it cannot place."""
    arguments = dataclasses.asdict(settings)
    for key in ("mixed_precision", "distribute", "backend"):
        arguments.pop(key)
    if strategy.num_replicas_in_sync > 1 and keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # only TensorFlow's strategies have replicas

        if not tf.config.list_logical_devices("GPU"):
            arguments["jit_compile"] = False
    return arguments
