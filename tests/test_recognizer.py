import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from keras_fer import Recognizer
from keras_fer.export import export_saved_model
from keras_fer.files import file_sha256
from keras_fer.inference import load_classifier
from keras_fer.inference.classifiers import Classifier
from keras_fer.models import WEIGHTS
from keras_fer.models.presets import TWIN_QUANTIZATION
from tests.testing import PHOTO, BoxDetector


def test_predict_faces_takes_any_size_gray_or_color(model_file):
    recognizer = Recognizer.from_file(model_file, detector=BoxDetector([]))
    rng = np.random.default_rng(0)
    single = recognizer.predict_faces(rng.integers(0, 255, (50, 40), dtype="uint8"))
    batch = recognizer.predict_faces([rng.integers(0, 255, (64, 64, 3), dtype="uint8"), rng.integers(0, 255, (20, 30, 1), dtype="uint8")])
    assert single.shape == (1, 7) and batch.shape == (2, 7)
    np.testing.assert_allclose(batch.sum(-1), 1, rtol=1e-5)
    gray = np.asarray(Image.fromarray(np.full((64, 64, 3), 90, "uint8")).convert("L").resize((32, 32)))[..., None]
    expected = load_classifier(model_file)(gray[None])
    np.testing.assert_allclose(recognizer.predict_faces(np.full((64, 64, 3), 90, "uint8")), expected, atol=1e-6)
    assert recognizer.predict_faces([]).shape == (0, 7)


def test_a_colour_crop_reaches_a_gray_model_as_601_luma_resized_like_the_training_images():
    seen = []
    classifier = Classifier(lambda faces: seen.append(faces.copy()) or np.full((len(faces), 2), 0.5), (24, 24, 1), ["a", "b"], None)
    crop = np.random.default_rng(0).integers(0, 256, (150, 120, 3), dtype="uint8")
    Recognizer(classifier, BoxDetector([])).predict_faces([crop, np.dstack([crop, np.full((150, 120), 7, "uint8")])])  # RGB, RGBA
    # ITU-R 601-2 luma (PIL's "L"), then PIL's antialiased bilinear resize, as keras_fer.data.images resizes training images.
    luma = np.floor(crop @ np.array([0.299, 0.587, 0.114]) + 0.5).astype("uint8")
    expected = np.asarray(Image.fromarray(luma).resize((24, 24), Image.BILINEAR)).astype(int)
    assert seen[0].shape == (2, 24, 24, 1) and seen[0].dtype == np.uint8
    for received in seen[0]:
        assert np.abs(received[..., 0].astype(int) - expected).max() <= 1


def _left_half_brightness(faces):
    left = faces[:, :, :16].mean(axis=(1, 2, 3)) / 255
    return np.stack([left, 1 - left], axis=-1)


def test_flip_averages_with_the_mirror_image():
    classifier = Classifier(_left_half_brightness, (32, 32, 1), ["left", "right"], None)
    faces = np.zeros((3, 32, 32, 1), "uint8")
    faces[:, :, :16], faces[:, :, 16:] = 204, 51
    faces[1, :, :16] = 102
    flipped = Recognizer(classifier, BoxDetector([]), batch_size=2, flip=True).predict_faces(faces)
    # Face 1: left half 102, right half 51; the mirror image has them swapped.
    np.testing.assert_allclose(flipped[:, 0], [(0.8 + 0.2) / 2, (0.4 + 0.2) / 2, (0.8 + 0.2) / 2], atol=1e-6)
    np.testing.assert_allclose(Recognizer(classifier, BoxDetector([])).predict_faces(faces)[:, 0], [0.8, 0.4, 0.8], atol=1e-6)


def test_shift_averages_over_the_face_moved_each_way():
    classifier = Classifier(_left_half_brightness, (32, 32, 1), ["left", "right"], None)
    face = np.zeros((32, 32, 1), "uint8")
    face[:, :16], face[:, 16:] = 204, 51
    shifted = Recognizer(classifier, BoxDetector([]), batch_size=3, shift=1).predict_faces(face)
    # Moved right, the left half stays 204 (column 0 repeats); moved left, its
    # last column is the right half's 51: (15 * 204 + 51) / 16 / 255 = 0.7625.
    # Moved up or down it is unchanged: the mean of 0.8, 0.8, 0.7625, 0.8, 0.8.
    np.testing.assert_allclose(shifted[:, 0], [(4 * 0.8 + 0.7625) / 5], atol=1e-6)
    both = Recognizer(classifier, BoxDetector([]), shift=1, flip=True).predict_faces(face)
    # Mirrored, the left half is 51 (0.2); moved right, its last column is 204.
    np.testing.assert_allclose(both[:, 0], [(4 * 0.8 + 0.7625 + 4 * 0.2 + (15 * 51 + 204) / 16 / 255) / 10], atol=1e-6)
    with pytest.raises(ValueError, match="`shift` must be an integer from 0 to 15"):
        Recognizer(classifier, BoxDetector([]), shift=16)


def test_analyze_orders_faces_left_to_right_and_crops_with_margin(model_file):
    image = np.zeros((100, 200, 3), "uint8")
    image[10:50, 120:160] = 200
    recognizer = Recognizer.from_file(model_file, detector=BoxDetector([(120, 10, 40, 40), (20, 30, 40, 40)]), margin=0.25)
    faces = recognizer.analyze(image)
    assert [face["box"] for face in faces] == [(20, 30, 40, 40), (120, 10, 40, 40)]
    assert set(faces[0]["scores"]) == set(recognizer.class_names)
    assert faces[1]["label"] == max(faces[1]["scores"], key=faces[1]["scores"].get)
    crop = image[0:60, 110:170]
    expected = recognizer.predict_faces(crop)[0]
    assert [faces[1]["scores"][name] for name in recognizer.class_names] == pytest.approx(expected.tolist(), abs=1e-4)


@pytest.mark.slow
def test_haar_detector_on_real_photos(model_file, tmp_path):
    recognizer = Recognizer.from_file(model_file)
    one = recognizer.analyze(PHOTO)
    assert len(one) == 1
    x, y, width, height = one[0]["box"]
    assert 150 < x + width / 2 < 370 and 100 < y + height / 2 < 350  # Grace Hopper's face, 512x600 portrait
    portrait = Image.open(PHOTO)
    pair = Image.new("RGB", (portrait.width * 2, portrait.height))
    pair.paste(portrait, (0, 0))
    pair.paste(portrait.transpose(Image.FLIP_LEFT_RIGHT), (portrait.width, 0))
    two = recognizer.analyze(pair)
    assert len(two) == 2 and two[0]["box"][0] < portrait.width <= two[1]["box"][0]
    blank = Image.new("RGB", (300, 300), "gray")
    ImageDraw.Draw(blank).rectangle((50, 50, 120, 200), fill="white")
    assert recognizer.analyze(blank) == []


@pytest.mark.slow
def test_every_model_format_loads(model_file, tflite_file, tmp_path):
    from keras import models

    model = models.load_model(model_file)
    face = np.random.default_rng(1).integers(0, 255, (1, 32, 32, 1), dtype="uint8")
    expected = load_classifier(model_file)(face)
    for path in (export_saved_model(model, tmp_path / "sm"), tflite_file):
        classifier = load_classifier(path)
        assert classifier.input_shape == (32, 32, 1) and classifier.class_names[1] == "disgust"
        np.testing.assert_allclose(classifier(face), expected, atol=1e-4)


def test_a_model_saved_in_mixed_precision_answers_in_float32_and_its_file_is_left_alone(tmp_path, monkeypatch):
    import keras

    from keras_fer.models import from_preset
    from keras_fer.models.loading import float32_copy
    from keras_fer.training import evaluate_command

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")  # as `model.save` of a model built for training.mixed_precision keeps it
    try:
        model = from_preset("tiny", seed=0)
    finally:
        keras.config.set_dtype_policy(previous)
    path = tmp_path / "mixed.keras"
    model.save(path)
    digest = file_sha256(path)
    faces = np.random.default_rng(2).integers(0, 256, (8, 32, 32, 1), dtype="uint8")
    in_float32 = float32_copy(model).predict(faces.astype("float32"), verbose=0)
    assert np.abs(model.predict(faces.astype("float32"), verbose=0) - in_float32).max() > 1e-4  # bfloat16's answers differ
    classifier = load_classifier(path)
    np.testing.assert_allclose(classifier(faces), in_float32, atol=1e-6)
    np.testing.assert_allclose(Recognizer(model=path).predict_faces(faces), in_float32, atol=1e-6)
    assert {layer.compute_dtype for layer in classifier.model.layers} == {"float32"}
    evaluated = []
    monkeypatch.setattr(evaluate_command, "write_report", lambda model, *rest: evaluated.append(model) or {})
    evaluate_command.evaluate_run(path, config="synthetic", output=tmp_path / "report")
    assert {layer.compute_dtype for layer in evaluated[0].layers} == {"float32"}
    assert file_sha256(path) == digest


def test_bad_inputs_are_clear_errors(model_file, tmp_path):
    recognizer = Recognizer.from_file(model_file, detector=BoxDetector([]))
    with pytest.raises(ValueError, match="nothing.jpg is not a readable image"):
        recognizer.analyze(tmp_path / "nothing.jpg")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="notes.txt is not a readable image"):
        recognizer.analyze(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="Received: image of shape \\(2, 2, 2, 2, 2\\)"):
        recognizer.analyze(np.zeros((2, 2, 2, 2, 2)))
    with pytest.raises(ValueError, match="A face crop must be"):
        recognizer.predict_faces(np.zeros((2, 10, 10, 2)))
    with pytest.raises(ValueError, match="is not a model keras-fer can read"):
        load_classifier(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="does not exist"):
        load_classifier(tmp_path / "missing.keras")


def test_default_recognizer_uses_the_model_installed_with_the_package():
    import configparser

    import keras_fer
    from keras_fer.inference.classifiers import shipped_model_path

    package = Path(keras_fer.__file__).parent
    path = shipped_model_path()
    assert path == package / "assets" / "ferplus.keras" and path.is_file()
    assert all(shipped_model_path(name).stat().st_size <= 25e6 for name in ("fer2013", "ferplus"))
    setup = configparser.ConfigParser()
    setup.read(package.parent / "setup.cfg")
    assert {"assets/*.keras", "assets/*.tflite", "assets/*.json"} <= set(setup["options.package_data"]["keras_fer"].split())
    assert (package.parent / "saved_models" / "ferplus" / "model.keras").resolve() == path.resolve()
    recognizer = Recognizer()
    assert recognizer.classifier.path == package / "assets" / "ferplus_dynamic_int8.tflite" and recognizer.classifier.keras_path == path
    assert recognizer.classifier.input_shape == (48, 48, 1)
    assert recognizer.classifier.class_names[-1] == "contempt" and recognizer.basic_classes  # FER+'s 8 classes, reported over the 7
    assert recognizer.class_names == ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert Recognizer(basic_classes=False).class_names[-1] == "contempt"
    faces = recognizer.analyze(PHOTO)
    assert len(faces) == 1 and sum(faces[0]["scores"].values()) == pytest.approx(1, abs=1e-3)


def test_saved_model_without_tensorflow_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` fails, as where it is not installed
    (tmp_path / "served").mkdir()
    with pytest.raises(ValueError, match=r"served: a SavedModel needs TensorFlow, which is not installed; a .keras or .tflite"):
        load_classifier(tmp_path / "served")


def _mean_brightness(faces):
    """A classifier whose first score is the mean pixel value / 255: shows the pixels it was given."""
    mean = faces.reshape(len(faces), -1).mean(axis=1, keepdims=True) / 255.0
    return np.concatenate([mean, 1 - mean], axis=1).astype("float32")


BRIGHTNESS = Classifier(_mean_brightness, (16, 16, 1), ["bright", "dark"], None)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "uint8"])
def test_crops_in_0_to_255_of_any_numeric_type_give_the_uint8_answer(dtype):
    recognizer = Recognizer(BRIGHTNESS, detector=BoxDetector([]))
    face = np.full((16, 16), 200, "uint8")
    assert recognizer.predict_faces(face.astype(dtype))[0, 0] == pytest.approx(200 / 255)


@pytest.mark.parametrize(
    "face, message",
    [
        (np.full((16, 16), 0.8, "float32"), "floats in \\[0, 1\\].*multiply by 255"),
        (np.full((16, 16), np.nan, "float32"), "NaN or infinite"),
        (np.full((16, 16, 3), np.inf), "NaN or infinite"),
        (np.ones((16, 16), bool), "uint8 pixels or numbers in \\[0, 255\\]. Received dtype bool"),
        (np.full((16, 16), 40_000, "uint16"), "values in \\[0, 255\\]. Received uint16 values from 40000 to 40000"),
        (np.full((16, 16), -3.0), "values from -3 to -3"),
        (np.zeros((16, 16, 2), "uint8"), "\\(height, width, 1\\|3\\|4\\). Received: faces, a ndarray of shape \\(16, 16, 2\\)"),
        (np.zeros((1, 1), "uint8"), "at least 8x8 pixels. Received: faces of shape \\(1, 1\\)"),
        (np.zeros(2304, "uint8"), "`faces` must be a face crop .* Received: faces of shape \\(2304,\\)"),
        ([None], "Received: faces\\[0\\], a NoneType of shape \\(\\)"),
        ("face.png", "for an image file use `analyze`"),
    ],
    ids=["float-0-1", "nan", "inf", "bool", "uint16", "negative", "2-channels", "1x1", "flat", "none", "path"],
)
def test_crops_that_are_not_pixels_are_refused(face, message):
    with pytest.raises(ValueError, match=message):
        Recognizer(BRIGHTNESS, detector=BoxDetector([])).predict_faces(face)


def test_a_pil_image_is_one_face_like_an_array():
    recognizer = Recognizer(BRIGHTNESS, detector=BoxDetector([]))
    assert recognizer.predict_faces(Image.new("L", (48, 48), 200)).tolist() == recognizer.predict_faces(np.full((48, 48), 200, "uint8")).tolist()
    assert recognizer.predict_faces(Image.new("RGB", (20, 30), (51, 51, 51)))[:, 0] == pytest.approx([0.2])
    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 102, 102, 102])  # index 1 is gray 102, not pixel value 1
    assert recognizer.predict_faces([palette, Image.new("L", (16, 16), 255)])[:, 0] == pytest.approx([0.4, 1.0])


def test_analyze_refuses_a_float_image_in_0_to_1():
    recognizer = Recognizer(BRIGHTNESS, detector=BoxDetector([(0, 0, 16, 16)]))
    with pytest.raises(ValueError, match="An image holds floats in \\[0, 1\\]"):
        recognizer.analyze(np.full((32, 32, 3), 0.5))
    assert recognizer.analyze(np.full((32, 32, 3), 127.0))[0]["scores"]["bright"] == pytest.approx(127 / 255, abs=1e-4)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"batch_size": 0}, "`batch_size` must be a positive integer. Received: batch_size=0"),
        ({"batch_size": 2.5}, "`batch_size` must be a positive integer"),
        ({"margin": -0.9}, "`margin` must be a number in \\[0, 1\\]"),
        ({"margin": "wide"}, "`margin` must be a number"),
        ({"flip": "yes"}, "`flip` must be True or False"),
    ],
)
def test_recognizer_arguments_are_checked_in_the_constructor(arguments, message):
    with pytest.raises(ValueError, match=message):
        Recognizer(BRIGHTNESS, detector=BoxDetector([]), **arguments)


def test_shipped_models_are_named_and_a_name_with_a_classifier_is_refused(model_file):
    named = Recognizer(model="fer2013", detector=BoxDetector([]))
    assert named.classifier.path == WEIGHTS["fer2013"].twin and named.class_names == load_classifier("fer2013", "keras").class_names
    assert Recognizer(model="fer2013", runtime="keras", detector=BoxDetector([])).classifier.path == WEIGHTS["fer2013"].path
    with pytest.raises(ValueError, match=r"Model ferplus9 does not exist \(shipped models: \['fer2013', 'ferplus'\]\)"):
        Recognizer(model="ferplus9")
    with pytest.raises(ValueError, match="Pass `classifier` or `model` \\(with `runtime`\\), not both. Received: model='fer2013' and a classifier"):
        Recognizer(named.classifier, model="fer2013")
    with pytest.raises(ValueError, match="Received: runtime='keras' and a classifier"):
        Recognizer(named.classifier, runtime="keras")
    with pytest.raises(ValueError, match=r"`runtime` must be one of \['tflite', 'keras'\] or None. Received: runtime='onnx'"):
        load_classifier("ferplus", runtime="onnx")
    with pytest.raises(ValueError, match=re.escape(f"{model_file} is a model file: `runtime` (--runtime) applies only to shipped models")):
        load_classifier(model_file, runtime="tflite")
    with pytest.raises(ValueError, match="`runtime` \\(--runtime\\) applies only to shipped models"):
        Recognizer.from_file(model_file, runtime="keras")
    with pytest.raises(ValueError, match="`num_threads` sets LiteRT's threads, for .tflite models and shipped models' twins"):
        load_classifier("ferplus", runtime="keras", num_threads=2)
    with pytest.raises(ValueError, match="Received: model='fer2013' and runtime='keras' and a classifier"):
        Recognizer(named.classifier, model="fer2013", runtime="keras")
    with pytest.raises(ValueError, match="`num_threads` must be None or a positive integer. Received: num_threads=0"):
        load_classifier("ferplus", num_threads=0)
    assert load_classifier("ferplus", num_threads=1).predict.__self__.num_threads == 1


@pytest.mark.parametrize("name", sorted(WEIGHTS))
def test_each_shipped_model_runs_as_its_tflite_twin_exported_from_the_shipped_keras_file(name):
    weights = WEIGHTS[name]
    metadata = json.loads(weights.twin.with_suffix(".json").read_text())
    # tools/build_twins.sh exported it from the .keras file that ships now, not from an older one.
    assert metadata["source"] == {"file": weights.path.name, "sha256": file_sha256(weights.path)}
    assert metadata["quantization"] == TWIN_QUANTIZATION and weights.twin.name == f"{name}_{TWIN_QUANTIZATION}.tflite"
    twin, exact = Recognizer(model=name, basic_classes=False), Recognizer(model=name, runtime="keras", basic_classes=False)
    assert twin.classifier._model is None and twin.classifier.keras_path == exact.classifier.path == weights.path
    assert (twin.classifier.input_shape, twin.class_names) == (exact.classifier.input_shape, exact.class_names)
    [fast], [reference] = twin.analyze(PHOTO), exact.analyze(PHOTO)
    assert fast["label"] == reference["label"] and fast["box"] == reference["box"]
    np.testing.assert_allclose(list(fast["scores"].values()), list(reference["scores"].values()), atol=0.03)
    # Explanations read the .keras file at first use, and give its labels and scores.
    [explained], [reference_explained] = twin.explain(PHOTO), exact.explain(PHOTO)
    assert explained["scores"] == reference_explained["scores"] and explained["label"] == reference["label"]
    np.testing.assert_allclose(explained["gradcam"], reference_explained["gradcam"], atol=1e-5)


def test_basic_classes_drop_contempt_and_renormalise():
    from keras_fer.data import EXPRESSIONS, EXPRESSIONS_WITH_CONTEMPT

    scores = np.array([[0.1, 0, 0, 0.4, 0, 0, 0, 0.5]], "float32")
    eight = Classifier(lambda faces: np.repeat(scores, len(faces), axis=0), (16, 16, 1), EXPRESSIONS_WITH_CONTEMPT, None)
    faces = np.zeros((2, 16, 16), "uint8")
    assert Recognizer(eight, detector=BoxDetector([]), basic_classes=False).predict_faces(faces).shape == (2, 8)
    assert Recognizer(BRIGHTNESS, detector=BoxDetector([])).class_names == ("bright", "dark")  # None: basic only where the 7 are there
    basic = Recognizer(eight, detector=BoxDetector([]))
    assert basic.class_names == EXPRESSIONS
    np.testing.assert_allclose(basic.predict_faces(faces), [[0.2, 0, 0, 0.8, 0, 0, 0]] * 2, atol=1e-6)
    with pytest.raises(ValueError, match=r"The model's classes lack \['angry', 'disgust', .* Received: \('bright', 'dark'\)"):
        Recognizer(BRIGHTNESS, detector=BoxDetector([]), basic_classes=True)
    with pytest.raises(ValueError, match="`basic_classes` must be True, False or None. Received: basic_classes='yes'"):
        Recognizer(eight, detector=BoxDetector([]), basic_classes="yes")


def test_num_threads_reaches_what_runs_on_litert_and_is_refused_where_nothing_does(model_file):
    both = Recognizer(num_threads=1)
    assert both.detector.num_threads == 1 and both.classifier.predict.__self__.num_threads == 1
    assert Recognizer(model="fer2013", num_threads=2, detector="haar").classifier.predict.__self__.num_threads == 2
    keras_classifier = Recognizer(model="fer2013", runtime="keras", num_threads=1)  # BlazeFace's threads; TensorFlow keeps its own
    assert keras_classifier.detector.num_threads == 1 and keras_classifier.classifier.path == WEIGHTS["fer2013"].path
    assert Recognizer.from_file(model_file, detector="blazeface-full", num_threads=2).detector.num_threads == 2
    for arguments in ({"model": "fer2013", "runtime": "keras", "detector": "haar"}, {"model": model_file, "detector": BoxDetector([])}):
        with pytest.raises(ValueError, match=r"`num_threads` sets LiteRT's threads .* here it loads neither .* Received: num_threads=1$"):
            Recognizer(num_threads=1, **arguments)
    for arguments in ({}, {"model": model_file, "detector": "haar"}):  # a bad value is named as such, whatever runs on LiteRT
        with pytest.raises(ValueError, match="`num_threads` must be None or a positive integer. Received: num_threads=0"):
            Recognizer(num_threads=0, **arguments)
