import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_package_tests_benchmarks_and_tools_follow_the_ruff_settings_in_pyproject(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "keras_fer", "tests", "benchmarks", "tools"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
