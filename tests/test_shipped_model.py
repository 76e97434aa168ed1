"""The model installed with keras-fer reproduces its card's report on the real FER2013 PublicTest split."""

import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from keras_fer.data import load_fer2013, load_ferplus
from keras_fer.inference.classifiers import load_classifier, shipped_model_path
from keras_fer.models import WEIGHTS
from keras_fer.models.tta import predict_probabilities
from keras_fer.training import classification_report, config_to_dict, load_config
from tests.testing_data import FER2013, FERPLUS, needs_fer2013, needs_ferplus

CARD = Path(__file__).resolve().parents[1] / "saved_models" / "fer2013"


@needs_fer2013
def test_shipped_model_reproduces_report_json():
    expected = json.loads((CARD / "report.json").read_text())
    validation = load_fer2013(FER2013, "val")
    probabilities = predict_probabilities(keras.models.load_model(shipped_model_path("fer2013")), validation, batch_size=256)
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
    validation = load_ferplus(FERPLUS, "PublicTest")
    probabilities = predict_probabilities(keras.models.load_model(shipped_model_path("ferplus")), validation, batch_size=256)
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
