import csv
from pathlib import Path

import numpy as np
import pytest

from keras_fer.data import FERDataset
from keras_fer.data.label_noise import flip_labels, flipped_examples
from keras_fer.training import load_config, load_splits, train
from tests.testing import SMALL


def _dataset(labels, num_classes=7):
    labels = np.asarray(labels, "int32")
    return FERDataset(
        np.zeros((len(labels), 4, 4, 1), "uint8"),
        labels,
        tuple(f"c{i}" for i in range(num_classes)),
        sources=tuple(f"face{i}.png" for i in range(len(labels))),
    )


@pytest.mark.parametrize("fraction, expected", [(0.0, 0), (0.2, 200), (0.4, 400), (0.2004, 200), (0.2006, 201)])
def test_exactly_the_share_asked_for_is_flipped(fraction, expected):
    clean = _dataset(np.arange(1000) % 7)
    noisy, flipped = flip_labels(clean, fraction, seed=3)
    changed = np.flatnonzero(noisy.labels != clean.labels)
    assert len(flipped) == expected and changed.tolist() == flipped.tolist()
    assert noisy.labels.dtype == clean.labels.dtype and noisy.sources == clean.sources


def test_the_flip_is_seeded():
    clean = _dataset(np.arange(700) % 7)
    first, second, other = (flip_labels(clean, 0.3, seed)[0].labels for seed in (5, 5, 6))
    assert np.array_equal(first, second) and not np.array_equal(first, other)


def test_class_counts_follow_the_flips():
    clean = _dataset([0] * 600 + [1] * 300 + [2] * 100, num_classes=3)
    noisy, flipped = flip_labels(clean, 0.2, seed=0)
    moved_out = np.bincount(clean.labels[flipped], minlength=3)
    moved_in = np.bincount(noisy.labels[flipped], minlength=3)
    assert noisy.class_counts == (np.array(clean.class_counts) - moved_out + moved_in).tolist()
    assert sum(noisy.class_counts) == 1000


def test_new_labels_are_uniform_over_the_other_classes():
    clean = _dataset(np.zeros(70_000, "int32"))
    noisy, flipped = flip_labels(clean, 0.5, seed=1)
    counts = np.bincount(noisy.labels[flipped], minlength=7)
    assert counts[0] == 0
    # 35,000 flips over 6 classes: 5,833 each, standard deviation about 70.
    assert np.all(np.abs(counts[1:] - 35_000 / 6) < 350)


def test_the_record_names_each_flip_and_its_original_label():
    clean = _dataset(np.arange(50) % 7)
    noisy, flipped = flip_labels(clean, 0.2, seed=2)
    record = flipped_examples(noisy, 0.2, seed=2)
    assert [row[0] for row in record] == flipped.tolist()
    for index, source, original, new in record:
        assert source == f"face{index}.png"
        assert original == clean.class_names[clean.labels[index]] and new == clean.class_names[noisy.labels[index]]
        assert original != new


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5, True, "0.2", None])
def test_impossible_shares_are_refused(fraction):
    with pytest.raises(ValueError, match="`label_noise` must be a number in \\[0, 1\\)"):
        flip_labels(_dataset([0, 1, 2]), fraction)


def test_soft_labels_cannot_be_flipped():
    soft = FERDataset(np.zeros((2, 4, 4, 1), "uint8"), np.full((2, 2), 0.5, "float32"), ("a", "b"))
    with pytest.raises(ValueError, match="soft labels"):
        flip_labels(soft, 0.5)


def test_load_splits_flips_training_labels_only():
    options = {"train_samples_per_class": 30, "validation_samples_per_class": 10}
    clean_train, clean_validation = load_splits(options=options, image_size=(16, 16))
    train, validation = load_splits(options=options, label_noise=0.3, label_noise_seed=4, image_size=(16, 16))
    assert (train.labels != clean_train.labels).sum() == round(0.3 * 210)
    assert np.array_equal(validation.labels, clean_validation.labels)
    assert np.array_equal(train.labels, flip_labels(clean_train, 0.3, 4)[0].labels)


@pytest.mark.parametrize("value", ["-0.1", "1", "nan_text"])
def test_config_refuses_impossible_noise(value):
    with pytest.raises(ValueError, match="data.label_noise"):
        load_config("synthetic", [f"data.label_noise={value}"])


def test_train_records_the_flipped_labels(tmp_path, monkeypatch):
    seen = {}

    def fake_fit(model, train_split, validation, run_dir, **kwargs):
        with open(Path(run_dir) / "flipped_labels.csv", newline="") as file:
            seen["rows"], seen["split"] = list(csv.DictReader(file)), train_split
        raise KeyboardInterrupt  # stop before training

    monkeypatch.setattr("keras_fer.training.run.fit", fake_fit)
    config = load_config("synthetic", [*SMALL, "data.label_noise=0.25", "data.label_noise_seed=7", f"output.path={tmp_path / 'run'}"])
    with pytest.raises(KeyboardInterrupt):
        train(config)
    rows, split = seen["rows"], seen["split"]
    assert len(rows) == round(0.25 * split.num_examples)
    expected = flipped_examples(split, 0.25, 7)
    assert [(int(r["index"]), r["original_label"], r["noisy_label"]) for r in rows] == [(i, o, n) for i, _, o, n in expected]
    assert not (tmp_path / "run").exists()  # stopped before its first epoch: nothing left behind
