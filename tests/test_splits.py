import numpy as np
import pytest

from keras_fer.data import load_split
from keras_fer.training import load_splits
from tests.testing_data import FER2013, needs_fer2013


def test_synthetic_splits_have_their_counts_and_differ():
    options = {"train_samples_per_class": [3, 1, 2, 2, 2, 2, 2], "validation_samples_per_class": 2}
    train, validation = load_splits(options=options, image_size=(16, 16))
    assert np.bincount(train.labels).tolist() == [3, 1, 2, 2, 2, 2, 2]
    assert np.bincount(validation.labels).tolist() == [2] * 7
    assert train.images.shape[1:] == (16, 16, 1)
    assert not np.array_equal(train.images[:14], validation.images)


def test_unknown_options_and_missing_paths(tmp_path):
    with pytest.raises(ValueError, match=r"`data.options` \['labels'\] are not options of dataset 'synthetic'. Valid options: \['label_noise'"):
        load_splits(options={"labels": 3})
    with pytest.raises(ValueError, match="`data.path` is required for dataset 'fer2013'"):
        load_splits("fer2013")
    with pytest.raises(ValueError, match=f"`data.path` {tmp_path / 'nope'} does not exist"):
        load_splits("rafdb", tmp_path / "nope")
    with pytest.raises(ValueError, match=r"not options of dataset 'ferplus'. Valid options: \['drop_ties', 'images', 'label_mode', 'num_classes'\]"):
        load_split("ferplus", tmp_path, "Training", options={"aligned": True})


def test_folder_dataset_reads_split_folders(tmp_path):
    from PIL import Image

    for split in ("train", "val"):
        for name in ("cat", "dog"):
            (tmp_path / split / name).mkdir(parents=True)
            Image.fromarray(np.full((20, 20), 40 if name == "cat" else 200, "uint8")).save(tmp_path / split / name / "a.png")
    train, validation = load_splits("folder", tmp_path, options={"class_names": ["cat", "dog"]}, image_size=(16, 16))
    assert train.labels.tolist() == [0, 1] and train.images[1].min() == 200
    assert validation.class_names == ("cat", "dog")


@needs_fer2013
def test_fer2013_sample_csv_splits():
    train, validation = load_splits("fer2013", FER2013 / "fer2013_sample.csv", train_split="Training", validation_split="PublicTest")
    assert (train.num_examples, validation.num_examples) == (1500, 500)
