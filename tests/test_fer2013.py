import re

import numpy as np
import pytest

from keras_fer.data import EXPRESSIONS, DataError, load_fer2013
from tests.testing_data import FER2013, needs_fer2013

ROW_PIXELS = " ".join(str(i % 256) for i in range(2304))


def write_csv(path, rows, header="emotion,pixels,Usage"):
    path.write_text("\n".join([header] + rows) + "\n", encoding="utf-8")
    return path


def test_csv_rows_split_by_usage_with_native_labels(tmp_path):
    rows = [f"3,{ROW_PIXELS},Training", f"1,{ROW_PIXELS},PublicTest", f"6,{ROW_PIXELS},Training", f"0,{ROW_PIXELS},PrivateTest"]
    path = write_csv(tmp_path / "fer2013.csv", rows)
    train = load_fer2013(path, "Training")
    assert train.labels.tolist() == [3, 6] and train.class_names == EXPRESSIONS
    assert train.sources == ("fer2013.csv:2", "fer2013.csv:4")
    assert train.images.shape == (2, 48, 48, 1)
    np.testing.assert_array_equal(train.images[0, 0, :, 0], np.arange(48))
    assert load_fer2013(path, "PrivateTest").labels.tolist() == [0]


def test_csv_resizes_and_replicates_channels(tmp_path):
    path = write_csv(tmp_path / "fer2013.csv", [f"5,{ROW_PIXELS},Training"])
    dataset = load_fer2013(path, "Training", image_size=(24, 24), channels=3)
    assert dataset.images.shape == (1, 24, 24, 3)
    np.testing.assert_array_equal(dataset.images[..., 0], dataset.images[..., 2])


BAD_ROWS = {
    "pixel_count": (f"3,{' '.join(['1'] * 2303)},Training", "expected 2304 pixels (48x48), found 2303"),
    "non_integer_pixel": (f"3,{ROW_PIXELS[:-3]} 1.5,Training", "pixels must be integers 0..255. Received: '1.5'"),
    "pixel_range": (f"3,{ROW_PIXELS[:-3]} 300,Training", "pixels must be integers 0..255. Received: 300"),
    "pixel_of_20_digits": (f"3,{ROW_PIXELS[:-3]} {'9' * 20},Training", f"pixels must be integers 0..255. Received: {'9' * 20}"),
    "superscript_pixel": (f"3,{ROW_PIXELS[:-3]} \u00b2,Training", "pixels must be integers 0..255. Received: '\u00b2'"),
    "emotion": (f"7,{ROW_PIXELS},Training", "emotion must be an integer 0..6. Received: '7'"),
    "usage": (f"3,{ROW_PIXELS},Validation", "unknown Usage 'Validation'"),
    "fields": ("3,Training", "expected 3 fields"),
}


@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_bad_csv_row_names_the_line(tmp_path, case):
    row, problem = BAD_ROWS[case]
    path = write_csv(tmp_path / "fer2013.csv", [f"0,{ROW_PIXELS},Training", row, f"2,{ROW_PIXELS},Training"])
    with pytest.raises(DataError, match=re.escape(f"fer2013.csv:3: {problem}")):
        load_fer2013(path, "Training")
    skipped = load_fer2013(path, "Training", on_error="skip")
    assert skipped.labels.tolist() == [0, 2]
    assert [source for source, _ in skipped.skipped] == ["fer2013.csv:3"]


def test_bad_header_and_arguments(tmp_path):
    with pytest.raises(DataError, match="header must be emotion,pixels,Usage"):
        load_fer2013(write_csv(tmp_path / "a.csv", [], header="label,pixels,Usage"), "Training")
    path = write_csv(tmp_path / "b.csv", [f"0,{ROW_PIXELS},Training"])
    with pytest.raises(ValueError, match="split=.train."):
        load_fer2013(path, "train")
    with pytest.raises(ValueError, match="does not exist"):
        load_fer2013(tmp_path / "missing.csv", "Training")
    for split in (None, ""):
        with pytest.raises(ValueError, match=re.escape(f"`split` must be a `Usage` value (CSV) or a split folder's name. Received: split={split!r}")):
            load_fer2013(tmp_path, split)


def test_folder_layout_and_missing_split(tmp_path):
    from PIL import Image

    for name in EXPRESSIONS:
        (tmp_path / "train" / name).mkdir(parents=True)
        Image.new("L", (48, 48), 100).save(tmp_path / "train" / name / "fer0000001.png")
    dataset = load_fer2013(tmp_path, "train")
    assert dataset.labels.tolist() == list(range(7))
    with pytest.raises(ValueError, match="has no split 'val'. Found: \\['train'\\]"):
        load_fer2013(tmp_path, "val")


@needs_fer2013
def test_real_fer2013_folders_have_the_published_counts():
    val = load_fer2013(FER2013, "val")
    assert dict(zip(val.class_names, val.class_counts)) == {
        "angry": 466,
        "disgust": 56,
        "fear": 496,
        "happy": 891,
        "sad": 652,
        "surprise": 414,
        "neutral": 604,
    }
    assert val.images.shape == (3579, 48, 48, 1) and not val.skipped


@needs_fer2013
def test_real_fer2013_sample_csv():
    train = load_fer2013(FER2013 / "fer2013_sample.csv", "Training")
    public = load_fer2013(FER2013 / "fer2013_sample.csv", "PublicTest")
    assert (train.num_examples, public.num_examples) == (1500, 500)
    assert train.class_counts == [228, 26, 207, 382, 236, 179, 242]
