import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
NEEDS_FILES = ("load_fer2013(", "Recognizer.from_file(")


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


def test_recognizer_example_names_real_methods():
    from keras_fer import Recognizer

    block = next(b for b in re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL) if "Recognizer.from_file(" in b)
    for name in re.findall(r"recognizer\.(\w+)\(", block) + ["from_file"]:
        assert callable(getattr(Recognizer, name)), name


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_python_examples_run_as_written(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(python_blocks()[index], f"README.md python block {index}", "exec"), namespace)
    if "model" in namespace and "probabilities" in namespace:
        assert namespace["probabilities"].shape == (4, 7)
        assert (tmp_path / "tiny.keras").is_file()


def test_setup_and_test_commands_are_documented():
    assert "pip install -e .\n" in README
    assert 'pip install -e ".[dev]" && pytest' in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -e ".[dev]"' in ci and "pytest" in ci


def test_parameter_table_matches_the_code():
    table = runpy.run_path(str(ROOT / "benchmarks" / "parameter_counts.py"))["markdown_table"]()
    assert table in README
