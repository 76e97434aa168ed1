import re

import numpy as np
import pytest
from PIL import Image

from keras_fer.data import EXPRESSIONS, EXPRESSIONS_WITH_CONTEMPT, DataError, load_ferplus
from tests.testing_data import SHARED_DATA

#           neutral happy surprise sad angry disgust fear contempt unknown NF
VOTES = {
    "fer0000000.png": [0, 8, 0, 0, 0, 0, 0, 2, 0, 0],  # happy
    "fer0000001.png": [4, 0, 0, 0, 4, 0, 0, 0, 2, 0],  # tie neutral / angry
    "fer0000002.png": [1, 0, 0, 0, 0, 0, 0, 0, 3, 6],  # mostly not a face
    "fer0000003.png": [0, 0, 0, 0, 0, 0, 0, 6, 4, 0],  # contempt
    "fer0000004.png": [2, 0, 0, 0, 0, 0, 5, 0, 3, 0],  # fear
}


def write_ferplus(root, rows=None):
    folder = root / "FER2013Train"
    folder.mkdir(parents=True)
    lines = []
    for index, (name, votes) in enumerate(VOTES.items()):
        Image.new("L", (48, 48), 40 * index).save(folder / name)
        lines.append(f'{name},"(0, 0, 48, 48)",' + ",".join(map(str, votes)))
    (folder / "label.csv").write_text("\n".join(rows or lines) + "\n")
    return root


def test_majority_labels_in_canonical_order_with_reasons_for_drops(tmp_path):
    dataset = load_ferplus(write_ferplus(tmp_path), "Training")
    assert dataset.class_names == EXPRESSIONS_WITH_CONTEMPT
    names = [EXPRESSIONS_WITH_CONTEMPT[label] for label in dataset.labels]
    assert names == ["happy", "contempt", "fear"]
    assert dataset.sources == ("FER2013Train/label.csv:1", "FER2013Train/label.csv:4", "FER2013Train/label.csv:5")
    assert dataset.skipped == (
        ("FER2013Train/label.csv:2", "tied majority vote"),
        ("FER2013Train/label.csv:3", "votes mostly unknown or not a face"),
    )
    assert dataset.images[1].mean() == 120


def test_ties_kept_on_request_go_to_first_canonical_class(tmp_path):
    dataset = load_ferplus(write_ferplus(tmp_path), "Training", drop_ties=False)
    assert [EXPRESSIONS_WITH_CONTEMPT[label] for label in dataset.labels] == ["happy", "angry", "contempt", "fear"]


def test_probability_labels_are_vote_fractions(tmp_path):
    dataset = load_ferplus(write_ferplus(tmp_path), "Training", label_mode="probability")
    assert dataset.labels.dtype == np.float32 and dataset.labels.shape == (4, 8)
    expected_tie = np.zeros(8)
    expected_tie[EXPRESSIONS_WITH_CONTEMPT.index("neutral")] = 0.5
    expected_tie[EXPRESSIONS_WITH_CONTEMPT.index("angry")] = 0.5
    np.testing.assert_allclose(dataset.labels[1], expected_tie)
    np.testing.assert_allclose(dataset.labels[0][[3, 7]], [0.8, 0.2])
    np.testing.assert_allclose(dataset.class_counts, dataset.labels.sum(0))


def test_seven_classes_discard_contempt_votes(tmp_path):
    dataset = load_ferplus(write_ferplus(tmp_path), "Training", num_classes=7)
    assert dataset.class_names == EXPRESSIONS
    assert [EXPRESSIONS[label] for label in dataset.labels] == ["happy", "fear"]
    assert ("FER2013Train/label.csv:4", "no emotion votes") in dataset.skipped


def test_fer2013new_csv_layout(tmp_path):
    write_ferplus(tmp_path)
    header = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    rows = [f"Training,{name}," + ",".join(map(str, votes)) for name, votes in VOTES.items()]
    rows.insert(1, "Training,," + ",".join(["1"] * 10))
    rows.append("PublicTest,fer0099999.png," + ",".join(["1"] * 10))
    path = tmp_path / "fer2013new.csv"
    path.write_text("\n".join([header] + rows) + "\n")
    dataset = load_ferplus(path, "Training", images=tmp_path)
    assert [EXPRESSIONS_WITH_CONTEMPT[label] for label in dataset.labels] == ["happy", "contempt", "fear"]
    assert ("fer2013new.csv:3", "dropped by FER+ (no image name)") in dataset.skipped
    with pytest.raises(ValueError, match="`images` must be the folder"):
        load_ferplus(path, "Training")


def test_fer2013new_csv_votes_must_be_under_the_official_columns(tmp_path):
    write_ferplus(tmp_path)
    official = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    swapped = "Usage,Image name,happiness,neutral,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
    rows = [f"Training,{name}," + ",".join(map(str, votes)) for name, votes in VOTES.items()]
    path = tmp_path / "fer2013new.csv"
    path.write_text("\n".join([swapped] + rows) + "\n")
    with pytest.raises(DataError, match=re.escape(f"fer2013new.csv:1: header must be {official}. Received: {swapped.split(',')}")):
        load_ferplus(path, "Training", images=tmp_path)


@pytest.mark.parametrize(
    "row,problem",
    [
        ('fer0000000.png,"(0, 0, 48, 48)",1,2', "expected 12 fields (name, box, 10 votes), found 4"),
        ('fer0000000.png,"(0, 0, 48, 48)",1,2,x,0,0,0,0,0,0,0', "votes must be non-negative integers"),
        ('fer0000000.png,"(0, 0, 48, 48)",1,2,-1,0,0,0,0,0,0,0', "votes must be non-negative integers"),
        ('fer0000000.png,"(0, 0, 48)",1,2,1,0,0,0,0,0,0,0', "face box must be '(x, y, width, height)'"),
        ('fer0000000.png,"(0, 0, 96, 96)",8,0,0,0,0,0,0,0,0,0', "face box (x=0, y=0, width=96, height=96) does not fit"),
        ('missing.png,"(0, 0, 48, 48)",8,0,0,0,0,0,0,0,0,0', "missing.png: file not found"),
    ],
)
def test_bad_rows_and_files_name_the_line_or_file(tmp_path, row, problem):
    lines = ['fer0000004.png,"(0, 0, 48, 48)",' + ",".join(map(str, VOTES["fer0000004.png"])), row]
    write_ferplus(tmp_path, rows=lines)
    with pytest.raises(DataError, match=re.escape(problem)):
        load_ferplus(tmp_path, "Training")
    dataset = load_ferplus(tmp_path, "Training", on_error="skip")
    assert dataset.num_examples == 1 and len(dataset.skipped) == 1


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"split": "Train"}, "split='Train'"),
        ({"split": "Training", "label_mode": "soft"}, "label_mode='soft'"),
        ({"split": "Training", "num_classes": 10}, "num_classes=10"),
    ],
)
def test_invalid_arguments_raise(tmp_path, arguments, message):
    with pytest.raises(ValueError, match=message):
        load_ferplus(write_ferplus(tmp_path), **arguments)


@pytest.mark.skipif(not (SHARED_DATA / "ferplus").is_dir(), reason="../shared/data/ferplus is absent")
def test_real_ferplus_validation_counts():
    dataset = load_ferplus(SHARED_DATA / "ferplus", "PublicTest")
    assert dataset.num_examples == 3432
    assert dataset.class_counts == [320, 33, 72, 879, 401, 445, 1255, 27]
    reasons = [reason for _, reason in dataset.skipped]
    assert (reasons.count("tied majority vote"), reasons.count("votes mostly unknown or not a face")) == (142, 5)
