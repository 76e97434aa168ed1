import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


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
