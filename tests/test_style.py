import subprocess
import sys
from pathlib import Path

import pytest

import keras_fer

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["lint", "format"])
def test_package_tests_benchmarks_and_tools_follow_the_ruff_settings_in_pyproject(command):
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "keras_fer", "tests", "benchmarks", "tools"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_public_api_has_type_hints_and_the_package_says_so():
    import inspect

    from keras_fer.data import load_prepared, prepare
    from keras_fer.export.exporters import export_saved_model, export_tflite
    from keras_fer.inference import BlazeFaceDetector, Recognizer, aligned_crop, load_classifier, make_detector
    from keras_fer.layers import CBAMBlock, UncertaintyMixing
    from keras_fer.losses import ClassBalancedLoss
    from keras_fer.models import from_preset, list_presets

    public = [prepare, load_prepared, export_saved_model, export_tflite, aligned_crop, load_classifier, make_detector, from_preset, list_presets]
    public += [cls.__init__ for cls in (Recognizer, BlazeFaceDetector, CBAMBlock, UncertaintyMixing, ClassBalancedLoss)]
    public += [getattr(Recognizer, name) for name in ("analyze", "predict_faces", "detect", "face_crop", "stream", "explain")]
    for function in public:
        signature = inspect.signature(function)
        bare = [
            name
            for name, parameter in signature.parameters.items()
            if name != "self" and parameter.kind not in (parameter.VAR_KEYWORD,) and parameter.annotation is inspect.Parameter.empty
        ]
        assert not bare and signature.return_annotation is not inspect.Signature.empty, (
            f"{function.__qualname__}: {bare or 'return'} without a type hint"
        )
    assert (Path(keras_fer.__file__).parent / "py.typed").is_file()
