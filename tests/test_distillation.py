import keras
import numpy as np
import pytest

from keras_fer.data import FERDataset, load_split
from keras_fer.training import distillation_targets, load_config, train
from keras_fer.training.run import build_model
from tests.testing import SMALL, training_split_of


def _pixel_teacher():
    """A teacher whose logits are the top-left and top-right pixels of a 2x2 face."""
    teacher = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    teacher.layers[-1].set_weights([np.array([[1, 0], [0, 1], [0, 0], [0, 0]], "float32"), np.zeros(2, "float32")])
    return teacher


def _softmax(logits):
    return np.exp(logits) / np.exp(logits).sum()


FACES = FERDataset(np.array([[[1, 3], [0, 0]], [[2, 2], [5, 0]]], "uint8")[..., None], np.array([0, 1], "int32"), ("a", "b"))


def test_targets_mix_labels_with_the_flip_averaged_teachers():
    teacher = _pixel_teacher()
    targets, accuracy = distillation_targets(FACES, [teacher, teacher], batch_size=1)
    first = (_softmax([1.0, 3.0]) + _softmax([3.0, 1.0])) / 2  # the face and its mirror image
    np.testing.assert_allclose(targets, [0.5 * np.array([1, 0]) + 0.5 * first, [0.25, 0.75]], rtol=1e-6)
    # The mean prediction is a tie on both faces; argmax takes class 0, the first face's label.
    assert targets.dtype == np.float32 and accuracy == 0.5


def test_label_weight_flip_and_soft_labels():
    soft = FERDataset(FACES.images, np.array([[0.8, 0.2], [0.4, 0.6]], "float32"), FACES.class_names)
    targets, accuracy = distillation_targets(soft, [_pixel_teacher()], label_weight=0.25, flip=False)
    expected = 0.25 * soft.labels + 0.75 * np.array([_softmax([1.0, 3.0]), [0.5, 0.5]])
    np.testing.assert_allclose(targets, expected, rtol=1e-6)
    assert accuracy == 0.0  # class 1 on the first face (label 0); the tie names class 0 on the second (label 1)
    np.testing.assert_allclose(distillation_targets(soft, [_pixel_teacher()], label_weight=1.0)[0], soft.labels, rtol=1e-6)


def test_teachers_are_checked_and_named(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        distillation_targets(FACES, [])
    with pytest.raises(ValueError, match=r"`label_weight` must lie in \[0, 1\]"):
        distillation_targets(FACES, [_pixel_teacher()], label_weight=1.5)
    with pytest.raises(ValueError, match=r"distillation.teachers: .*gone.keras does not exist"):
        distillation_targets(FACES, [tmp_path / "gone.keras"])
    with pytest.raises(ValueError, match=r"distillation.teachers must be a .keras file. Received: .*model.h5"):
        distillation_targets(FACES, [tmp_path / "model.h5"])
    wrong = keras.Sequential([keras.Input((3, 3, 1)), keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    wrong.save(tmp_path / "wrong.keras")
    with pytest.raises(ValueError, match=r"Teacher .*wrong.keras: The model takes \(3, 3, 1\) images but the dataset has \(2, 2, 1\)"):
        distillation_targets(FACES, [tmp_path / "wrong.keras"])
    logits = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(2)])  # no softmax
    logits.layers[-1].set_weights([np.array([[1, 0], [0, 1], [0, 0], [0, 0]], "float32"), np.zeros(2, "float32")])
    logits.save(tmp_path / "logits.keras")
    with pytest.raises(ValueError, match=r"Teacher .*logits.keras: its outputs must be class probabilities .* 2 rows are not. .* row 0 = \[2.0, 2.0"):
        distillation_targets(FACES, [tmp_path / "logits.keras"])  # was an error about `targets` rows, naming no teacher


def test_config_teachers_become_the_training_targets(tmp_path, monkeypatch, capsys):
    teacher = build_model(load_config("synthetic").model, num_classes=7, seed=3)
    teacher.save(tmp_path / "teacher.keras")
    overrides = [*SMALL, f"output.path={tmp_path / 'run'}", f"distillation.teachers=[{tmp_path / 'teacher.keras'}]"]
    split = training_split_of(load_config("synthetic", [*overrides, "distillation.label_weight=0.7"]), monkeypatch)
    faces = load_split("synthetic", None, "train", options=load_config("synthetic", SMALL).data.options, image_size=(32, 32), seed=0)
    expected, accuracy = distillation_targets(faces, [teacher], label_weight=0.7)
    np.testing.assert_allclose(split.labels, expected, atol=1e-6)
    assert f"names the training label of {accuracy:.2%} of the images" in capsys.readouterr().out
    with pytest.raises(ValueError, match="not both"):
        train(load_config("synthetic", overrides), targets=lambda split: split.labels)


def test_missing_teacher_fails_before_the_run_directory_is_made(tmp_path):
    config = load_config("synthetic", [f"distillation.teachers=[{tmp_path / 'gone.keras'}]", f"output.path={tmp_path / 'run'}"])
    with pytest.raises(ValueError, match=r"distillation.teachers: .*gone.keras does not exist"):
        train(config)
    assert not (tmp_path / "run").exists()
