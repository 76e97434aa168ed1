import zipfile

import pytest

from keras_fer import Recognizer
from keras_fer.cli import main
from keras_fer.models import load_model_file
from keras_fer.training import load_config, train
from tests.testing import SMALL


def _bad_files(folder, model_file):
    data = model_file.read_bytes()
    (folder / "empty.keras").write_bytes(b"")
    (folder / "truncated.keras").write_bytes(data[: len(data) // 2])
    (folder / "text.keras").write_text("not a model")
    with zipfile.ZipFile(model_file) as source, zipfile.ZipFile(folder / "no_config.keras", "w") as target:
        for name in source.namelist():
            if name != "config.json":
                target.writestr(name, source.read(name))
    (folder / "folder.keras").mkdir()
    return {
        "empty.keras": "the file is empty",
        "truncated.keras": "not a .keras archive: truncated, or another format",
        "text.keras": "not a .keras archive: truncated, or another format",
        "no_config.keras": "the archive has no config.json",
        "folder.keras": "it is a folder; a .keras model is one file",
        "missing.keras": "it does not exist",
    }


def test_every_bad_keras_file_is_one_error_naming_it(model_file, tmp_path):
    for name, reason in _bad_files(tmp_path, model_file).items():
        with pytest.raises(ValueError) as error:
            load_model_file(tmp_path / name)
        assert str(error.value) == f"not a keras-fer model file: {tmp_path / name} ({reason})"
    assert load_model_file(model_file).output_shape == (None, 7)


def test_commands_and_recognizer_give_the_same_one_line_error(model_file, tmp_path, capsys):
    _bad_files(tmp_path, model_file)
    path = tmp_path / "truncated.keras"
    expected = f"not a keras-fer model file: {path} (not a .keras archive: truncated, or another format)"
    with pytest.raises(ValueError, match="not a keras-fer model file"):
        Recognizer.from_file(path)
    for command in (
        ["evaluate", str(path), "--config", "synthetic", "--output", str(tmp_path / "report")],
        ["export", str(path), "--out", str(tmp_path / "m.tflite")],
        ["predict", str(model_file), "--model", str(path)],
    ):
        assert main(command) == 2
        error = capsys.readouterr().err.strip()
        assert error == f"keras-fer {command[0]}: error: {expected}", command
    assert not (tmp_path / "report").exists() and not (tmp_path / "m.tflite").exists()


def test_truncated_initial_weights_are_named(model_file, tmp_path):
    (tmp_path / "half.keras").write_bytes(model_file.read_bytes()[:5000])
    config = load_config("synthetic", [*SMALL, f"model.weights={tmp_path / 'half.keras'}", f"output.path={tmp_path / 'run'}"])
    with pytest.raises(ValueError, match="model.weights: not a keras-fer model file: .*half.keras"):
        train(config, verbose=0)
    assert not (tmp_path / "run").exists()


def test_a_corrupt_saved_model_is_named(tmp_path):
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "saved_model.pb").write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match=f"not a keras-fer model file: {tmp_path / 'saved'} \\(a SavedModel that does not load"):
        Recognizer.from_file(tmp_path / "saved")
