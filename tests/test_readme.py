import configparser
import re
import runpy
import shutil
from pathlib import Path

import pytest
from matplotlib import cbook

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
NEEDS_FILES = ("load_fer2013(", 'stream("clip.mp4"', "stream(0")  # data, a video, a camera


def python_blocks():
    """README's Python examples that run without dataset, photo or model files."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)
    return [block for block in blocks if not any(marker in block for marker in NEEDS_FILES)]


def test_dataset_example_names_real_functions():
    from keras_fer import data

    block = next(b for b in re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL) if "load_fer2013(" in b)
    for name in re.findall(r"data\.((?:\w+\.)*\w+)\(", block):
        target = data
        for part in name.split("."):
            target = getattr(target, part)
        assert callable(target), name


def test_recognizer_methods_in_the_text_exist():
    from keras_fer import Recognizer

    for name in set(re.findall(r"[rR]ecognizer(?:\(\))?\.(\w+)\(", README)):
        assert callable(getattr(Recognizer, name)), name


def test_command_lines_parse():
    from keras_fer.cli import _parser

    lines = [line for block in re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL) for line in block.splitlines()]
    commands = [line.split("#")[0].split()[1:] for line in lines if line.startswith("keras-fer ")]
    assert {command[0] for command in commands} == {"train", "evaluate", "prepare", "study", "predict", "export"}
    for command in commands:
        assert _parser().parse_args(command).run is not None


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_python_examples_run_as_written(index, tmp_path, monkeypatch):
    shutil.copy(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(python_blocks()[index], f"README.md python block {index}", "exec"), namespace)
    if "model" in namespace and "probabilities" in namespace:
        assert namespace["probabilities"].shape == (4, 7)
        assert (tmp_path / "tiny.keras").is_file()
    if "faces" in namespace and "Recognizer()" in python_blocks()[index]:
        assert len(namespace["faces"]) == 1 and namespace["faces"][0]["label"] in namespace["faces"][0]["scores"]


def test_setup_and_test_commands_are_documented():
    assert "pip install -e .\n" in README
    assert 'pip install -e ".[dev]" && pytest' in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[dev]"' in ci and "pytest" in ci
    # CI's 2 cores run the suite in two processes (half the time of one); the dev extra brings the plugin.
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert "-n 2 --dist loadfile" in setup["tool:pytest"]["addopts"] and "pytest-xdist>=3" in setup["options.extras_require"]["dev"]


def test_parameter_table_matches_the_code():
    table = runpy.run_path(str(ROOT / "benchmarks" / "parameter_counts.py"))["markdown_table"]()
    assert table in README
