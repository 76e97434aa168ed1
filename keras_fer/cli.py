"""The `keras-fer` command: `train`, `evaluate`, `prepare`, `study`, `export` and `predict`."""

import argparse
import json
import os
import sys
import warnings


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = _parser()
    argv_given = argv is not None
    argv = sys.argv[1:] if argv is None else list(argv)
    arguments = parser.parse_args(argv)
    arguments.argv = argv
    arguments.entry_point = not argv_given  # this process is the command itself, not a caller of main()
    if arguments.command is None:
        parser.print_help()
        return 2
    if hasattr(arguments, "check"):
        arguments.check(arguments)
    from PIL import Image

    from keras_fer.data import DataError

    # keras-fer refuses images over keras_fer.data.images.MAX_IMAGE_PIXELS itself, naming the file in one line.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

    try:
        return arguments.run(arguments)
    except (ValueError, DataError) as error:
        if arguments.debug:
            raise
        print(f"keras-fer {arguments.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, a folder that became unwritable: what the checks before the work cannot see
        if arguments.debug:
            raise
        where = f": {error.filename}" if error.filename else ""
        print(f"keras-fer {arguments.command}: error: {error.strerror or error}{where}", file=sys.stderr)
        return 1


def _parser():
    parser = argparse.ArgumentParser(prog="keras-fer", description="Facial expression recognition with Keras 3.")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(subcommands)
    _add_evaluate(subcommands)
    _add_prepare(subcommands)
    _add_study(subcommands)
    _add_export(subcommands)
    _add_predict(subcommands)
    return parser


def _add_train(subcommands):
    train = subcommands.add_parser(
        "train",
        help="train a model (without arguments: the tiny preset on the embedded synthetic faces)",
        description="Train a ResNet18 with model.fit from a config (a shipped preset or a YAML "
        "file) and write a run directory: config.yaml, model.keras, history.csv, report.json and "
        "the plots. Started again after being killed, the same command resumes the run. "
        "Without arguments: the tiny model on procedurally drawn faces, offline.",
    )
    train.add_argument("config", nargs="?", default="synthetic", help="preset name or YAML file (default: synthetic)")
    _add_config_flags(train)
    train.add_argument("--output", help="run directory (default: runs/<config name>, then -2, -3, ...)")
    train.add_argument("--epochs", type=_positive_int, help="shortcut for --set training.epochs=N")
    train.add_argument("--seed", type=int, help="shortcut for --set training.seed=N")
    train.add_argument(
        "--time-limit",
        type=float,
        metavar="SECONDS",
        help="train at most this long: after the first epoch the run and its cosine schedule end at the epochs that fit "
        "(shortcut for --set training.time_limit=SECONDS)",
    )
    train.add_argument(
        "--backend",
        choices=("tensorflow", "jax", "torch"),  # keras_fer.training.config.BACKENDS, without importing Keras
        help="the Keras backend to train on (shortcut for --set training.backend=NAME; default: KERAS_BACKEND, else tensorflow, "
        "the fastest measured on CPU)",
    )
    train.add_argument(
        "--teachers",
        nargs="+",
        metavar="MODEL",
        help="distil: train on targets half label, half these .keras models' mean prediction (shortcut for --set distillation.teachers=[...])",
    )
    train.add_argument("--overwrite", action="store_true", help="replace the run in an existing run directory")
    train.add_argument("--debug", action="store_true", help="show tracebacks")
    train.set_defaults(run=_train)


def _add_evaluate(subcommands):
    evaluate = subcommands.add_parser(
        "evaluate",
        help="evaluate a run or model on a dataset split",
        description="Evaluate a run directory (its model.keras and config.yaml) or a .keras file "
        "(with a config) on a split, and write report.json, confusion_matrix.png and, for runs, "
        "training_curves.png.",
    )
    evaluate.add_argument("model", help="a run directory or a .keras file")
    evaluate.add_argument("--config", help="preset or YAML giving the data (default: the run's config.yaml)")
    _add_config_flags(evaluate)
    evaluate.add_argument("--split", help="split to evaluate (default: the config's data.validation_split)")
    evaluate.add_argument("--flip", action="store_true", help="average with horizontally flipped images (test-time augmentation)")
    evaluate.add_argument(
        "--shift",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="also average over the images moved 1..N pixels left, right, up and down (test-time augmentation, "
        "1 + 4N views, twice that with --flip; default: 0)",
    )
    evaluate.add_argument("--output", help="report directory (default: <run>/evaluate-<split>)")
    evaluate.add_argument("--overwrite", action="store_true", help="replace an existing report")
    evaluate.add_argument("--debug", action="store_true", help="show tracebacks")
    evaluate.set_defaults(run=_evaluate)


def _add_study(subcommands):
    study = subcommands.add_parser(
        "study",
        help="run a study grid: variants x label-noise levels x seeds, each an ordinary training run",
        description="Train every cell of a study (a shipped study in keras_fer/configs/studies/ or a YAML "
        "file), evaluate each on the study's label sets and gather the figures in results.csv, with a "
        "summary (README.md, tables, paired tests, plots). Started again, it resumes the unfinished cell "
        "and skips the finished ones.",
    )
    study.add_argument("study", help="shipped study name or YAML file")
    study.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value in every cell (section.key=value, e.g. data.path=...) or of an evaluation "
        "label set (evaluate.NAME.key=value); repeatable",
    )
    study.add_argument("--data", help="shortcut for --set data.path=PATH")
    study.add_argument("--variants", nargs="+", metavar="NAME", help="run only these variants (default: all)")
    study.add_argument("--seeds", nargs="+", type=_non_negative_int, metavar="N", help="run only these seeds (default: all)")
    study.add_argument("--output", help="folder of the cells' run directories (default: runs/studies/<study>)")
    study.add_argument("--results", help="folder of results.csv and the summary (default: the --output folder)")
    study.add_argument(
        "--jobs",
        type=_positive_int,
        default=1,
        help="cells trained at once, each in its own process with cores/jobs threads (default: 1). On 2 CPU "
        "cores, 2 jobs of 1 thread train CBAM models 2.2x faster than 1 job of 2 threads",
    )
    study.add_argument("--threads", type=_thread_count, help="TensorFlow threads of this process (default: all cores)")
    study.add_argument("--summary-only", action="store_true", help="only write the summary of the results there are")
    study.add_argument("--no-summary", action="store_true", help="train and gather results, write no summary (as --jobs workers do)")
    study.add_argument("--debug", action="store_true", help="show tracebacks")
    study.set_defaults(run=_study)


def _add_export(subcommands):
    export = subcommands.add_parser(
        "export",
        help="export a model as SavedModel or TFLite (float32, float16, dynamic int8, int8)",
        description="Export a .keras model (or a run directory's) for serving or mobile. The exported "
        "model takes uint8 face crops at the model's input size and returns class probabilities; "
        "labels.txt and a JSON of the preprocessing are written next to it.",
    )
    export.add_argument("model", help="a .keras file or a run directory")
    export.add_argument("--format", choices=("savedmodel", "tflite"), default="tflite")
    export.add_argument(
        "--quantize",
        choices=("none", "float16", "dynamic_int8", "int8"),  # keras_fer.export.QUANTIZATIONS, without importing TensorFlow
        default="none",
        help="TFLite quantisation: dynamic_int8 (int8 weights) for CPUs, int8 (calibrated, integer-only) for NPUs and DSPs",
    )
    export.add_argument("--out", required=True, help="SavedModel folder or .tflite file to create")
    export.add_argument(
        "--representative",
        help="with --quantize int8, the calibration faces: 'synthetic' (drawn faces, the default) or a config (preset or YAML) "
        "whose training split to use, with --data and --set",
    )
    _add_config_flags(export)
    export.add_argument("--debug", action="store_true", help="show tracebacks")
    export.set_defaults(run=_export)


def _add_predict(subcommands):
    predict = subcommands.add_parser(
        "predict",
        help="expressions of the faces in images, folders and videos",
        description="Detect faces (MediaPipe BlazeFace by default), align them, in images, folders of images "
        "(recursively) and videos (every Nth frame), classify their expressions in batches, and print a table or write "
        "JSON/CSV. Files that cannot be read are reported and the rest still processed; the exit code "
        "is 0 only when every file was read.",
    )
    predict.add_argument("paths", nargs="*", metavar="PATH", help="image, video or folder")
    predict.add_argument(
        "--camera",
        type=_camera_index,
        metavar="INDEX",
        help="classify a live camera instead of files, every --every-th frame (default 1 here), faces tracked and "
        "their scores smoothed; one line per frame, --annotate DIR writes camera<INDEX>.mp4; Ctrl-C stops",
    )
    predict.add_argument(
        "--model", help="a shipped model name (ferplus, fer2013) or a .keras, .tflite or SavedModel path (default: ferplus, over the 7 basic classes)"
    )
    predict.add_argument(
        "--runtime",
        choices=("tflite", "keras"),  # keras_fer.inference.classifiers.RUNTIMES, without importing TensorFlow
        help="how a shipped --model runs: tflite (default: its int8-weight twin, 12x faster a face) or keras (the .keras model itself)",
    )
    predict.add_argument("--all-classes", action="store_true", help="report all of an 8-class model's classes (contempt too), not the 7 basic ones")
    predict.add_argument(
        "--detector",
        choices=("blazeface", "blazeface-full", "haar"),
        default="blazeface",
        help="face detector: BlazeFace short range (default), BlazeFace full range (small faces) or OpenCV's Haar cascade",
    )
    predict.add_argument(
        "--min-score", type=_unit_number, metavar="S", help="smallest face detection score kept, in [0, 1] (default: the detector's own)"
    )
    predict.add_argument("--no-align", action="store_true", help="crop the detector's upright box instead of rotating the eyes level")
    predict.add_argument("--json", help="write the results as JSON to this file")
    predict.add_argument("--csv", help="write one row per face as CSV to this file")
    predict.add_argument(
        "--annotate",
        metavar="DIR",
        help="write copies with boxes and labels drawn (videos as .mp4), keeping the inputs' folders below the deepest one "
        "holding them all (PATHs d1 d2: DIR/d1/..., DIR/d2/...)",
    )
    predict.add_argument(
        "--explain",
        metavar="DIR",
        help="write attention and Grad-CAM overlays per face, a.jpg's first as a.jpg_face1.png in the folders --annotate keeps "
        "(images; .keras files, and shipped models, which then run as their .keras files)",
    )
    predict.add_argument("--every", type=_positive_int, help="classify every Nth video frame (default: 10; 1 with --camera)")
    predict.add_argument("--batch-size", type=_positive_int, default=64, help="faces per batch (default: 64)")
    predict.add_argument(
        "--threads",
        type=_thread_count,
        metavar="N",
        help="CPU threads of detection and classification: LiteRT's (BlazeFace, twins, .tflite), OpenCV's (Haar) and "
        "TensorFlow's (.keras, SavedModel) (default: LiteRT the machine's cores up to 4, the others their own defaults)",
    )
    predict.add_argument("--flip", action="store_true", help="average with the mirrored face (test-time augmentation, twice the compute)")
    predict.add_argument(
        "--shift",
        type=_non_negative_int,
        default=0,
        metavar="N",
        help="also average over the face moved 1..N pixels left, right, up and down (test-time augmentation, "
        "1 + 4N times the compute, twice that with --flip; default: 0)",
    )
    predict.add_argument("--overwrite", action="store_true", help="replace existing output files")
    predict.add_argument("--debug", action="store_true", help="show tracebacks")
    predict.set_defaults(run=_predict, check=_check_predict_sources, parser=predict)


def _add_prepare(subcommands):
    prepare = subcommands.add_parser(
        "prepare",
        help="decode a config's data once into ArrayRecord shards that training streams (for datasets larger than memory)",
        description="Run a config's data section once: decode and check every image, resize it to the "
        "model's input and write the splits as ArrayRecord shards with a manifest.json into --output. "
        "Then train or evaluate with --set data.prepared=DIR: images are streamed from the shards, "
        "memory does not grow with the dataset. Killed, the same command resumes, keeping finished shards.",
    )
    prepare.add_argument("config", help="preset name or YAML file whose data and model sections say what to prepare, at which size")
    _add_config_flags(prepare)
    prepare.add_argument("--output", required=True, help="folder to write (new or empty, or an unfinished preparation to resume)")
    prepare.add_argument(
        "--split", dest="splits", action="append", metavar="NAME", help="a split to prepare (repeatable; default: the train and validation splits)"
    )
    prepare.add_argument("--encoding", choices=("auto", "raw", "png"), default="auto", help="raw pixels or PNG (default auto: raw up to 64x64x3)")
    prepare.add_argument("--shard-size", type=_positive_int, help="records per shard (default: about 64 MB of pixels)")
    prepare.add_argument("--workers", type=_positive_int, help="threads decoding shards (default: one per CPU core)")
    prepare.add_argument("--debug", action="store_true", help="show tracebacks")
    prepare.set_defaults(run=_prepare)


def _add_config_flags(parser):
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override a config value, e.g. --set training.epochs=3, or one entry of a mapping, "
        "e.g. --set training.augmentation.noise_stddev=0 (repeatable)",
    )
    parser.add_argument("--data", help="shortcut for --set data.path=PATH")


def _int_at_least(minimum, kind):
    """An argparse `type` taking integers from `minimum` up, with an error that says so."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be a {kind} integer, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "positive")
_non_negative_int = _int_at_least(0, "non-negative")


def _unit_number(text):
    """An argparse `type` taking numbers in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1], got {text!r}")
    return value


def _overrides(arguments, shortcuts):
    overrides = list(arguments.overrides)
    for key, value in shortcuts.items():
        if value is not None:
            overrides.append(f"{key}={value}")
    return overrides


def _train(arguments):
    import keras

    from keras_fer.files import first_missing
    from keras_fer.training import load_config, train
    from keras_fer.training.distillation import check_teachers
    from keras_fer.training.run import check_initial_weights, check_time_limit, worker_task
    from keras_fer.training.run_directory import describe_resume, resolve_run_directory

    config = load_config(
        arguments.config,
        _overrides(
            arguments,
            {
                "data.path": arguments.data,
                "training.epochs": arguments.epochs,
                "training.seed": arguments.seed,
                "training.time_limit": arguments.time_limit,
                "training.backend": arguments.backend,
                "output.path": arguments.output,
                "output.overwrite": "true" if arguments.overwrite else None,
                "distillation.teachers": json.dumps(arguments.teachers) if arguments.teachers else None,
            },
        ),
    )
    if config.training.backend not in (None, keras.backend.backend()):
        return _run_on(config.training.backend, arguments)
    # train() checks these too, but after resolve_run_directory has made the folder: fail before that.
    check_initial_weights(config.model.weights)
    check_teachers(config.distillation.teachers)
    check_time_limit(config.training)
    task = worker_task(config)
    if task is not None and not task.chief:  # the chief writes the run directory
        print(f"Training {config.name} as {task.type} {task.index} of the run in {config.output.path}", flush=True)
        train(config, verbose=2 if not sys.stdout.isatty() else "auto")
        print(f"Done: {task.type} {task.index}; the chief writes the run to {config.output.path}")
        return 0
    created = first_missing(config.output.path if config.output.path is not None else "runs")
    try:
        run_dir = resolve_run_directory(config)
        print(f"Training {config.name} into {run_dir} {describe_resume(run_dir, config)}".rstrip(), flush=True)
        run_dir, report = train(config, run_dir, verbose=2 if not sys.stdout.isatty() else "auto")
    except BaseException:
        _remove_if_empty(created)  # train() removes a failed run's directory; not the folders made above it
        raise
    for name, scores in report["per_class"].items():
        print(f"  {name:<9} recall {scores['recall']:.3f}  (support {scores['support']})")
    skipped = report["data"]["skipped"]
    if skipped["train"] or skipped["validation"]:
        print(
            f"Skipped {len(skipped['train'])} training and {len(skipped['validation'])} validation records "
            f"(data.on_error: skip); each is listed with its problem under data.skipped in {run_dir / 'report.json'}"
        )
    print(
        f"Validation accuracy {report['accuracy']:.4f}, balanced accuracy {report['balanced_accuracy']:.4f}, "
        f"macro-F1 {report['macro_f1']:.4f}. Run written to {run_dir}"
    )
    return 0


def _run_on(backend, arguments):
    """Runs this `keras-fer train` or `study` again with `KERAS_BACKEND=backend`: Keras takes its backend once, when first imported.

    The command itself is replaced by the new interpreter (POSIX); a caller
    of `main` gets the return code of a child process.
    """
    import importlib.util
    import subprocess

    import keras

    here = keras.backend.backend()
    if os.environ.get(_BACKEND_SWITCHED) == backend:  # KERAS_BACKEND was set and Keras still runs elsewhere
        raise ValueError(f"training.backend: {backend!r} was asked for, but Keras started on {here!r} with KERAS_BACKEND={backend}.")
    if importlib.util.find_spec(backend) is None:
        raise ValueError(f"training.backend: {backend!r} is not installed here (Keras runs on {here!r}): pip install {backend}, or leave it unset.")
    what = f"keras-fer {arguments.command}"
    print(f"Keras runs on {here} here; training.backend is {backend}: starting {what} again with KERAS_BACKEND={backend}", flush=True)
    # -P: not the current folder first on sys.path (a keras_fer/ or jax.py there would be imported instead), as for the console script.
    command = [sys.executable, *(["-P"] if sys.version_info >= (3, 11) else []), "-m", "keras_fer.cli", *arguments.argv]
    environment = {**os.environ, "KERAS_BACKEND": backend, _BACKEND_SWITCHED: backend}
    if arguments.entry_point and os.name == "posix":
        os.execve(sys.executable, command, environment)
    child = subprocess.Popen(command, env=environment)
    try:
        return child.wait()
    except KeyboardInterrupt:  # the child had Ctrl-C too: let it end its run cleanly (its backup, its atomic writes)
        return child.wait()


_BACKEND_SWITCHED = "KERAS_FER_BACKEND_SWITCHED"


def _prepare(arguments):
    import time

    from keras_fer.data.prepared import prepare
    from keras_fer.training.config import load_config, model_input_shape

    config = load_config(arguments.config, _overrides(arguments, {"data.path": arguments.data}))
    if config.data.prepared:
        raise ValueError(
            f"data.prepared is set ({config.data.prepared}): the config already reads a prepared dataset; prepare from its source config."
        )
    height, width, channels = model_input_shape(config.model)
    start = time.perf_counter()
    print(f"Preparing {config.name} at {height}x{width}x{channels} into {arguments.output}", flush=True)
    manifest = prepare(
        config.data,
        arguments.output,
        (height, width),
        channels,
        splits=arguments.splits,
        encoding=arguments.encoding,
        shard_size=arguments.shard_size,
        workers=arguments.workers,
        seed=config.training.seed,
        verbose=True,
    )
    print(
        f"Prepared {sum(split['examples'] for split in manifest['splits'].values())} images ({manifest['encoding']}) in "
        f"{time.perf_counter() - start:.1f} s. Train with --set data.prepared={arguments.output}"
    )
    return 0


def _remove_if_empty(folder):
    """Removes `folder`, made by this command, when it holds no file (only empty folders, if any)."""
    import shutil

    if folder is not None and folder.is_dir() and not any(path.is_file() for path in folder.rglob("*")):
        shutil.rmtree(folder, ignore_errors=True)


def _evaluate(arguments):
    from keras_fer.training.evaluate_command import evaluate_run

    output, report = evaluate_run(
        arguments.model,
        config=arguments.config,
        overrides=_overrides(arguments, {"data.path": arguments.data}),
        split=arguments.split,
        flip=arguments.flip,
        shift=arguments.shift,
        output=arguments.output,
        overwrite=arguments.overwrite,
    )
    print(
        f"{report['num_examples']} images: accuracy {report['accuracy']:.4f}, balanced accuracy "
        f"{report['balanced_accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}. Report written to {output}"
    )
    return 0


def _study(arguments):
    import keras

    from keras_fer.studies import load_study, run_study, write_summary

    study = load_study(arguments.study, _overrides(arguments, {"data.path": arguments.data}), arguments.variants, arguments.seeds)
    if not arguments.summary_only:
        backends = sorted({study.config(cell).training.backend or keras.backend.backend() for cell in study.cells()})
        if len(backends) > 1:
            raise ValueError(f"A study trains all its cells on one backend; its cells ask for training.backend {backends}.")
        if backends and backends[0] != keras.backend.backend():
            return _run_on(backends[0], arguments)
    output = arguments.output or os.path.join("runs", "studies", study.name)
    results = arguments.results or output
    if arguments.jobs > 1 and not arguments.summary_only:
        _study_jobs(arguments, output, results)
    elif not arguments.summary_only:
        _set_threads(arguments.threads)
        run_study(study, output, results, verbose=2 if not sys.stdout.isatty() else "auto", log=lambda line: print(line, flush=True))
    if not arguments.no_summary:
        summary = write_summary(study, results)
        print(f"Study {study.name}: {len(study.cells())} cells; results and summary in {summary.parent}")
    return 0


def _study_jobs(arguments, output, results):
    """Runs `arguments.jobs` copies of this `keras-fer study` command, which share the cells through locks."""
    import subprocess

    threads = arguments.threads or max(1, (os.cpu_count() or 1) // arguments.jobs)
    command = [sys.executable, "-m", "keras_fer.cli", "study", arguments.study, "--output", output, "--results", results]
    command += [f"--set={override}" for override in _overrides(arguments, {"data.path": arguments.data})]
    for flag in ("variants", "seeds"):
        if getattr(arguments, flag):
            command += [f"--{flag}", *map(str, getattr(arguments, flag))]
    command += ["--threads", str(threads), "--no-summary"]
    workers = [subprocess.Popen(command) for _ in range(arguments.jobs)]
    codes = [worker.wait() for worker in workers]
    if any(codes):
        raise ValueError(
            f"{sum(1 for code in codes if code)} of {len(codes)} study jobs failed (exit codes {codes}); run the command again to resume"
        )


def _set_threads(threads):
    """Sets the backend's threads (`--threads`): TensorFlow fixes them once it has run anything (a one-line error after that);
    torch takes them at any time; JAX reads them only at start-up, from `XLA_FLAGS`, so there they stay."""
    if threads is None:
        return
    import keras

    if keras.backend.backend() == "torch":
        import torch

        torch.set_num_threads(threads)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        threading = tf.config.threading
        if (threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads()) == (threads, threads):
            return
        try:
            threading.set_intra_op_parallelism_threads(threads)
            threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            raise ValueError(
                f"--threads: TensorFlow has already run in this process and keeps the threads it started with. Received: --threads={threads}"
            ) from None


def _export(arguments):
    from keras_fer.backend import check_tensorflow_backend

    check_tensorflow_backend("keras-fer export")
    from keras_fer.export.command import export_model  # imports TensorFlow

    path = export_model(
        arguments.model,
        arguments.format,
        arguments.out,
        arguments.quantize,
        arguments.representative,
        _overrides(arguments, {"data.path": arguments.data}),
    )
    print(f"Exported {arguments.format} ({arguments.quantize}) to {path}")
    return 0


_MAX_CAMERA_INDEX = 2**31 - 1  # keras_fer.inference.stream.MAX_CAMERA_INDEX, without importing TensorFlow
_THREADS_LIMIT = 256  # keras_fer.export.litert.THREADS_LIMIT, for every runtime's threads


def _thread_count(text):
    """An argparse `type` taking thread counts: 1 to `_THREADS_LIMIT` (100,000 ended in std::bad_alloc, not an error)."""
    value = _positive_int(text)
    if value > _THREADS_LIMIT:
        raise argparse.ArgumentTypeError(f"must be a number of threads from 1 to {_THREADS_LIMIT}, got {text!r}")
    return value


def _camera_index(text):
    """An argparse `type` taking camera indices: integers from 0 to OpenCV's largest."""
    value = _non_negative_int(text)
    if value > _MAX_CAMERA_INDEX:
        raise argparse.ArgumentTypeError(f"must be a camera index from 0 to {_MAX_CAMERA_INDEX}, got {text!r}")
    return value


def _check_predict_sources(arguments):
    if bool(arguments.paths) == (arguments.camera is not None):
        arguments.parser.error("give PATHs to read or --camera INDEX, one of the two")


def _predict(arguments):
    from keras_fer.backend import check_tensorflow_backend
    from keras_fer.inference import Recognizer
    from keras_fer.inference.classifiers import runs_on_litert
    from keras_fer.inference.detection import makes_blazeface
    from keras_fer.inference.explain import GRAD_CAM
    from keras_fer.inference.predict_command import Progress, format_table, predict_camera, predict_files, printable, write_csv, write_json
    from keras_fer.models import WEIGHTS

    _check_outputs(arguments)
    if arguments.explain and arguments.camera is not None:
        raise ValueError("--explain works on image files, not on --camera")
    if arguments.explain:
        check_tensorflow_backend(GRAD_CAM)
    # With --explain a shipped model runs as its .keras file, so that the table, JSON and overlays give one label per face.
    shipped = arguments.model is None or arguments.model in WEIGHTS
    runtime = "keras" if arguments.explain and shipped and arguments.runtime is None else arguments.runtime
    on_litert = runs_on_litert(arguments.model, runtime)
    litert = on_litert or makes_blazeface(arguments.detector)
    if arguments.threads is not None:
        if not on_litert:
            _set_threads(arguments.threads)  # TensorFlow's, for .keras and SavedModel models
        if arguments.detector == "haar":
            import cv2

            cv2.setNumThreads(arguments.threads)
    recognizer = Recognizer(
        model=arguments.model,
        runtime=runtime,
        num_threads=arguments.threads if litert else None,
        detector=arguments.detector,
        min_score=arguments.min_score,
        align=not arguments.no_align,
        basic_classes=False if arguments.all_classes else None,
        batch_size=arguments.batch_size,
        flip=arguments.flip,
        shift=arguments.shift,
    )
    if arguments.explain and recognizer.classifier.model is None:
        raise ValueError(f"--explain needs a .keras model; {recognizer.classifier.path} is not one.")
    if arguments.camera is not None:
        records, problems = predict_camera(recognizer, arguments.camera, arguments.every or 1, arguments.annotate), []
    else:
        records, problems = predict_files(recognizer, arguments.paths, arguments.every or 10, arguments.annotate, arguments.explain, Progress(0))
    if arguments.json:
        write_json(records, arguments.json)
    if arguments.csv:
        write_csv(records, arguments.csv, recognizer.class_names)
    if not (arguments.json or arguments.csv):
        print(format_table(records))
    for path, message in problems:
        print(f"keras-fer predict: {printable(path)}: {message}", file=sys.stderr)
    faces = sum(len(record["faces"]) for record in records)
    print(f"{faces} faces in {len(records)} images or frames; {len(problems)} files could not be read.", file=sys.stderr)
    return 1 if problems else 0


def _check_outputs(arguments):
    """Fails before any work when an output cannot be written, would replace files without --overwrite, or would touch an input."""
    outputs = {flag: getattr(arguments, flag) for flag in ("json", "csv", "annotate", "explain") if getattr(arguments, flag)}
    for flag, path in outputs.items():
        _check_apart_from_inputs(flag, path, arguments.paths, folder=flag in ("annotate", "explain"))
    if "json" in outputs and "csv" in outputs and os.path.realpath(arguments.json) == os.path.realpath(arguments.csv):
        raise ValueError(f"--json and --csv are the same file {arguments.csv}; expected two different files.")
    for flag in ("json", "csv"):
        path = getattr(arguments, flag)
        if path:
            _check_output_file(flag, path, arguments.overwrite)
    for flag in ("annotate", "explain"):
        folder = getattr(arguments, flag)
        if folder and os.path.isfile(folder):
            raise ValueError(f"--{flag} {folder} is a file, not a folder.")
        if folder and os.path.isdir(folder) and os.listdir(folder) and not arguments.overwrite:
            raise ValueError(f"--{flag} {folder} is not empty; pass --overwrite to write into it.")
        if folder:
            existing = os.path.abspath(folder)
            while not os.path.exists(existing):
                existing = os.path.dirname(existing)
            _check_writable_folder(flag, folder, existing)


def _check_output_file(flag, path, overwrite):
    """`--json`/`--csv`: a file to create or (with --overwrite) replace, through a link into its target's folder, or a device
    or FIFO (`/dev/stdout`), written into as it is."""
    target = os.path.realpath(path)
    if os.path.isdir(target):
        raise ValueError(f"--{flag} {path} is a folder; give the path of a file to write.")
    if os.path.exists(target) and not os.path.isfile(target):
        if not os.access(target, os.W_OK):
            raise ValueError(f"--{flag} {path}: cannot write into it (permission denied).")
        return
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"--{flag} {path} exists; pass --overwrite to replace it.")
    _check_writable_folder(flag, path, os.path.dirname(target))


def _check_apart_from_inputs(flag, path, inputs, folder):
    """Raises a one-line `ValueError` when output `--flag path` is an input, lies in an input folder or (a `folder`) holds an input.

    --overwrite never makes it right: predict would replace the photos it reads, or read its
    own outputs on the next run.
    """
    target = os.path.realpath(path)
    for given in inputs:
        source = os.path.realpath(given)
        if target == source:
            raise ValueError(f"--{flag} {path} is the input {given}; expected an output outside the inputs (--overwrite never replaces inputs).")
        if os.path.isdir(source) and _inside(target, source):
            raise ValueError(f"--{flag} {path} is inside the input folder {given}; expected an output outside the inputs.")
        if folder and _inside(source, target):
            raise ValueError(f"--{flag} {path} holds the input {given}; expected an output folder apart from the inputs.")


def _inside(path, folder):
    return path != folder and os.path.commonpath([path, folder]) == folder


def _check_writable_folder(flag, path, folder):
    """Raises a one-line `ValueError` unless a file can be created in `folder` (the folder of `--flag path`)."""
    import tempfile

    if not os.path.isdir(folder):
        raise ValueError(f"--{flag} {path}: the folder {folder} does not exist.")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".keras-fer-write-test-"):
            pass
    except OSError as error:
        raise ValueError(f"--{flag} {path}: cannot write in {folder} ({error.strerror}).") from None


if __name__ == "__main__":
    sys.exit(main())
