import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_fer.cli import main
from keras_fer.data import load_split
from keras_fer.models import FERModel, tta_views
from keras_fer.training import confusion_matrix, load_config
from tests.testing import RUN_FILES, SMALL, history_epochs


@pytest.mark.slow
def test_train_writes_a_complete_run_that_evaluate_reads(tmp_path, capsys):
    run_dir = tmp_path / "run"
    options = [*SMALL, "training.tensorboard=true", "training.early_stopping_patience=3"]
    assert main(["train", "--epochs", "2", "--output", str(run_dir), *[a for o in options for a in ("--set", o)]]) == 0
    out = capsys.readouterr().out
    assert f"Training synthetic into {run_dir}" in out and f"Run written to {run_dir}" in out
    assert sorted(p.name for p in run_dir.iterdir()) == sorted([*RUN_FILES, "tensorboard"])
    assert any((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert history_epochs(run_dir) == [0, 1]
    model = keras.models.load_model(run_dir / "model.keras")
    assert isinstance(model, FERModel) and getattr(model, "optimizer", None) is None
    report = json.loads((run_dir / "report.json").read_text())
    assert f"balanced accuracy {report['balanced_accuracy']:.4f}" in out
    validation = load_split("synthetic", None, "val", options=load_config("synthetic", SMALL).data.options, image_size=(32, 32))
    predictions = model.predict(validation.images, verbose=0)
    assert report["confusion_matrix"] == confusion_matrix(validation.labels, predictions, 7).tolist()
    assert report["num_examples"] == 21 and report["data"]["split"] == "val"
    assert report["class_names"] == list(validation.class_names)
    recalls = [report["per_class"][name]["recall"] for name in validation.class_names]
    assert report["balanced_accuracy"] == pytest.approx(np.mean(recalls), abs=1e-3)

    assert main(["evaluate", str(run_dir), "--flip"]) == 0
    flipped = json.loads((run_dir / "evaluate-val-flip" / "report.json").read_text())
    assert flipped["test_time_flip"] and flipped["num_examples"] == 21
    assert sorted(p.name for p in (run_dir / "evaluate-val-flip").iterdir()) == ["confusion_matrix.png", "report.json", "training_curves.png"]
    assert main(["evaluate", str(run_dir), "--flip"]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir), "--shift", "1"]) == 0
    shifted = json.loads((run_dir / "evaluate-val-shift1" / "report.json").read_text())
    moved = np.mean([model.predict(view, verbose=0) for view in tta_views(validation.images, shift=1)], axis=0)
    assert shifted["test_time_shift"] == 1 and not shifted["test_time_flip"] and flipped["test_time_shift"] == 0
    assert shifted["confusion_matrix"] == confusion_matrix(validation.labels, moved, 7).tolist()
    assert main(["evaluate", str(run_dir), "--flip", "--shift", "16"]) == 2
    assert "`shift` must be an integer from 0 to 15" in capsys.readouterr().err
    assert not (run_dir / "evaluate-val-flip-shift16").exists()
    assert main(["evaluate", str(run_dir / "model.keras"), "--config", str(run_dir / "config.yaml"), "--split", "train"]) == 0
    on_train = json.loads((tmp_path / "run" / "model-evaluate-train" / "report.json").read_text())
    assert on_train["num_examples"] == 76 and on_train["data"]["split"] == "train"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["evaluate", "nowhere"], "nowhere is neither a run directory nor a .keras file"),
        (["train", "--set", "training.epochs=-1"], "`--set training.epochs` must lie in [1, inf]"),
        (["train", "mine.yaml"], "Config mine.yaml is neither a YAML file nor a preset"),
        (["train", "fer2013"], "`data.path` is required for dataset 'fer2013'"),
        (["train", "--teachers", "a.keras", "gone.keras"], "distillation.teachers: a.keras does not exist"),
    ],
)
def test_user_errors_are_one_line(arguments, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(arguments) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "results.txt").write_text("precious")
    assert main(["train", "--output", str(tmp_path)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["results.txt"]


def test_unwritable_output_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["train", "--output", str(blocker / "run")]) == 2
    assert "is not writable" in capsys.readouterr().err
    assert main(["train", "--output", str(blocker)]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "results.txt").write_text("precious")
    with pytest.raises(ValueError, match="already holds a run"):
        main(["train", "--output", str(tmp_path), "--debug"])


@pytest.mark.parametrize("arguments", [["train", "--epochs", "0"], ["train", "--epochs", "x"], ["fly"]])
def test_bad_arguments_exit_with_usage_error(arguments, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert "train" in out and "evaluate" in out


@pytest.mark.parametrize("command", ["train", "evaluate", "export"])
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "--debug" in capsys.readouterr().out


def test_console_script_is_installed():
    executable = Path(sys.executable).parent / "keras-fer"
    assert executable.is_file()
    result = subprocess.run([str(executable), "train", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--overwrite" in result.stdout


def test_export_on_another_backend_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert main(["export", str(tmp_path / "model.keras"), "--out", str(tmp_path / "exported")]) == 2
    assert "keras-fer export needs the TensorFlow backend. Received: KERAS_BACKEND='jax'" in capsys.readouterr().err
    assert not (tmp_path / "exported").exists()


def test_skipped_records_are_counted_and_listed(tmp_path, capsys):
    from PIL import Image

    data = tmp_path / "faces"
    for split in ("train", "val"):
        for index, name in enumerate(("cat", "dog")):
            (data / split / name).mkdir(parents=True)
            for copy in range(4):
                Image.fromarray(np.full((32, 32), 40 + 150 * index + copy, "uint8")).save(data / split / name / f"{copy}.png")
    (data / "train" / "dog" / "broken.png").write_bytes(b"not a png")
    flags = ["--set", "data.dataset=folder", "--set", "data.on_error=skip", "--set", "data.options={class_names: [cat, dog]}"]
    assert main(["train", "--data", str(data), "--epochs", "1", "--output", str(tmp_path / "run"), *flags]) == 0
    out = capsys.readouterr().out
    assert "Skipped 1 training and 0 validation records (data.on_error: skip)" in out
    skipped = json.loads((tmp_path / "run" / "report.json").read_text())["data"]["skipped"]
    assert skipped["validation"] == [] and len(skipped["train"]) == 1 and "broken.png" in skipped["train"][0][0]


def test_a_rejected_set_value_names_the_flag(capsys):
    assert main(["train", "--set", "training.epochs=ten"]) == 2
    assert capsys.readouterr().err.strip() == "keras-fer train: error: `--set training.epochs` must be int. Received: 'ten' (str)"
    assert main(["train", "--set", "model.input_shape=[32, 32]"]) == 2
    assert "`--set model.input_shape` must be a list of 3 integers (height, width, channels)" in capsys.readouterr().err


def test_threads_reach_the_torch_backend(monkeypatch):
    import types

    from keras_fer.cli import _set_threads

    taken = []
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(set_num_threads=taken.append))  # torch is a benchmark extra
    _set_threads(3)
    _set_threads(None)
    assert taken == [3]


def test_evaluating_a_shipped_model_writes_its_report_here_not_into_the_package(tmp_path, monkeypatch):
    from keras_fer.models import WEIGHTS
    from keras_fer.training.evaluate_command import evaluate_run

    assets = WEIGHTS["fer2013"].path.parent
    before = sorted(path.name for path in assets.iterdir())
    monkeypatch.chdir(tmp_path)
    output, report = evaluate_run(WEIGHTS["fer2013"].path, config="synthetic", overrides=["data.options={validation_samples_per_class: 2}"])
    assert output == Path("fer2013-evaluate-val") and (tmp_path / output / "report.json").is_file() and report["num_examples"] == 14
    assert sorted(path.name for path in assets.iterdir()) == before  # was written to keras_fer/assets/fer2013-evaluate-val
