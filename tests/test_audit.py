import numpy as np
import pytest
from PIL import Image

from keras_fer.data import FERDataset, audit, load_fer2013
from tests.testing_data import FER2013, needs_fer2013


def dataset(pixel_values, labels, prefix):
    images = np.stack([np.full((4, 4, 1), v, "uint8") if np.isscalar(v) else v for v in pixel_values])
    return FERDataset(images, np.asarray(labels, "int32"), ("a", "b"), tuple(f"{prefix}{i}" for i in range(len(labels))))


def test_hand_built_duplicates_conflicts_and_constants():
    textured = np.arange(16, dtype="uint8").reshape(4, 4, 1)
    train = dataset([textured, textured, 7, textured + 1], [0, 0, 1, 1], "t")
    val = dataset([textured + 1, 9], [0, 1], "v")
    report = audit({"train": train, "val": val})
    assert report["class_counts"] == {"train": {"a": 2, "b": 2}, "val": {"a": 1, "b": 1}}
    assert report["duplicate_groups"] == [[["train", "t0", "a"], ["train", "t1", "a"]], [["train", "t3", "b"], ["val", "v0", "a"]]]
    assert (report["duplicates_within_split"], report["duplicates_across_splits"]) == (1, 1)
    assert report["conflicting_label_groups"] == [[["train", "t3", "b"], ["val", "v0", "a"]]]
    assert report["constant_images"] == [["train", "t2", 7], ["val", "v1", 9]]


def test_splits_must_share_class_names():
    first = dataset([1], [0], "x")
    second = FERDataset(first.images, first.labels, ("c", "d"))
    with pytest.raises(ValueError, match="share their class names"):
        audit({"a": first, "b": second})


@needs_fer2013
def test_real_fer2013_validation_split_has_duplicates():
    report = audit({"val": load_fer2013(FER2013, "val")})
    assert sum(report["class_counts"]["val"].values()) == 3579
    assert report["duplicates_within_split"] > 0
    for group in report["duplicate_groups"]:
        pixels = [np.asarray(Image.open(FER2013 / "val" / source)) for _, source, _ in group]
        assert all(np.array_equal(pixels[0], other) for other in pixels[1:])
