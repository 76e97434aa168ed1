"""The dataset registry: every format's options, path and split reach its loader."""

import numpy as np
import pytest

from keras_fer.data import DATASETS, EXPRESSIONS_WITH_CONTEMPT, load_affectnet, load_split
from keras_fer.data.synthetic import load_synthetic_split
from tests.test_rafdb_affectnet import write_affectnet, write_rafdb


def test_each_format_offers_its_loaders_own_keyword_arguments_as_options():
    assert {name: data_format.options for name, data_format in DATASETS.items()} == {
        "synthetic": ["label_noise", "train_samples_per_class", "validation_samples_per_class"],
        "fer2013": [],
        "ferplus": ["drop_ties", "images", "label_mode", "num_classes"],
        "rafdb": ["aligned"],
        "affectnet": ["num_classes"],
        "folder": ["class_names"],
    }


def test_an_unknown_dataset_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown dataset. Valid datasets: \['affectnet', 'fer2013', .*Received: dataset='raf'"):
        load_split("raf", "somewhere")


def test_synthetic_split_is_the_generator_with_its_seed():
    split = load_split("synthetic", split="train", image_size=(16, 16), options={"train_samples_per_class": 2}, seed=3)
    direct = load_synthetic_split("train", (16, 16), seed=3, train_samples_per_class=2)
    np.testing.assert_array_equal(split.images, direct.images)
    assert split.labels.tolist() == direct.labels.tolist()
    with pytest.raises(ValueError, match=r"Synthetic faces are square. Received: image_size=\(16, 24\)"):
        load_split("synthetic", image_size=(16, 24))


def test_affectnet_split_is_a_csv_relative_to_the_images_root_or_absolute(tmp_path):
    csv_path, images = write_affectnet(tmp_path)
    (images / "training.csv").write_text(csv_path.read_text())
    expected = load_affectnet(csv_path, images, num_classes=7, image_size=(16, 16)).labels.tolist()
    for split in ("training.csv", str(csv_path)):
        dataset = load_split("affectnet", images, split, options={"num_classes": 7}, image_size=(16, 16), channels=3)
        assert dataset.labels.tolist() == expected and len(dataset.class_names) == 7
    assert len(load_split("affectnet", images, csv_path, image_size=(16, 16), channels=3).class_names) == len(EXPRESSIONS_WITH_CONTEMPT)


def test_rafdb_path_and_on_error_reach_the_loader(tmp_path):
    write_rafdb(tmp_path, ["train_00001.jpg 4", "train_00002.jpg 4"])
    (tmp_path / "Image" / "aligned" / "train_00002_aligned.jpg").unlink()
    with pytest.raises(Exception, match="train_00002"):
        load_split("rafdb", tmp_path, "train", image_size=(16, 16))
    dataset = load_split("rafdb", tmp_path, "train", on_error="skip", image_size=(16, 16))
    assert dataset.num_examples == 1 and "train_00002" in dataset.skipped[0][0]
