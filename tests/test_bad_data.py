"""Label files that list an image twice, and split names a dataset does not have."""

import re

import pytest

from keras_fer.data import EXPRESSIONS_WITH_CONTEMPT, DataError, load_ferplus, load_split
from keras_fer.data.dataset import listing_records
from keras_fer.data.synthetic import load_synthetic_split
from tests.test_ferplus import VOTES, write_ferplus
from tests.testing_data import FERPLUS, needs_ferplus

HAPPY = 'fer0000000.png,"(0, 0, 48, 48)",' + ",".join(map(str, VOTES["fer0000000.png"]))
FEAR = 'fer0000004.png,"(0, 0, 48, 48)",' + ",".join(map(str, VOTES["fer0000004.png"]))
NEW_CSV_HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"


def test_ferplus_image_listed_twice_with_other_votes_names_the_second_line(tmp_path):
    write_ferplus(tmp_path, rows=[HAPPY, FEAR, 'fer0000000.png,"(0, 0, 48, 48)",0,0,0,0,0,0,9,0,0,0'])
    problem = (
        "FER2013Train/label.csv:3: fer0000000.png is listed twice with different labels "
        "(FER2013Train/label.csv:1: face box (0, 0, 48, 48), votes [0, 8, 0, 0, 0, 0, 0, 2, 0, 0]; "
        "here: face box (0, 0, 48, 48), votes [0, 0, 0, 0, 0, 0, 9, 0, 0, 0])"
    )
    with pytest.raises(DataError, match=re.escape(problem)):
        load_ferplus(tmp_path, "Training")
    skipped = load_ferplus(tmp_path, "Training", on_error="skip")
    assert [EXPRESSIONS_WITH_CONTEMPT[label] for label in skipped.labels] == ["happy", "fear"]  # the first listing is kept
    assert [source for source, _ in skipped.skipped] == ["FER2013Train/label.csv:3"]


def test_ferplus_row_repeated_exactly_is_read_once(tmp_path):
    dataset = load_ferplus(write_ferplus(tmp_path, rows=[HAPPY, FEAR, HAPPY]), "Training")
    assert [EXPRESSIONS_WITH_CONTEMPT[label] for label in dataset.labels] == ["happy", "fear"]
    assert dataset.skipped == (("FER2013Train/label.csv:3", "fer0000000.png repeats FER2013Train/label.csv:1; read once"),)


def test_ferplus_label_csv_row_without_an_image_name_names_its_line(tmp_path):
    write_ferplus(tmp_path, rows=[HAPPY, ' ,"(0, 0, 48, 48)",0,8,0,0,0,0,0,0,0,0'])
    with pytest.raises(DataError, match=re.escape("FER2013Train/label.csv:2: the image name is empty; expected a file name in FER2013Train")):
        load_ferplus(tmp_path, "Training")


def test_fer2013new_csv_checks_repeats_within_the_split(tmp_path):
    write_ferplus(tmp_path)
    happy = "fer0000000.png," + ",".join(map(str, VOTES["fer0000000.png"]))
    rows = [NEW_CSV_HEADER, f"Training,{happy}", f"PublicTest,{happy}", f"Training,{happy}", "Training,fer0000000.png,0,0,0,0,0,0,9,0,0,0"]
    (tmp_path / "fer2013new.csv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError, match=re.escape("fer2013new.csv:5: fer0000000.png is listed twice with different labels (fer2013new.csv:2: votes")):
        load_ferplus(tmp_path / "fer2013new.csv", "Training", images=tmp_path)
    dataset = load_ferplus(tmp_path / "fer2013new.csv", "Training", images=tmp_path, on_error="skip")
    assert dataset.num_examples == 1 and [source for source, _ in dataset.skipped] == ["fer2013new.csv:4", "fer2013new.csv:5"]
    with listing_records():
        assert load_ferplus(tmp_path / "fer2013new.csv", "PublicTest", images=tmp_path).sources == ["fer2013new.csv:3"]


@needs_ferplus
def test_real_fer2013new_csv_repeats_three_training_rows_exactly():
    with listing_records():
        records = load_ferplus(FERPLUS / "fer2013new.csv", "Training", images=FERPLUS)
    repeats = [(source, reason) for source, reason in records.skipped if "repeats" in reason]
    assert repeats == [
        ("fer2013new.csv:6970", "fer0006953.png repeats fer2013new.csv:5276; read once"),
        ("fer2013new.csv:11819", "fer0011785.png repeats fer2013new.csv:5350; read once"),
        ("fer2013new.csv:15837", "fer0008403.png repeats fer2013new.csv:8425; read once"),
    ]
    assert len(records) == len(set(records.files)) == 27175


@pytest.mark.parametrize("split", ["tset", "test", "validation", "Training"])
def test_synthetic_faces_have_only_a_train_and_a_val_split(split):
    with pytest.raises(ValueError, match=re.escape(f"`split` of the synthetic faces must be one of ('train', 'val'). Received: split={split!r}")):
        load_split("synthetic", split=split, image_size=(16, 16), options={"validation_samples_per_class": 1})
    assert load_synthetic_split("val", (16, 16), validation_samples_per_class=1).num_examples == 7


@pytest.mark.parametrize("split", ["..", "../other", "/etc", "train/../.."])
def test_a_split_folder_outside_the_dataset_is_refused(tmp_path, split):
    from keras_fer.data import load_fer2013

    (tmp_path / "data" / "train").mkdir(parents=True)
    message = re.escape(f"`split` must be the name of a split folder inside {tmp_path / 'data'} (not absolute, no '..'). Received: split={split!r}")
    with pytest.raises(ValueError, match=message):
        load_split("folder", tmp_path / "data", split)  # '..' read the folder above the dataset
    with pytest.raises(ValueError, match=message):
        load_fer2013(tmp_path / "data", split)
