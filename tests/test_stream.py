"""Recognizer.stream over frames in memory, a generated video and a camera that is not there."""

import re

import numpy as np
import pytest

from keras_fer import Recognizer
from keras_fer.inference.classifiers import Classifier
from keras_fer.inference.stream import overlap
from tests.test_recognizer import BRIGHTNESS, _mean_brightness
from tests.testing import BoxDetector


class MovingFace:
    """Detects one 20x20 face that moves 2 px right per frame (a second, far away, from frame 2 on)."""

    def __init__(self):
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        x = int(image[0, 0, 0]) // 10 * 2  # the frame's number, written into its corner pixel
        return [(x, 10, 20, 20)] + ([(100, 10, 20, 20)] if x >= 4 else [])


def frames(count, value=lambda index: 40 * index):
    for index in range(count):
        frame = np.full((64, 160, 3), value(index), "uint8")
        frame[0, 0] = 10 * index
        yield frame


def test_every_nth_frame_is_processed_in_batches_with_its_index():
    calls = []
    classifier = Classifier(lambda faces: calls.append(len(faces)) or _mean_brightness(faces), (16, 16, 1), ["bright", "dark"], None)
    recognizer = Recognizer(classifier, detector=BoxDetector([(0, 0, 32, 32)]), margin=0)
    results = list(recognizer.stream(frames(7), every=2, batch_frames=3))
    assert [result["frame_index"] for result in results] == [0, 2, 4, 6]
    assert calls == [3, 1]  # faces of three frames in one call, then the last frame's
    assert [result["faces"][0]["scores"]["bright"] for result in results] == pytest.approx([0.0, 80 / 255, 160 / 255, 240 / 255], abs=0.01)
    assert all(result["time"] is None for result in results)


def test_tracks_follow_overlapping_boxes_and_smoothing_averages_scores_along_them():
    recognizer = Recognizer(BRIGHTNESS, detector=MovingFace(), margin=0)
    results = list(recognizer.stream(frames(4, value=lambda index: 255 if index % 2 == 0 else 0), batch_frames=2, smoothing=0.5))
    assert [[face["track"] for face in result["faces"]] for result in results] == [[0], [0], [0, 1], [0, 1]]
    bright = [result["faces"][0]["scores"]["bright"] for result in results]
    # raw scores 1, 0, 1, 0 (corner pixel aside): 1, 0.5, 0.75, 0.375
    assert bright == pytest.approx([1.0, 0.5, 0.75, 0.375], abs=0.01)
    assert results[2]["faces"][1]["scores"]["bright"] == pytest.approx(1.0, abs=0.01)  # a new track starts unsmoothed


def test_a_generated_video_streams_with_times_from_its_frame_rate(tmp_path):
    import cv2

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (160, 64))
    for frame in frames(6):
        writer.write(frame)
    writer.release()
    recognizer = Recognizer(BRIGHTNESS, detector=BoxDetector([(20, 20, 30, 30)]))
    results = list(recognizer.stream(str(path), every=3))
    assert [result["frame_index"] for result in results] == [0, 3]
    assert [result["time"] for result in results] == pytest.approx([0.0, 0.3])
    assert results[1]["faces"][0]["scores"]["bright"] == pytest.approx(120 / 255, abs=0.03)


@pytest.mark.parametrize(
    "source, arguments, message",
    [
        (99, {}, "camera 99 cannot be opened; expected a connected camera index"),
        ("missing.mp4", {}, "video missing.mp4 cannot be opened"),
        (3.5, {}, "`source` must be a camera index, a video path or URL, or an iterable of frames. Received: float"),
        ([np.zeros((8, 8), "float64") + 0.5], {}, r"frame 0: An image .*\[0, 1\]"),
        (["frame.png"], {}, "frame 0 must be a uint8 array"),
        ([np.zeros((4, 4, 2), "uint8")], {}, r"frame 0: `image` must be a path, a PIL image or an array"),
        ([], {"every": 0}, "`every` must be a positive integer. Received: every=0"),
        ([], {"batch_frames": True}, "`batch_frames` must be a positive integer. Received: batch_frames=True"),
        ([], {"smoothing": 1.0}, r"`smoothing` must be a number in \[0, 1\). Received: smoothing=1.0"),
    ],
)
def test_bad_sources_frames_and_arguments_are_one_line_errors(source, arguments, message):
    recognizer = Recognizer(BRIGHTNESS, detector=BoxDetector([]))
    with pytest.raises(ValueError, match=message) as raised:
        list(recognizer.stream(source, **arguments))
    assert "\n" not in str(raised.value)


def test_overlap_of_boxes():
    assert overlap((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert overlap((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert overlap((0, 0, 10, 10), (0, 5, 10, 10)) == pytest.approx(50 / 150)


def test_predict_camera_stops_cleanly_on_ctrl_c_keeping_what_it_wrote(tmp_path, monkeypatch, capsys):
    import json

    import cv2

    from keras_fer.cli import main

    def two_frames_then_ctrl_c(self, source, every, batch_frames, smoothing, keep_frames):
        assert (source, every, batch_frames, keep_frames) == (0, 1, 1, True)
        for index in range(2):
            frame = np.full((48, 64, 3), 100, "uint8")
            yield {"frame_index": index, "time": index / 10, "faces": [], "frame": frame}
        raise KeyboardInterrupt

    monkeypatch.setattr(Recognizer, "stream", two_frames_then_ctrl_c)
    code = main(["predict", "--camera", "0", "--json", str(tmp_path / "faces.json"), "--annotate", str(tmp_path / "drawn")])
    assert code == 0
    out = capsys.readouterr().out
    assert "camera 0 frame 1 (0.1 s): no face" in out and "camera 0: stopped after 2 frames" in out
    records = json.loads((tmp_path / "faces.json").read_text())
    assert [(record["file"], record["frame"]) for record in records] == [("camera 0", 0), ("camera 0", 1)]
    video = cv2.VideoCapture(str(tmp_path / "drawn" / "camera0.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 2


def test_predict_camera_that_cannot_be_opened_is_one_line(tmp_path, capsys):
    from keras_fer.cli import main

    assert main(["predict", "--camera", "99", "--json", str(tmp_path / "faces.json")]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        error == "keras-fer predict: error: camera 99 cannot be opened; expected a connected camera index, or a video file or URL that OpenCV reads"
    )
    assert not (tmp_path / "faces.json").exists()


@pytest.mark.parametrize("camera", [-1, np.int64(-2), 2**31, 99999999999])
def test_a_camera_index_opencv_cannot_take_is_refused_before_it_is_opened(camera):
    from keras_fer.cli import _MAX_CAMERA_INDEX
    from keras_fer.inference.stream import MAX_CAMERA_INDEX

    assert MAX_CAMERA_INDEX == _MAX_CAMERA_INDEX == 2**31 - 1  # the largest C int; cv2.VideoCapture(-1) crashes the process
    message = f"`source` must be a camera index from 0 to 2147483647, a video path or URL, or an iterable of frames. Received: source={camera!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        next(Recognizer(BRIGHTNESS, detector=BoxDetector([])).stream(camera))
