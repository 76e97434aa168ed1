import json
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from keras_fer.cli import main
from keras_fer.models import FERModel


@pytest.mark.slow
def test_train_writes_a_run_directory(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--output", str(run_dir)]) == 0
    assert sorted(p.name for p in run_dir.iterdir()) == ["config.json", "history.csv", "model.keras", "summary.json"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["training_class_counts"] == [195, 21, 200, 352, 235, 155, 242]
    recall = summary["validation_per_class_recall"]
    assert len(recall) == 7 and summary["validation_balanced_accuracy"] == pytest.approx(sum(recall) / 7, abs=1e-3)
    assert isinstance(keras.models.load_model(run_dir / "model.keras"), FERModel)
    assert len((run_dir / "history.csv").read_text().strip().splitlines()) == 2
    assert f"Run written to {run_dir}" in capsys.readouterr().out


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
    assert "train" in capsys.readouterr().out


def test_console_script_is_installed():
    executable = Path(sys.executable).parent / "keras-fer"
    assert executable.is_file()
    result = subprocess.run([str(executable), "train", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--overwrite" in result.stdout
