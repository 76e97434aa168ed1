"""keras-fer as a PyPI user gets it: `python -m build`, the wheel installed into a fresh virtual environment, no repository on the path."""

import json
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.testing import PHOTO

REPOSITORY = Path(__file__).resolve().parents[1]
ASSETS = (
    "keras_fer/NOTICE",
    "keras_fer/py.typed",
    "keras_fer/assets/fer2013.keras",
    "keras_fer/assets/ferplus.keras",
    "keras_fer/assets/fer2013_dynamic_int8.tflite",
    "keras_fer/assets/fer2013_dynamic_int8.json",
    "keras_fer/assets/ferplus_dynamic_int8.tflite",
    "keras_fer/assets/ferplus_dynamic_int8.json",
    "keras_fer/assets/face_detection_short_range.tflite",
    "keras_fer/assets/face_detection_full_range.tflite",
    "keras_fer/configs/fer2013.yaml",
    "keras_fer/configs/synthetic.yaml",
    "keras_fer/configs/studies/ablation_fer2013.yaml",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(REPOSITORY)], check=True, capture_output=True, cwd=out)
    return out


def test_the_sdist_and_wheel_hold_every_asset(built):
    [wheel], [sdist] = list(built.glob("*.whl")), list(built.glob("*.tar.gz"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert set(ASSETS) <= names
    assert not any(name.startswith(("tests/", "saved_models/", "benchmarks/")) for name in names)
    with tarfile.open(sdist) as archive:  # setuptools < 69 names it keras-fer-*, later ones keras_fer-*
        inside = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"setup.cfg", "pyproject.toml", "README.md", "keras_fer/inference/blazeface.py", *ASSETS} <= inside


def test_every_declared_requirement_is_met_and_every_direct_import_is_declared():
    declared = {Requirement(text).name.lower() for text in metadata.requires("keras-fer") if "extra ==" not in text}
    for text in metadata.requires("keras-fer"):
        requirement = Requirement(text)
        if requirement.marker is None:
            assert requirement.specifier.contains(metadata.version(requirement.name), prereleases=True), text
    imported = {
        "numpy",
        "keras",
        "tensorflow",
        "opencv-python-headless",
        "pillow",
        "pyyaml",
        "ai-edge-litert",
        "matplotlib",
        "array-record",
        "tqdm",
        "flatbuffers",
    }
    assert imported <= declared


@pytest.mark.slow
def test_the_wheel_installed_in_a_fresh_environment_runs(built, tmp_path):
    [wheel] = built.glob("*.whl")
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=False)
    python = environment / "bin" / "python"
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # keras-fer's dependencies, already installed; not keras-fer
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet", str(wheel)], check=True)
    env = {"PATH": f"{environment / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    work = tmp_path / "elsewhere"
    work.mkdir()

    def run(*command):
        return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)

    assert "train" in run("keras-fer", "--help").stdout
    script = (
        "import json, keras_fer; from keras_fer import Recognizer; "
        f"faces = Recognizer().analyze({str(PHOTO)!r}); "
        "print(json.dumps({'file': keras_fer.__file__, 'faces': len(faces), 'label': faces[0]['label'], 'score': faces[0]['face_score']}))"
    )
    result = run(str(python), "-c", script)
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["file"].startswith(str(site)) and found["faces"] == 1 and found["score"] > 0.85
    trained = run("keras-fer", "train", "--epochs", "1", "--output", str(work / "run"))
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert (work / "run" / "model.keras").is_file() and (work / "run" / "history.csv").read_text().count("\n") == 2
