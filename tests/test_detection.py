"""BlazeFace decoding, tiles and suppression against hand values; alignment against known eye positions; a real photo."""

import numpy as np
import pytest
from PIL import Image

from keras_fer.data.framing import FER2013_CROP
from keras_fer.inference import BlazeFaceDetector, Detection, Recognizer, make_detector
from keras_fer.inference.alignment import _clipped, aligned_crop, box_crop, margin_crop
from keras_fer.inference.blazeface import anchor_centers, decode, letterbox, weighted_suppression, windows
from keras_fer.inference.detection import DETECTORS, detected_faces
from keras_fer.inference.stream import overlap
from tests.testing import PHOTO, BoxDetector


def portrait():
    return np.asarray(Image.open(PHOTO).convert("RGB"))


def test_anchor_centers_follow_mediapipe_ssd_layout():
    short = anchor_centers(128, (8, 16), (2, 6))
    assert short.shape == (896, 2)
    np.testing.assert_allclose(short[:3], [[1 / 32, 1 / 32], [1 / 32, 1 / 32], [3 / 32, 1 / 32]])
    np.testing.assert_allclose(short[512:519], [[1 / 16, 1 / 16]] * 6 + [[3 / 16, 1 / 16]])
    full = anchor_centers(192, (4,), (1,))
    assert full.shape == (2304, 2)
    np.testing.assert_allclose(full[[0, 1, 48]], [[1 / 96, 1 / 96], [3 / 96, 1 / 96], [1 / 96, 3 / 96]])


def test_decode_against_hand_values():
    anchors = np.array([[0.25, 0.5], [0.75, 0.75]], "float32")
    regressions = np.zeros((2, 16), "float32")
    regressions[0, :4] = [12.8, -6.4, 32, 64]  # centre moved by (0.1, -0.05), size (0.25, 0.5) of a 128 input
    regressions[0, 4:6] = [-12.8, 0]
    boxes, landmarks, scores = decode(regressions, np.array([2.0, -3.0]), anchors, 128, 0.5)
    np.testing.assert_allclose(boxes, [[0.35 - 0.125, 0.45 - 0.25, 0.35 + 0.125, 0.45 + 0.25]], atol=1e-6)
    np.testing.assert_allclose(landmarks[0, 0], [0.15, 0.5], atol=1e-6)
    np.testing.assert_allclose(landmarks[0, 1:], [[0.25, 0.5]] * 5, atol=1e-6)
    np.testing.assert_allclose(scores, [1 / (1 + np.exp(-2.0))], rtol=1e-6)


def test_weighted_suppression_averages_each_cluster_by_score():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], "float32")
    landmarks = np.stack([np.full((6, 2), v, "float32") for v in (0, 3, 9)])
    scores = np.array([0.9, 0.3, 0.6], "float32")
    clusters = list(weighted_suppression(boxes, landmarks, scores, 0.3))
    assert [score for *_, score, _ in clusters] == pytest.approx([0.9, 0.6])
    assert [members.tolist() for *_, members in clusters] == [[0, 1], [2]]
    np.testing.assert_allclose(clusters[0][0], [0.25, 0.25, 10.25, 10.25], rtol=1e-6)  # (0.9 * 0 + 0.3 * 1) / 1.2
    np.testing.assert_allclose(clusters[0][1], np.full((6, 2), 0.75), rtol=1e-6)
    np.testing.assert_allclose(clusters[1][0], boxes[2])


def test_gray_images_with_and_without_a_channel_axis_give_the_same_faces():
    gray = np.asarray(Image.open(PHOTO).convert("L"))
    detector = BlazeFaceDetector(min_size=32)
    found = detector.detect(gray)
    assert len(found) == 1
    for image in (gray[..., None], np.repeat(gray[..., None], 3, axis=-1)):
        (same,) = detector.detect(image)
        assert same.box == found[0].box and same.score == found[0].score
        np.testing.assert_array_equal(same.landmarks, found[0].landmarks)


def test_windows_tile_until_the_smallest_face_fills_a_fifth():
    assert windows((480, 640), None) == [(0, 0, 640)]
    tiles = windows((480, 640), 32)
    sides = sorted({side for *_, side in tiles}, reverse=True)
    assert sides == [640, 453, 320, 226, 160]  # 226 * 0.2 = 45 > 32 asks for one more level; 160 * 0.2 = 32 does not
    assert [(left, top) for left, top, side in tiles if side == 320] == [(0, 0), (160, 0), (320, 0), (0, 160), (160, 160), (320, 160)]
    assert all(left + side <= 640 and top + side <= 480 for left, top, side in tiles if side < 480)


def test_tiles_cut_from_one_resize_per_level_match_each_window_letterboxed():
    y, x = np.mgrid[0:300, 0:420]
    smooth = (127 + 60 * np.sin(x / 60.0) + 60 * np.cos(y / 45.0)).astype("uint8")  # half a model pixel of offset moves little
    image = np.stack([smooth, smooth[::-1], 255 - smooth], axis=-1)
    detector = BlazeFaceDetector(min_size=32)
    inputs = list(detector._inputs(image))
    assert [window for _, _, window in inputs] == windows(image.shape[:2], 32)
    for tensor, (x0, y0), (left, top, side) in inputs:
        assert abs(x0 - left) <= side / 128 and abs(y0 - top) <= side / 128  # within one model pixel
        expected, expected_side = letterbox(image[top : top + side, left : left + side], 128)
        assert tensor.shape == expected.shape == (1, 128, 128, 3)
        inside = expected[0, : int(128 * min(300 - top, side) / side) - 1, : int(128 * min(420 - left, side) / side) - 1]
        assert np.abs(tensor[0, : inside.shape[0], : inside.shape[1]] - inside).mean() < 0.02, (left, top, side)


@pytest.mark.parametrize("name", DETECTORS)
def test_every_detector_finds_the_face_of_a_real_portrait(name):
    faces = detected_faces(make_detector(name), portrait())
    assert len(faces) == 1
    x, y, width, height = faces[0].box
    assert 150 < x + width / 2 < 370 and 100 < y + height / 2 < 350  # Grace Hopper's face, 512x600 portrait
    if name != "haar":
        assert faces[0].score > 0.85
        (right_x, right_y), (left_x, left_y) = faces[0].eyes
        assert x < right_x < x + width / 2 < left_x < x + width and y < right_y < y + height / 2
        assert abs(right_y - left_y) < 10  # she looks straight at the camera


def test_tiles_find_a_small_face_that_one_pass_misses():
    small = np.asarray(Image.fromarray(portrait()).resize((128, 150)))
    canvas = np.full((720, 960, 3), 90, "uint8")
    canvas[400:550, 600:728] = small
    assert BlazeFaceDetector().detect(canvas) == []
    faces = BlazeFaceDetector(min_size=32).detect(canvas)
    assert len(faces) == 1 and overlap(faces[0].box, (600 + 43, 400 + 36, 50, 50)) > 0.5  # the portrait's face, scaled by 1/4


def test_blank_and_textured_images_have_no_faces():
    rng = np.random.default_rng(0)
    for image in (np.zeros((300, 400, 3), "uint8"), rng.integers(0, 255, (300, 400, 3), dtype="uint8"), np.full((50, 50), 200, "uint8")):
        assert make_detector().detect(image) == []


def synthetic_face(eyes, side=200):
    """A gray picture with two bright dots at `eyes` (x, y) and nothing else."""
    image = np.zeros((side, side), "uint8")
    yy, xx = np.mgrid[:side, :side]
    for x, y in eyes:
        image[(xx - x) ** 2 + (yy - y) ** 2 <= 9] = 255
    return image


def dot_centres(image):
    mask = image > 128
    ys, xs = np.nonzero(mask)
    left = xs < xs.mean()
    return np.array([[xs[left].mean(), ys[left].mean()], [xs[~left].mean(), ys[~left].mean()]])


@pytest.mark.parametrize("angle", [0.0, 20.0, -30.0])
def test_aligned_crop_levels_the_eyes_where_the_training_faces_have_them(angle):
    middle, distance = np.array([100.0, 90.0]), 40.0
    direction = np.array([np.cos(np.radians(angle)), np.sin(np.radians(angle))])
    eyes = np.stack([middle - direction * distance / 2, middle + direction * distance / 2])
    crop = aligned_crop(synthetic_face(eyes), eyes)
    side = round(distance / FER2013_CROP.eye_distance)
    assert crop.shape == (side, side)
    expected_middle = np.array(FER2013_CROP.eye_center) * side
    expected = [expected_middle - [distance / 2, 0], expected_middle + [distance / 2, 0]]
    np.testing.assert_allclose(dot_centres(crop), expected, atol=1.0)


def test_box_crop_puts_blazefaces_box_where_fer2013_has_it():
    image = np.arange(400 * 400, dtype="uint32").reshape(400, 400)
    crop = box_crop(image, (100, 120, 86, 86))
    side = round(86 / FER2013_CROP.box_side)
    assert crop.shape == (side, side)
    top = round(120 + 43 + (0.5 - FER2013_CROP.box_center[1]) * 86 / FER2013_CROP.box_side - 50)  # box centre moved up, crop of side 100
    assert crop[0, 0] == image[top, 100 + 43 - 50]


def test_recognizer_aligns_blazeface_faces_and_reports_scores_and_landmarks():
    recognizer = Recognizer(model="fer2013")
    [face] = recognizer.analyze(PHOTO)
    assert face["face_score"] > 0.85 and set(face["landmarks"]) == {"right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear"}
    assert face["label"] == max(face["scores"], key=face["scores"].get)
    detection = recognizer.detect(portrait())[0]
    aligned = recognizer.face_crop(portrait(), detection)
    eyes = detection.eyes
    side = round(np.hypot(*(eyes[1] - eyes[0])) / FER2013_CROP.eye_distance)
    assert aligned.shape == (side, side, 3)
    upright = Recognizer(model="fer2013", align=False).face_crop(portrait(), detection)
    assert upright.shape[:2] == (round(detection.box[3] / FER2013_CROP.box_side),) * 2


class ScoredDetector:
    def detect(self, image):
        return [Detection((0, 0, 20, 20), 0.4), Detection((30, 0, 20, 20), 0.9), (60, 0, 20, 20)]


def test_min_score_filters_any_detector_and_plain_boxes_pass():
    image = np.zeros((40, 100, 3), "uint8")
    assert [face.box[0] for face in Recognizer(model="fer2013", detector=ScoredDetector()).detect(image)] == [0, 30, 60]
    assert [face.box[0] for face in Recognizer(model="fer2013", detector=ScoredDetector(), min_score=0.5).detect(image)] == [30, 60]


@pytest.mark.parametrize(
    "arguments, words",
    [
        ({"min_score": 1.5}, "`min_score` must be a number in [0, 1]. Received: min_score=1.5"),
        ({"min_score": "high"}, "`min_score` must be a number in [0, 1]"),
        ({"detector": "yolo"}, "`detector` must be one of ['blazeface', 'blazeface-full', 'haar']"),
        ({"detector": 3}, "an object with a `detect(image)` method"),
        ({"align": "yes"}, "`align` must be True or False"),
    ],
)
def test_bad_detector_arguments_are_clear_errors(arguments, words):
    with pytest.raises(ValueError) as error:
        Recognizer(model="fer2013", **arguments)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_bad_blazeface_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="`range` must be one of"):
        BlazeFaceDetector("medium")
    with pytest.raises(ValueError, match="`min_size` must be None or a number of pixels"):
        BlazeFaceDetector(min_size=0)
    for threads in (0, 1.5, True, "2"):
        with pytest.raises(ValueError, match=f"`num_threads` must be None or a positive integer. Received: num_threads={threads!r}"):
            BlazeFaceDetector(num_threads=threads)


def test_blazeface_and_tflite_classifiers_use_the_machines_cores_up_to_four_unless_told(monkeypatch):
    import keras_fer.export.litert as litert
    from keras_fer.inference import load_classifier

    for cores, expected in ((1, 1), (2, 2), (16, 4), (None, 1)):
        monkeypatch.setattr(litert.os, "sched_getaffinity", lambda pid, cores=cores: set(range(cores or 0)), raising=False)
        monkeypatch.setattr(litert.os, "cpu_count", lambda cores=cores: cores)
        assert BlazeFaceDetector().num_threads == expected
        assert load_classifier("fer2013").predict.__self__.num_threads == expected
    assert BlazeFaceDetector(num_threads=3).num_threads == 3


def test_a_detector_returning_something_else_is_a_clear_error():
    class Broken:
        def detect(self, image):
            return [(1, 2, 3)]

    with pytest.raises(ValueError, match=r"must return Detections or boxes \(x, y, width, height\). Received: \(1, 2, 3\)"):
        Recognizer(model="fer2013", detector=Broken()).analyze(np.zeros((40, 40, 3), "uint8"))


def test_predict_command_offers_every_detector_and_checks_min_score(tmp_path, capsys):
    from keras_fer.cli import _parser, main

    predict = next(action for action in _parser()._subparsers._group_actions[0].choices["predict"]._actions if action.dest == "detector")
    assert tuple(predict.choices) == DETECTORS
    with pytest.raises(SystemExit) as exit:
        main(["predict", str(PHOTO), "--min-score", "2"])
    assert exit.value.code == 2 and "--min-score: must be a number in [0, 1], got '2'" in capsys.readouterr().err
    assert main(["predict", str(PHOTO), "--detector", "haar", "--json", str(tmp_path / "haar.json")]) == 0
    assert main(["predict", str(PHOTO), "--min-score", "0.9", "--no-align", "--json", str(tmp_path / "blazeface.json")]) == 0
    import json

    haar, blazeface = (json.loads((tmp_path / f"{name}.json").read_text())[0]["faces"] for name in ("haar", "blazeface"))
    assert len(haar) == len(blazeface) == 1 and haar[0]["face_score"] is None and blazeface[0]["face_score"] > 0.9


def test_predict_reports_the_7_basic_classes_unless_asked_for_all(tmp_path):
    import json

    from keras_fer.cli import main

    for flags, name in (([], "basic"), (["--all-classes"], "all")):
        assert main(["predict", str(PHOTO), *flags, "--json", str(tmp_path / f"{name}.json")]) == 0
    basic, every = (json.loads((tmp_path / f"{name}.json").read_text())[0]["faces"][0]["scores"] for name in ("basic", "all"))
    assert "contempt" not in basic and len(basic) == 7 and len(every) == 8 and "contempt" in every


def test_crops_keep_only_the_part_of_a_box_inside_the_image():
    image = np.arange(64 * 64).reshape(64, 64)
    # Margin 0.1 of (x=-10, y=50, 20x30): 2 px each side, 3 px above and below: rows 47..83, columns -12..12.
    np.testing.assert_array_equal(margin_crop(image, (-10, 50, 20, 30), 0.1), image[47:64, 0:12])
    assert margin_crop(image, (-50, -50, 20, 20), 0.1).shape == (0, 0)  # rows and columns -52..-28: not image[0:-28]
    assert margin_crop(image, (70, 10, 20, 20), 0.1).shape == (24, 0)
    np.testing.assert_array_equal(_clipped(image, -5.2, 60, 10), image[60:64, 0:5])
    assert _clipped(image, -30, -30, 20).shape == _clipped(image, 70, 70, 20).shape == (0, 0)


def test_boxes_without_a_pixel_in_the_image_are_no_faces():
    from tests.test_recognizer import BRIGHTNESS

    outside = [(-50, -50, 20, 20), (70, 10, 20, 20), (10, 64, 20, 20), (30, 30, 0, 10)]
    recognizer = Recognizer(BRIGHTNESS, detector=BoxDetector([*outside, (10, 10, 20, 20)]), margin=0)
    image = np.zeros((64, 64, 3), "uint8")
    image[10:30, 10:30] = 255
    [face] = recognizer.analyze(image)
    assert face["box"] == (10, 10, 20, 20) and face["scores"]["bright"] == pytest.approx(1.0)
    assert recognizer.detect(image)[0].box == (10, 10, 20, 20)
    partly = Recognizer(BRIGHTNESS, detector=BoxDetector([(-10, -10, 40, 40)]), margin=0)
    # The part inside, rows and columns 0..30, is 20x20 bright of 30x30.
    assert partly.analyze(image)[0]["scores"]["bright"] == pytest.approx(400 / 900, abs=0.01)
