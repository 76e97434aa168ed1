"""`keras-fer evaluate`: a run's or a saved model's report on a dataset split."""

import dataclasses
import shutil
from pathlib import Path

from keras_fer.files import first_missing
from keras_fer.models.loading import float32_copy, load_model_file
from keras_fer.models.tta import check_shift
from keras_fer.training.config import load_config
from keras_fer.training.report import write_report
from keras_fer.training.run_directory import CONFIG_FILE, HISTORY_FILE, prepare_report_directory, resolve_model_file
from keras_fer.training.splits import load_config_split


def evaluate_run(model, config=None, overrides=(), split=None, flip=False, output=None, overwrite=False, batch_size=64, shift=0):
    """Evaluates a run directory or a `.keras` file on one split of a dataset.

    Args:
        model: a run directory (holding `model.keras` and `config.yaml`) or
            a `.keras` file.
        config: preset name or YAML file whose `data` section names the
            dataset; default: the run's `config.yaml`.
        overrides: `"section.key=value"` strings, as for `load_config`.
        split: the split to evaluate; default: `data.validation_split`.
        flip: horizontal-flip test-time augmentation.
        shift: test-time augmentation by moving the images 1 to `shift`
            pixels in each direction (`keras_fer.models.predict_probabilities`).
        output: the report directory; default `<run>/evaluate-<split>`
            (`<file stem>-evaluate-<split>` next to a `.keras` file, or in
            the current folder for a file installed with keras-fer, whose
            package is never written to), with `-flip` and `-shift<N>`
            appended when they are used. An evaluation that fails removes
            the folder it created.
        overwrite: replace an existing report in `output`.
        batch_size: prediction batch size.

    Returns:
        `(output, report)`.
    """
    model_path, run_dir = resolve_model_file(model)
    if config is None:
        if run_dir is None:
            raise ValueError(f"{model} is a model file: pass --config (a preset or YAML naming the data).")
        config = run_dir / CONFIG_FILE
    resolved = load_config(config, overrides)
    split = split or resolved.data.validation_split
    name = f"evaluate-{Path(split).stem}{'-flip' if flip else ''}{f'-shift{shift}' if shift else ''}"
    output = Path(output) if output else _default_output(model_path, run_dir, name)
    loaded = float32_copy(load_model_file(model_path))  # as predictions and exports compute
    height, width, channels = loaded.input_shape[1:]
    check_shift(shift, (height, width))
    created = first_missing(output)
    prepare_report_directory(output, overwrite)
    try:
        dataset = load_config_split(resolved.data, split, (height, width), channels, resolved.training.seed)
        history = run_dir / HISTORY_FILE if run_dir else None
        data = {**dataclasses.asdict(resolved.data), "split": split}
        report = write_report(loaded, dataset, output, data, model_path, history, batch_size, flip, shift)
    except BaseException:
        if created is not None:  # a failed evaluation leaves no folder behind that it made
            shutil.rmtree(created, ignore_errors=True)
        raise
    return output, report


def _default_output(model_path, run_dir, name):
    if run_dir is not None:
        return run_dir / name
    report = f"{model_path.stem}-{name}"
    package = Path(__file__).resolve().parents[1]
    return Path(report) if package in model_path.resolve().parents else model_path.with_name(report)
