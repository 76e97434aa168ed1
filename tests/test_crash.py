"""A training run killed or out of disk at the worst moments resumes from its last completed epoch."""

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from keras_fer import files
from keras_fer.cli import main
from tests.testing import RUN_FILES, SMALL, history_epochs

EPOCHS = 2
ARGUMENTS = ["train", "--epochs", str(EPOCHS), "--set", "training.monitor=last", *[item for setting in SMALL for item in ("--set", setting)]]


def fingerprint(folder):
    return {path.name: hashlib.sha256(path.read_bytes()).hexdigest() for path in sorted(Path(folder).iterdir()) if path.is_file()}


def assert_complete(run_dir):
    assert sorted(path.name for path in run_dir.iterdir()) == RUN_FILES
    assert history_epochs(run_dir) == list(range(EPOCHS))
    assert json.loads((run_dir / "report.json").read_text())["num_examples"] == 21


@pytest.mark.slow
@pytest.mark.parametrize(
    "write, resumed_after",
    [
        ("model.keras:2", 1),  # epoch 2's checkpoint written, not yet in place; the backup holds epoch 1
        (f"model.keras:{EPOCHS + 1}", EPOCHS),  # the final re-save without optimizer state
        ("report.json:1", EPOCHS),  # the report, written last
    ],
)
def test_a_run_killed_while_it_replaces_a_file_resumes_and_ends_complete(write, resumed_after, tmp_path):
    command = [str(Path(sys.executable).parent / "keras-fer"), *ARGUMENTS, "--output", str(tmp_path / "run")]
    paused = tmp_path / "run" / f"{write.split(':')[0]}.paused"
    environment = {**os.environ, files.PAUSE_VARIABLE: write}
    process = subprocess.Popen(command, cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    while not paused.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    assert process.poll() is None, process.stdout.read()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    paused.unlink()
    run_dir = tmp_path / "run"
    assert any(files.TEMPORARY.match(path.name) for path in run_dir.iterdir())  # the new file, never put in place
    assert not (run_dir / "report.json").exists() or write != "report.json:1"

    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"resuming after epoch {resumed_after}" in result.stdout
    assert_complete(run_dir)


def test_a_full_disk_while_saving_is_one_line_and_the_next_run_resumes(tmp_path, monkeypatch, capsys):
    sync, saves = files._sync, []

    def full_at_the_final_save(path):
        if path.name.startswith(".model.") and path.suffix == ".keras":
            saves.append(path)
            if len(saves) == EPOCHS + 1:  # after one checkpoint an epoch
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        sync(path)

    monkeypatch.setattr(files, "_sync", full_at_the_final_save)
    run_dir = tmp_path / "run"
    assert main([*ARGUMENTS, "--output", str(run_dir)]) == 1
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and error.startswith("keras-fer train: error: No space left on device: ") and "model" in error
    assert not any(files.TEMPORARY.match(path.name) for path in run_dir.iterdir())
    assert (run_dir / "backup").is_dir() and not (run_dir / "report.json").exists()
    checkpoint = fingerprint(run_dir)["model.keras"]

    monkeypatch.setattr(files, "_sync", sync)
    assert main([*ARGUMENTS, "--output", str(run_dir)]) == 0
    assert f"resuming after epoch {EPOCHS}" in capsys.readouterr().out
    assert_complete(run_dir)
    assert fingerprint(run_dir)["model.keras"] != checkpoint  # re-saved without optimizer state


def test_stale_temporaries_are_removed_but_nothing_else(tmp_path):
    (tmp_path / ".model.99.tmp.keras").write_text("half")
    (tmp_path / ".export.99.tmp").mkdir()
    (tmp_path / ".model.keras.99.old").write_text("old")
    (tmp_path / ".run.lock").write_text("")
    (tmp_path / "model.keras").write_text("mine")
    files.remove_temporaries(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == [".run.lock", "model.keras"]
