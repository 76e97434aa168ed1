import re

import numpy as np
import pytest
from PIL import Image

from keras_fer.data import EXPRESSIONS, EXPRESSIONS_WITH_CONTEMPT, DataError, load_affectnet, load_rafdb

RAF_LINES = ["train_00001.jpg 1", "train_00002.jpg 4", "test_0001.jpg 6", "train_00003.jpg 7"]


def write_jpeg(path, value, size=(100, 100)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value // 2, 255 - value)).save(path, quality=95)


def write_rafdb(root, lines=RAF_LINES):
    (root / "EmoLabel").mkdir(parents=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    for index, line in enumerate(lines):
        stem = line.split()[0].split(".")[0]
        write_jpeg(root / "Image" / "aligned" / f"{stem}_aligned.jpg", 30 * index)
        write_jpeg(root / "Image" / "original" / f"{stem}.jpg", 30 * index, size=(160, 120))
    return root


def test_rafdb_native_labels_map_to_canonical_classes(tmp_path):
    train = load_rafdb(write_rafdb(tmp_path), "train")
    assert [EXPRESSIONS[label] for label in train.labels] == ["surprise", "happy", "neutral"]
    assert train.images.shape == (3, 100, 100, 3)
    assert abs(int(train.images[1, 50, 50, 0]) - 30) <= 3
    test = load_rafdb(tmp_path, "test", aligned=False, image_size=(48, 48), channels=1)
    assert [EXPRESSIONS[label] for label in test.labels] == ["angry"] and test.images.shape == (1, 48, 48, 1)


@pytest.mark.parametrize(
    "line,problem",
    [("train_00009.jpg 8", "label must be an integer 1..7. Received: '8'"), ("train_00009.jpg", "expected '<train_|test_name>.jpg <label 1..7>'")],
)
def test_rafdb_bad_lines_name_the_line(tmp_path, line, problem):
    write_rafdb(tmp_path)
    path = tmp_path / "EmoLabel" / "list_patition_label.txt"
    path.write_text(path.read_text() + line + "\n")
    with pytest.raises(DataError, match=re.escape(f"list_patition_label.txt:5: {problem}")):
        load_rafdb(tmp_path, "train")
    assert load_rafdb(tmp_path, "train", on_error="skip").num_examples == 3


def test_rafdb_image_listed_twice_with_two_labels_names_the_second_line(tmp_path):
    write_rafdb(tmp_path, RAF_LINES + ["train_00001.jpg 4"])
    problem = "list_patition_label.txt:5: train_00001.jpg is listed twice with different labels (list_patition_label.txt:1: label 1; here: label 4)"
    with pytest.raises(DataError, match=re.escape(problem)):
        load_rafdb(tmp_path, "train")
    skipped = load_rafdb(tmp_path, "train", on_error="skip")
    assert [EXPRESSIONS[label] for label in skipped.labels] == ["surprise", "happy", "neutral"]  # the first listing is kept
    assert skipped.skipped[0][0] == "list_patition_label.txt:5" and load_rafdb(tmp_path, "test").num_examples == 1


def test_rafdb_line_repeated_exactly_is_read_once(tmp_path):
    train = load_rafdb(write_rafdb(tmp_path, RAF_LINES + ["train_00002.jpg 4"]), "train")
    assert [EXPRESSIONS[label] for label in train.labels] == ["surprise", "happy", "neutral"]
    assert train.skipped == (("list_patition_label.txt:5", "train_00002.jpg repeats list_patition_label.txt:2; read once"),)


def test_rafdb_missing_image_and_bad_arguments(tmp_path):
    write_rafdb(tmp_path)
    (tmp_path / "Image" / "aligned" / "train_00002_aligned.jpg").unlink()
    with pytest.raises(DataError, match="train_00002_aligned.jpg: file not found"):
        load_rafdb(tmp_path, "train")
    with pytest.raises(ValueError, match="split='val'"):
        load_rafdb(tmp_path, "val")
    with pytest.raises(ValueError, match="has no EmoLabel"):
        load_rafdb(tmp_path / "Image", "train")


AFFECTNET_HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
LANDMARKS = '"' + ";".join(f"{v}.5" for v in range(136)) + '"'


def write_affectnet(root, expressions=(1, 7, 9, 6, 0)):
    rows = [AFFECTNET_HEADER]
    for index, expression in enumerate(expressions):
        name = f"{index}/image{index}.jpg"
        image = np.zeros((80, 120, 3), "uint8")
        image[10:70, 30:90] = 50 * index
        (root / "Manually_Annotated_Images" / f"{index}").mkdir(parents=True)
        Image.fromarray(image).save(root / "Manually_Annotated_Images" / name, quality=95)
        rows.append(f"{name},30,10,60,60,{LANDMARKS},{expression},0.5,-0.25")
    (root / "training.csv").write_text("\n".join(rows) + "\n")
    return root / "training.csv", root / "Manually_Annotated_Images"


def test_affectnet_crops_face_boxes_and_maps_expressions(tmp_path):
    csv_path, images = write_affectnet(tmp_path)
    dataset = load_affectnet(csv_path, images, image_size=(32, 32))
    assert dataset.class_names == EXPRESSIONS_WITH_CONTEMPT
    assert [EXPRESSIONS_WITH_CONTEMPT[label] for label in dataset.labels] == ["happy", "contempt", "angry", "neutral"]
    assert dataset.images.shape == (4, 32, 32, 3)
    assert all(image.std() < 3 for image in dataset.images)
    assert dataset.images[2].mean() == pytest.approx(150, abs=3)
    assert dataset.skipped == (("training.csv:4", "expression 9 (uncertain) is not among the 8 classes"),)


def test_affectnet_seven_classes_leave_out_contempt(tmp_path):
    dataset = load_affectnet(*write_affectnet(tmp_path), num_classes=7, image_size=(16, 16))
    assert [EXPRESSIONS[label] for label in dataset.labels] == ["happy", "angry", "neutral"]
    assert [source for source, _ in dataset.skipped] == ["training.csv:3", "training.csv:4"]


@pytest.mark.parametrize(
    "row,problem",
    [
        ("0/image0.jpg,30,10,60,60,x,12,0,0", "expression must be 0..10. Received: 12"),
        ("0/image0.jpg,30,ten,60,60,x,1,0,0", "face box and expression must be numbers"),
        ("0/image0.jpg,30,10,60", "expected 9 fields, found 4"),
        ("0/image0.jpg,100,10,60,60,x,1,0,0", "face box (x=100, y=10, width=60, height=60) does not fit in the 120x80 image"),
        ("0/image0.jpg,inf,10,60,60,x,1,0,0", "training.csv:3: face box and expression must be numbers, not inf or nan"),
        ("0/image0.jpg,30,10,-inf,60,x,1,0,0", "training.csv:3: face box and expression must be numbers, not inf or nan"),
        (" ,30,10,60,60,x,1,0,0", "training.csv:3: subDirectory_filePath ' ' names no image file; expected an image path under the images folder"),
    ],
)
def test_affectnet_bad_rows_name_line_or_file(tmp_path, row, problem):
    csv_path, images = write_affectnet(tmp_path, expressions=(1,))
    csv_path.write_text(csv_path.read_text() + row + "\n")
    with pytest.raises(DataError, match=re.escape(problem)):
        load_affectnet(csv_path, images, image_size=(16, 16))
    assert load_affectnet(csv_path, images, image_size=(16, 16), on_error="skip").num_examples == 1


def test_affectnet_image_listed_twice_with_two_labels_names_the_second_line(tmp_path):
    csv_path, images = write_affectnet(tmp_path, expressions=(1,))
    csv_path.write_text(csv_path.read_text() + "0/image0.jpg,30,10,60,60,x,2,0,0\n")
    problem = (
        "training.csv:3: 0/image0.jpg face box (30, 10, 60, 60) is listed twice with different labels "
        "(training.csv:2: expression 1; here: expression 2)"
    )
    with pytest.raises(DataError, match=re.escape(problem)):
        load_affectnet(csv_path, images, image_size=(16, 16))
    skipped = load_affectnet(csv_path, images, image_size=(16, 16), on_error="skip")
    assert [EXPRESSIONS_WITH_CONTEMPT[label] for label in skipped.labels] == ["happy"] and skipped.skipped[0][0] == "training.csv:3"


def test_affectnet_row_repeated_exactly_is_read_once(tmp_path):
    csv_path, images = write_affectnet(tmp_path, expressions=(1,))
    csv_path.write_text(csv_path.read_text() + "./0/image0.jpg,30.0,10,60,60,x,1,0.4,0\n")  # same image, box and expression
    dataset = load_affectnet(csv_path, images, image_size=(16, 16))
    assert dataset.num_examples == 1 and dataset.sources == ("training.csv:2",)
    assert dataset.skipped == (("training.csv:3", "0/image0.jpg face box (30, 10, 60, 60) repeats training.csv:2; read once"),)


def test_affectnet_bad_header_and_arguments(tmp_path):
    csv_path, images = write_affectnet(tmp_path, expressions=(1,))
    with pytest.raises(ValueError, match="num_classes=6"):
        load_affectnet(csv_path, images, num_classes=6)
    csv_path.write_text("path,x\n")
    with pytest.raises(DataError, match="training.csv:1: header must be"):
        load_affectnet(csv_path, images)
