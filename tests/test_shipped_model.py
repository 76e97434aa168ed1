"""The models installed with keras-fer reproduce their cards' figures on the real FER2013 and FER+ PublicTest splits."""

import functools
import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_fer.data import load_fer2013, load_ferplus
from keras_fer.data.classes import EXPRESSIONS, to_basic_classes
from keras_fer.data.perturbations import PERTURBATIONS
from keras_fer.inference.classifiers import load_classifier, shipped_model_path
from keras_fer.models import WEIGHTS
from keras_fer.models.tta import predict_probabilities
from keras_fer.training import classification_report, config_to_dict, load_config
from tests.testing_data import FER2013, FERPLUS, needs_fer2013, needs_ferplus

CARD = Path(__file__).resolve().parents[1] / "saved_models" / "fer2013"


@needs_fer2013
def test_shipped_model_reproduces_report_json():
    expected = json.loads((CARD / "report.json").read_text())
    validation = card_split("fer2013")
    probabilities = shipped_predictions("fer2013")
    report = classification_report(validation.labels, probabilities, validation.class_names)
    assert expected["num_examples"] == len(validation.labels) == 3579 and not expected["test_time_flip"]
    # Another CPU's float rounding may tip one close call: one face moved, no more.
    moved = np.abs(np.subtract(report["confusion_matrix"], expected["confusion_matrix"])).sum() // 2
    assert moved <= 1, report["confusion_matrix"]
    assert abs(report["accuracy"] - expected["accuracy"]) <= 1 / 3579 + 1e-4
    if not moved:
        for key in ("accuracy", "balanced_accuracy", "macro_f1"):
            assert abs(report[key] - expected[key]) < 1e-4, key
    check_twin("fer2013", validation, probabilities, (CARD / "README.md").read_text())


def test_cards_quote_report_json():
    report = json.loads((CARD / "report.json").read_text())
    accuracy, balanced = (f"{100 * report[key]:.2f}%" for key in ("accuracy", "balanced_accuracy"))
    card = (CARD / "README.md").read_text()
    assert f"| accuracy | **{accuracy}** |" in card and f"| balanced accuracy (mean class recall) | **{balanced}** |" in card
    assert f"| {accuracy} | {balanced} |" in (CARD.parent / "README.md").read_text()


def test_every_stage_config_still_loads():
    # The card's recipe is these files: a config schema change must not strand them.
    stages = {path.name: load_config(str(path)) for path in sorted(CARD.glob("*.yaml"))}
    assert len(stages) >= 11
    assert stages["config.yaml"].model.spatial_kernel_size == 3 and stages["config.yaml"].loss.weighting == "none"


@pytest.mark.parametrize("recipe, resolved", [("stage6.yaml", "stage6_config.yaml"), ("stage7.yaml", "config.yaml")])
def test_distillation_stages_are_the_recipe_that_ran(recipe, resolved):
    # Stages 6 and 7 ran from a script whose recipe is now these files plus their teachers;
    # the resolved configs it wrote carry everything but the teachers.
    ours, ran = (config_to_dict(load_config(str(CARD / name))) for name in (recipe, resolved))
    assert ours.pop("distillation")["teachers"][-2:] == ["runs/fer2013-stage5.keras", "runs/fer2013-stage4.keras"]
    ran.pop("distillation")
    assert ours == ran


@pytest.mark.parametrize("student, shipped", [("fer2013/stage7.yaml", "fer2013"), ("ferplus/distil.yaml", "ferplus")])
def test_the_gpu_students_start_from_the_shipped_models(student, shipped, monkeypatch):
    # tools/stage8_gpu.sh fine-tunes each shipped model with these configs: their model sections must fit its file.
    from keras_fer.training.run import build_model

    monkeypatch.chdir(CARD.parents[1])
    config = load_config(str(CARD.parent / student), [f"model.weights=keras_fer/assets/{shipped}.keras"])
    model = build_model(config.model, 8 if shipped == "ferplus" else 7, 0)
    reference = keras.models.load_model(shipped_model_path(shipped))
    assert len(model.weights) == len(reference.weights) and model.input_shape == reference.input_shape
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), reference.get_weights()))


@needs_ferplus
def test_shipped_ferplus_model_reproduces_its_report_json():
    card = CARD.parent / "ferplus"
    expected = json.loads((card / "report.json").read_text())
    validation = card_split("ferplus")
    probabilities = shipped_predictions("ferplus")
    report = classification_report(validation.labels, probabilities, validation.class_names)
    assert expected["num_examples"] == len(validation.labels) == 3432 and len(validation.class_names) == 8
    moved = np.abs(np.subtract(report["confusion_matrix"], expected["confusion_matrix"])).sum() // 2
    assert moved <= 1, report["confusion_matrix"]
    if not moved:
        for key in ("accuracy", "balanced_accuracy", "macro_f1"):
            assert abs(report[key] - expected[key]) < 1e-4, key
    check_twin("ferplus", validation, probabilities, (card / "README.md").read_text())
    accuracy, balanced = (f"{100 * expected[key]:.2f}%" for key in ("accuracy", "balanced_accuracy"))
    assert f"| accuracy | **{accuracy}** |" in (card / "README.md").read_text()
    assert f"| {accuracy} | {balanced} |" in (CARD.parent / "README.md").read_text()


def check_twin(name, validation, probabilities, card):
    """The TFLite twin `Recognizer` runs agrees with the `.keras` model on >= 99% of the split, with the card's figures."""
    scores = load_classifier(name)(validation.images)
    predicted, reference = scores.argmax(-1), probabilities.argmax(-1)
    twin = classification_report(validation.labels, scores, validation.class_names)
    exact = classification_report(validation.labels, probabilities, validation.class_names)
    top_two = np.sort(probabilities, axis=-1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 0.05
    measured = {"agreement": np.mean(predicted == reference), "clear": np.mean(predicted[clear] == reference[clear])}
    rows = {}
    for runtime, file in (("keras", f"{name}.keras"), ("tflite", f"{name}_dynamic_int8.tflite")):
        row = re.search(rf"\| `\"{runtime}\"`(?: \(default\))? \| `{re.escape(file)}` \|([^\n]*)\|\n", card)
        assert row, f"the card has no row for {file}"
        rows[runtime] = [float(cell.strip().rstrip("%")) for cell in row.group(1).split("|")]
    faces = len(predicted)
    assert rows["keras"][2:4] == [100, 100] and abs(rows["keras"][0] / 100 - exact["accuracy"]) <= 1 / faces + 1e-4
    assert abs(rows["keras"][1] / 100 - exact["balanced_accuracy"]) <= 0.01
    accuracy, balanced, agreement, clear_agreement, megabytes = rows["tflite"]
    assert measured["agreement"] >= 0.99 and measured["clear"] >= 0.999
    # Another CPU's kernels may round a close call the other way: two faces, no more (one face of a rare class moves
    # balanced accuracy by up to 1/27/8 = 0.46 points).
    assert abs(twin["accuracy"] - accuracy / 100) <= 2 / faces + 1e-4 and abs(measured["agreement"] - agreement / 100) <= 2 / faces + 1e-4
    assert abs(measured["clear"] - clear_agreement / 100) <= 2 / clear.sum() + 1e-4 and abs(twin["balanced_accuracy"] - balanced / 100) <= 0.01
    assert megabytes == round(WEIGHTS[name].twin.stat().st_size / 1e6, 2)


@functools.cache
def card_split(name):
    """The faces a shipped model's card reports on: FER2013 PublicTest with FER2013's labels, or with FER+'s majority labels."""
    return load_fer2013(FER2013, "val") if name == "fer2013" else load_ferplus(FERPLUS, "PublicTest")


def shipped_predictions(name, change=None, split=None):
    """The shipped `.keras` model's probabilities on `split` (default: its card's), the faces changed as `benchmarks/robustness.py` changes them.

    `change` is `(perturbation, amount)` of `keras_fer.data.perturbations.PERTURBATIONS`. Cached: each
    prediction of 3,400-3,600 faces takes seconds, and several tests read the same ones.
    """
    return _predictions(name, change, split or name)


@functools.cache
def _predictions(name, change, split):
    faces = card_split(split)
    if change is None:
        return predict_probabilities(shipped_keras_model(name), faces, batch_size=256)
    images = PERTURBATIONS[change[0]](faces.images, change[1])
    return shipped_keras_model(name).predict(images.astype("float32"), batch_size=256, verbose=0)


@functools.cache
def shipped_keras_model(name):
    return keras.models.load_model(shipped_model_path(name))


# Rows of the cards' robustness tables recomputed here: the tilt that README's "Which model by default" quotes, and blur.
ROBUSTNESS_ROWS = [("rotation", -30, "rotation -30 degrees"), ("blur", 1.0, "blur sigma 1 px")]


@pytest.mark.parametrize("name", [pytest.param("fer2013", marks=needs_fer2013), pytest.param("ferplus", marks=needs_ferplus)])
def test_shipped_models_reproduce_their_cards_robustness_rows(name):
    card = (CARD.parent / name / "README.md").read_text()
    faces = card_split(name)
    clean = shipped_predictions(name).argmax(-1)
    count = len(faces.labels)
    for perturbation, amount, label in ROBUSTNESS_ROWS:
        row = re.search(rf"^\| {re.escape(label)} \| ([\d.]+)% \| ([\d.]+)% \| [+-][\d.]+ \| ([\d.]+)%", card, re.MULTILINE)
        assert row, f"{name}'s card has no row '{label}'"
        accuracy, balanced, kept = (float(value) / 100 for value in row.groups())
        probabilities = shipped_predictions(name, (perturbation, amount))
        report = classification_report(faces.labels, probabilities, faces.class_names)
        # Another CPU's rounding may tip two close calls; the card rounds to 0.01 points.
        assert abs(report["accuracy"] - accuracy) <= 2 / count + 1e-4, (label, report["accuracy"])
        assert abs(np.mean(probabilities.argmax(-1) == clean) - kept) <= 2 / count + 1e-4, label
        assert abs(report["balanced_accuracy"] - balanced) <= 0.01, label


@needs_fer2013
@needs_ferplus
def test_the_cross_label_table_and_the_default_models_reasons_in_readme():
    # saved_models/ferplus/README.md, "Against the other label set": each model against the label set it was not trained on,
    # which README's "Which model by default" quotes.
    card = (CARD.parent / "ferplus" / "README.md").read_text()
    readme = (CARD.parents[1] / "README.md").read_text()
    fer2013, ferplus = card_split("fer2013"), card_split("ferplus")
    basic = ferplus.labels < len(EXPRESSIONS)
    figures = {}
    for name in ("fer2013", "ferplus"):
        on_fer2013 = shipped_predictions(name, split="fer2013")
        on_ferplus = shipped_predictions(name, split="ferplus")[basic]
        if name == "ferplus":
            on_fer2013, on_ferplus = (to_basic_classes(scores, ferplus.class_names) for scores in (on_fer2013, on_ferplus))
        scored = ((fer2013.labels, on_fer2013), (ferplus.labels[basic], on_ferplus))
        reports = [classification_report(labels, scores, EXPRESSIONS) for labels, scores in scored]
        row = re.search(rf"^\| {name} \| [78] \| ([\d.]+)% \| ([\d.]+)% \| ([\d.]+)% \| ([\d.]+)% \|", card, re.MULTILINE)
        assert row, f"the cross-label table has no row for {name}"
        quoted = [float(value) / 100 for value in row.groups()]
        for report, (accuracy, balanced), faces in zip(reports, (quoted[:2], quoted[2:]), (len(fer2013.labels), basic.sum())):
            # Two close calls may tip on another CPU; balanced accuracy moves more per face of a rare class.
            assert abs(report["accuracy"] - accuracy) <= 2 / faces + 1e-4, (name, report["accuracy"], accuracy)
            assert abs(report["balanced_accuracy"] - balanced) <= 0.005, (name, report["balanced_accuracy"], balanced)
        figures[name] = quoted
    assert basic.sum() == 3405
    agreement = f"with the ten-annotator labels {100 * figures['ferplus'][2]:.2f}% of the time against the `fer2013`\nmodel's"
    assert f"{agreement} {100 * figures['fer2013'][2]:.2f}%" in readme
    assert f"({100 * figures['ferplus'][0]:.2f}% against {100 * figures['fer2013'][0]:.2f}%)" in readme
