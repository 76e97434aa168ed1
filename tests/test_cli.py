import json
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from keras_fer.cli import main
from keras_fer.models import FERModel


@pytest.mark.slow
def test_train_and_evaluate_commands(tmp_path, capsys):
    run_dir = tmp_path / "run"
    small = "data.options={train_samples_per_class: [12, 4, 12, 12, 12, 12, 12], validation_samples_per_class: 3}"
    assert main(["train", "--epochs", "1", "--output", str(run_dir), "--set", small]) == 0
    out = capsys.readouterr().out
    assert f"Training synthetic into {run_dir}" in out and f"Run written to {run_dir}" in out
    report = json.loads((run_dir / "report.json").read_text())
    assert f"balanced accuracy {report['balanced_accuracy']:.4f}" in out
    assert isinstance(keras.models.load_model(run_dir / "model.keras"), FERModel)

    assert main(["evaluate", str(run_dir), "--flip"]) == 0
    flipped = json.loads((run_dir / "evaluate-val-flip" / "report.json").read_text())
    assert flipped["test_time_flip"] and flipped["num_examples"] == report["num_examples"] == 21
    assert sorted(p.name for p in (run_dir / "evaluate-val-flip").iterdir()) == [
        "confusion_matrix.png", "report.json", "training_curves.png"
    ]
    assert main(["evaluate", str(run_dir), "--flip"]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert main(["evaluate", str(run_dir / "model.keras"), "--config", str(run_dir / "config.yaml"), "--split", "train"]) == 0
    on_train = json.loads((tmp_path / "run" / "model-evaluate-train" / "report.json").read_text())
    assert on_train["num_examples"] == 76 and on_train["data"]["split"] == "train"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["evaluate", "nowhere"], "nowhere is neither a run directory nor a .keras file"),
        (["train", "--set", "training.epochs=-1"], "`synthetic: training.epochs` must lie in [1, inf]"),
        (["train", "mine.yaml"], "Config mine.yaml is neither a YAML file nor a preset"),
        (["train", "fer2013"], "`data.path` is required for dataset 'fer2013'"),
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
