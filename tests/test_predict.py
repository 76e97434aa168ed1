import csv
import io
import json
import os
import subprocess
import sys
import types

import cv2
import numpy as np
import pytest
from PIL import Image

from keras_fer import Recognizer
from keras_fer.cli import main
from keras_fer.inference.classifiers import Classifier
from keras_fer.inference.media import collect_files, read_video
from keras_fer.inference.predict_command import Progress, predict_files
from tests.testing import PHOTO, WITHOUT_TENSORFLOW, BoxDetector


def portrait():
    return np.asarray(Image.open(PHOTO).convert("RGB").resize((256, 300)))


def write_video(path, frames, fourcc="MJPG"):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def frames_and_fps(path):
    capture, count = cv2.VideoCapture(str(path)), 0
    while capture.read()[0]:
        count += 1
    return count, capture.get(cv2.CAP_PROP_FPS)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A folder as users have them: photos, a video, and files that cannot be read."""
    folder = tmp_path_factory.mktemp("media")
    (folder / "sub").mkdir()
    Image.fromarray(portrait()).save(folder / "a.jpg")
    Image.fromarray(portrait()[:, ::-1]).save(folder / "sub" / "b.png")
    Image.new("RGB", (100, 100), "gray").save(folder / "blank.png")
    Image.new("RGB", (10, 10), "gray").save(folder / "tiny.png")
    Image.fromarray(portrait()).save(folder / ".hidden.jpg")
    (folder / "broken.jpg").write_bytes(np.random.default_rng(0).bytes(300))
    (folder / "notes.txt").write_text("not a photo")
    (folder / "empty.mp4").write_bytes(b"")
    write_video(folder / "clip.avi", [np.roll(portrait(), shift, axis=1) for shift in range(12)])
    cv2.VideoWriter(str(folder / "no_frames.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64)).release()
    return folder


@pytest.mark.slow
def test_predict_reads_a_folder_reports_bad_files_and_writes_everything(model_file, media, tmp_path, capsys):
    out = tmp_path / "out"
    arguments = ["predict", str(media), "--model", str(model_file), "--every", "5"]
    outputs = ["--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "r.csv")]
    drawings = ["--annotate", str(out / "annotated"), "--explain", str(out / "explained")]
    assert main(arguments + outputs + drawings) == 1
    errors = capsys.readouterr().err
    expected = {
        "broken.jpg": "not a readable image",
        "notes.txt": "unsupported format .txt",
        "empty.mp4": "empty file",
        "tiny.png": "too small (10x10 px)",
        "no_frames.avi": "empty video",
    }
    for name, reason in expected.items():
        assert f"{media / name}: {reason}" in errors
    assert "5 files could not be read" in errors and "hidden" not in errors
    records = json.loads((tmp_path / "r.json").read_text())
    assert [(r["file"], r["frame"]) for r in records] == [
        (str(media / "a.jpg"), None),
        (str(media / "blank.png"), None),
        (str(media / "clip.avi"), 0),
        (str(media / "clip.avi"), 5),
        (str(media / "clip.avi"), 10),
        (str(media / "sub" / "b.png"), None),
    ]
    assert [len(r["faces"]) for r in records] == [1, 0, 1, 1, 1, 1]
    assert records[3]["seconds"] == pytest.approx(0.5)
    single = Recognizer.from_file(model_file).analyze(media / "a.jpg")
    assert records[0]["faces"][0]["box"] == list(single[0]["box"])
    assert records[0]["faces"][0]["scores"] == pytest.approx(single[0]["scores"], abs=1e-4)
    with open(tmp_path / "r.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 6 and rows[1]["file"].endswith("blank.png") and rows[1]["label"] == ""
    assert float(rows[0]["happy"]) == pytest.approx(single[0]["scores"]["happy"], abs=1e-4)
    annotated = sorted(str(p.relative_to(out / "annotated")) for p in (out / "annotated").rglob("*.*"))
    assert annotated == ["a.jpg", "blank.png", "clip.avi.mp4", "sub/b.png"]
    assert frames_and_fps(out / "annotated" / "clip.avi.mp4") == (12, 10.0)
    drawn = np.asarray(Image.open(out / "annotated" / "a.jpg"))
    x, y, width, height = single[0]["box"]
    assert drawn[y + height // 2, x].tolist() != portrait()[y + height // 2, x].tolist()
    explained = sorted(str(p.relative_to(out / "explained")) for p in (out / "explained").rglob("*.png"))
    assert explained == ["a.jpg_face1.png", "sub/b.png_face1.png"]


def test_files_are_named_below_the_deepest_folder_holding_every_input(tmp_path):
    for name in ("d1/x.png", "d1/sub/y.png", "d2/x.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")

    def names(*paths):
        return [str(name) for _, name in collect_files([tmp_path / path for path in paths])]

    assert names("d1") == ["sub/y.png", "x.png"]
    assert names("d1/sub/y.png") == ["y.png"]
    assert names("d1", "d2") == ["d1/sub/y.png", "d1/x.png", "d2/x.png"]
    assert names("d1/x.png", "d2/x.png") == ["d1/x.png", "d2/x.png"]
    assert names("d1/x.png", "d1/sub") == ["x.png", "sub/y.png"]
    assert names("d1", "d1/missing.png") == ["sub/y.png", "x.png", "missing.png"]
    assert names("d1", "typo.png")[:2] == ["sub/y.png", "x.png"]  # a missing input (reported, never read) moved them to d1/...


def test_outputs_of_inputs_with_the_same_name_never_replace_each_other(model_file, tmp_path):
    for name, value in (("d1/img001.png", 60), ("d1/img001.jpg", 120), ("d2/img001.png", 200)):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.new("RGB", (64, 64), (value,) * 3).save(tmp_path / name)
    recognizer = Recognizer.from_file(model_file, detector=BoxDetector([(8, 8, 40, 40)]))
    out = tmp_path / "out"
    predict_files(recognizer, [tmp_path / "d1", tmp_path / "d2"], annotate=out / "drawn", explain=out / "maps")
    assert sorted(str(path.relative_to(out)) for path in out.rglob("*.*")) == [
        "drawn/d1/img001.jpg",
        "drawn/d1/img001.png",
        "drawn/d2/img001.png",
        "maps/d1/img001.jpg_face1.png",
        "maps/d1/img001.png_face1.png",
        "maps/d2/img001.png_face1.png",
    ]
    for name, value in (("d1/img001.png", 60), ("d2/img001.png", 200)):
        assert np.asarray(Image.open(out / "drawn" / name))[60, 60].tolist() == [value] * 3  # outside the box drawn: the input's own pixels


def test_table_on_stdout_and_exit_code_zero_when_all_was_read(model_file, media, capsys):
    assert main(["predict", str(media / "a.jpg"), str(media / "blank.png"), "--model", str(model_file)]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert lines[0].split()[:3] == ["file", "frame", "face"] and len(lines) == 3
    assert "a.jpg" in lines[1] and lines[2].split()[-3:] == ["no", "face", "-"]
    assert "1 faces in 2 images or frames; 0 files could not be read." in printed.err


def test_outputs_are_never_overwritten_without_asking(model_file, media, tmp_path, capsys):
    (tmp_path / "r.json").write_text("[]")
    base = ["predict", str(media / "a.jpg"), "--model", str(model_file)]
    assert main([*base, "--json", str(tmp_path / "r.json")]) == 2
    assert capsys.readouterr().err.strip().endswith("r.json exists; pass --overwrite to replace it.")
    assert (tmp_path / "r.json").read_text() == "[]"
    (tmp_path / "drawn").mkdir()
    (tmp_path / "drawn" / "mine.png").write_text("x")
    assert main([*base, "--annotate", str(tmp_path / "drawn")]) == 2
    assert "drawn is not empty; pass --overwrite to write into it." in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "missing.jpg"), "--model", str(model_file)]) == 1
    assert "missing.jpg: no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base, "--every", "0"])


def test_runtime_chooses_how_a_shipped_model_runs(tmp_path, capsys):
    from keras_fer.cli import _parser
    from keras_fer.inference.classifiers import RUNTIMES

    predict = _parser()._subparsers._group_actions[0].choices["predict"]
    assert next(action for action in predict._actions if action.dest == "runtime").choices == RUNTIMES
    labels = {}
    for runtime in RUNTIMES:
        assert main(["predict", str(PHOTO), "--model", "fer2013", "--runtime", runtime, "--json", str(tmp_path / f"{runtime}.json")]) == 0
        [record] = json.loads((tmp_path / f"{runtime}.json").read_text())
        labels[runtime] = [face["label"] for face in record["faces"]]
    assert labels["tflite"] == labels["keras"] and len(labels["keras"]) == 1
    assert main(["predict", str(PHOTO), "--model", str(tmp_path / "keras.json"), "--runtime", "keras"]) == 2
    assert "keras.json is a model file: `runtime` (--runtime) applies only to shipped models" in capsys.readouterr().err
    assert main(["predict", str(PHOTO), "--model", "ferplsu", "--runtime", "keras"]) == 2
    assert "Model ferplsu does not exist (shipped models: ['fer2013', 'ferplus'])." in capsys.readouterr().err


@pytest.mark.slow
def test_explain_needs_a_keras_model(tflite_file, media, tmp_path, capsys):
    assert main(["predict", str(media / "a.jpg"), "--model", str(tflite_file), "--explain", str(tmp_path / "x")]) == 2
    assert "--explain needs a .keras model; " in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert main(["predict", str(media / "a.jpg"), "--model", str(tflite_file)]) == 0


def test_flip_averages_each_face_with_its_mirror_image(tflite_file, media, tmp_path):
    assert main(["predict", str(media / "a.jpg"), "--model", str(tflite_file), "--flip", "--json", str(tmp_path / "r.json")]) == 0
    faces = json.loads((tmp_path / "r.json").read_text())[0]["faces"]
    flipped = Recognizer.from_file(tflite_file, flip=True).analyze(media / "a.jpg")
    plain = Recognizer.from_file(tflite_file).analyze(media / "a.jpg")
    assert len(faces) == len(flipped) == 1
    assert faces[0]["scores"] == pytest.approx(flipped[0]["scores"], abs=1e-6)
    assert faces[0]["scores"] != pytest.approx(plain[0]["scores"], abs=1e-6)


def test_shift_averages_each_face_over_its_moved_copies(tflite_file, media, tmp_path, capsys):
    arguments = ["predict", str(media / "a.jpg"), "--model", str(tflite_file), "--flip", "--shift", "2"]
    assert main([*arguments, "--json", str(tmp_path / "r.json")]) == 0
    faces = json.loads((tmp_path / "r.json").read_text())[0]["faces"]
    shifted = Recognizer.from_file(tflite_file, flip=True, shift=2).analyze(media / "a.jpg")
    flipped = Recognizer.from_file(tflite_file, flip=True).analyze(media / "a.jpg")
    assert len(faces) == len(shifted) == 1
    assert faces[0]["scores"] == pytest.approx(shifted[0]["scores"], abs=1e-6)
    assert faces[0]["scores"] != pytest.approx(flipped[0]["scores"], abs=1e-6)
    capsys.readouterr()
    assert main([*arguments[:-1], "16", "--json", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert "`shift` must be an integer from 0 to 15" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad.json").exists()


def test_predict_with_a_tflite_model_needs_no_tensorflow(tflite_file, media, tmp_path):
    script = WITHOUT_TENSORFLOW + "from keras_fer.cli import main\nstatus = main(sys.argv[1:])\nprint('tensorflow' in sys.modules)\nsys.exit(status)"
    arguments = ["predict", str(media / "a.jpg"), "--model", str(tflite_file), "--json", str(tmp_path / "r.json")]
    environment = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", script, *arguments], capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
    faces = json.loads((tmp_path / "r.json").read_text())[0]["faces"]
    expected = Recognizer.from_file(tflite_file).analyze(media / "a.jpg")
    assert len(faces) == len(expected) == 1
    assert faces[0]["scores"] == pytest.approx(expected[0]["scores"], abs=1e-6)


def test_faces_of_several_images_share_a_batch(tmp_path):
    sizes = []

    def classify(faces):
        sizes.append(len(faces))
        return np.tile([[0.9, 0.1]], (len(faces), 1))

    for index in range(3):
        Image.new("L", (60, 60), 40 * index).save(tmp_path / f"{index}.png")
    recognizer = Recognizer(Classifier(classify, (32, 32, 1), ["calm", "upset"], None), BoxDetector([(0, 0, 40, 40)]), batch_size=2)
    stream = io.StringIO()
    records, problems = predict_files(recognizer, [tmp_path], progress=Progress(0, stream=stream, enabled=True))
    assert sizes == [2, 1] and problems == []
    assert [r["file"] for r in records] == [str(tmp_path / f"{i}.png") for i in range(3)]
    assert [r["faces"][0]["label"] for r in records] == ["calm"] * 3
    last = stream.getvalue().rstrip().split("\r")[-1]
    assert last.startswith("done: 100%") and "3/3" in last


def test_phone_photos_are_turned_upright_by_their_exif_orientation(tmp_path):
    from keras_fer.inference.media import read_image
    from keras_fer.inference.recognizer import read_rgb

    upright = portrait()
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the stored pixels must be turned 90 degrees clockwise to view
    Image.fromarray(np.rot90(upright)).save(tmp_path / "phone.png", exif=exif)
    np.testing.assert_array_equal(read_image(tmp_path / "phone.png"), upright)
    np.testing.assert_array_equal(read_rgb(tmp_path / "phone.png"), upright)
    np.testing.assert_array_equal(read_rgb(Image.open(tmp_path / "phone.png")), upright)


@pytest.mark.parametrize("reported_fps", [0.0, -1.0, float("nan")])
def test_video_without_a_frame_rate_has_no_seconds(tmp_path, monkeypatch, reported_fps):
    class Capture:
        def __init__(self, path):
            self.frames = [np.zeros((32, 32, 3), "uint8")] * 2

        def isOpened(self):
            return True

        def get(self, prop):
            return reported_fps

        def read(self):
            return (True, self.frames.pop()) if self.frames else (False, None)

        def release(self):
            pass

    fake_cv2 = types.SimpleNamespace(VideoCapture=Capture, CAP_PROP_FPS=5, cvtColor=lambda frame, code: frame, COLOR_BGR2RGB=4)
    monkeypatch.setattr("keras_fer.inference.media._quiet_opencv", lambda: fake_cv2)
    (tmp_path / "clip.avi").write_bytes(b"not empty")
    frames = list(read_video(tmp_path / "clip.avi", every=1))
    assert [(frame.index, frame.seconds, frame.fps) for frame in frames] == [(0, None, None), (1, None, None)]


def test_explain_on_another_backend_is_a_clear_error(model_file, media, tmp_path, capsys, monkeypatch):
    import keras

    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    assert main(["predict", str(media / "a.jpg"), "--model", str(model_file), "--explain", str(tmp_path / "x")]) == 2
    assert "Grad-CAM (--explain, Recognizer.explain) needs the TensorFlow backend. Received: KERAS_BACKEND='jax'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "flag, target, message",
    [
        ("--json", "missing/r.json", "the folder {tmp}/missing does not exist"),
        ("--csv", "folder_output", "--csv {tmp}/folder_output is a folder; give the path of a file to write."),
        ("--json", "/proc/r.json", "--json /proc/r.json: cannot write in /proc"),
        ("--annotate", "/proc/drawn/deeper", "--annotate /proc/drawn/deeper: cannot write in /proc"),
    ],
)
def test_impossible_outputs_fail_before_any_work(model_file, media, tmp_path, capsys, flag, target, message):
    (tmp_path / "folder_output").mkdir()
    path = target if target.startswith("/") else str(tmp_path / target)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["predict", str(media / "a.jpg"), "--model", str(model_file), flag, path]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("keras-fer predict: error:") and message.format(tmp=tmp_path) in error and "\n" not in error
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_threads_flag_sets_litert_threads_and_keeps_the_answers(media, tmp_path, monkeypatch):
    from keras_fer.export import litert

    made = []
    original = litert.LiteRTModel.__init__

    def recording(self, path, num_threads=1):
        made.append(num_threads)
        original(self, path, num_threads)

    monkeypatch.setattr(litert.LiteRTModel, "__init__", recording)
    opencv = []
    monkeypatch.setattr(cv2, "setNumThreads", opencv.append)  # and this process's OpenCV keeps its threads
    for threads in ("1", "2"):
        assert main(["predict", str(media / "a.jpg"), "--threads", threads, "--detector", "haar", "--json", str(tmp_path / f"{threads}.json")]) == 0
    assert made == [1, 2] and opencv == [1, 2]  # the shipped twin's LiteRT threads and Haar's OpenCV threads
    one, two = (json.loads((tmp_path / f"{threads}.json").read_text()) for threads in ("1", "2"))
    assert [face["label"] for face in one[0]["faces"]] == [face["label"] for face in two[0]["faces"]] and len(one[0]["faces"]) == 1
    np.testing.assert_allclose(list(one[0]["faces"][0]["scores"].values()), list(two[0]["faces"][0]["scores"].values()), atol=1e-6)


def test_threads_that_tensorflow_can_no_longer_take_are_a_one_line_error(model_file, media, capsys):
    import tensorflow as tf

    tf.constant(1.0) + 1.0  # TensorFlow has run in this process: its threads are fixed
    threads = tf.config.threading.get_intra_op_parallelism_threads() + 1
    assert main(["predict", str(media / "a.jpg"), "--model", str(model_file), "--threads", str(threads)]) == 2
    expected = f"--threads: TensorFlow has already run in this process and keeps the threads it started with. Received: --threads={threads}"
    assert capsys.readouterr().err == f"keras-fer predict: error: {expected}\n"


def test_results_go_into_a_device_without_overwrite_and_through_a_link_into_its_target(model_file, media, tmp_path, capsys):
    base = ["predict", str(media / "a.jpg"), "--model", str(model_file)]
    assert main([*base, "--json", os.devnull]) == 0  # /dev/stdout in a terminal: written into, not replaced
    assert os.path.exists(os.devnull) and not os.path.isfile(os.devnull)
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.json").write_text("[]")
    (tmp_path / "r.json").symlink_to(tmp_path / "results" / "r.json")
    assert main([*base, "--json", str(tmp_path / "r.json"), "--overwrite"]) == 0
    assert (tmp_path / "r.json").is_symlink() and json.loads((tmp_path / "results" / "r.json").read_text())[0]["file"].endswith("a.jpg")
