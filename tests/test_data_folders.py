import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_fer.data import DataError, FERDataset, load_image_folder
from keras_fer.data.images import read_image

GRADIENT = np.tile(np.arange(0, 256, 4, dtype="uint8"), (64, 1))


def write(path, mode="L", fmt=None, size=(64, 64)):
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "I;16":
        image = Image.fromarray(GRADIENT.astype("uint16") * 257)
        assert image.mode == "I;16"
    elif mode == "P":
        image = Image.fromarray(GRADIENT).convert("P")
    elif mode == "L":
        image = Image.fromarray(GRADIENT)
    else:
        image = Image.fromarray(np.stack([GRADIENT] * len(mode), -1), mode=mode)
    image.resize(size).save(path, format=fmt)
    return path


@pytest.mark.parametrize(
    "name,mode", [("a.png", "L"), ("b.jpg", "RGB"), ("c.png", "RGBA"), ("d.png", "P"), ("e.png", "I;16"), ("f.bmp", "RGB"), ("g.tiff", "L")]
)
@pytest.mark.parametrize("channels", [1, 3])
def test_every_image_mode_becomes_requested_channels_and_size(tmp_path, name, mode, channels):
    path = write(tmp_path / name, mode)
    array = read_image(path, (32, 24), channels)
    assert array.shape == (32, 24, channels) and array.dtype == np.uint8
    column_means = array.mean(axis=(0, 2))
    assert column_means[0] < 20 and column_means[-1] > 220
    assert np.all(np.diff(column_means) >= -3)


def test_sixteen_bit_values_are_scaled_not_clipped(tmp_path):
    path = write(tmp_path / "deep.png", "I;16")
    np.testing.assert_allclose(read_image(path, (64, 64), 1)[..., 0], GRADIENT, atol=1)


def test_float_images_must_hold_pixel_values(tmp_path):
    pixels = GRADIENT.astype("float32")
    for name, values in {"unit.tif": pixels / 255, "wide.tif": pixels * 2, "nan.tif": np.where(pixels > 0, pixels, np.nan)}.items():
        Image.fromarray(values, "F").save(tmp_path / name)
    Image.fromarray(pixels, "F").save(tmp_path / "pixels.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "pixels.tif", (64, 64), 1)[..., 0], GRADIENT)
    messages = {
        "unit.tif": "float image holds values in [0, 1]; pixels must be numbers in [0, 255] (multiply by 255)",
        "wide.tif": "float image holds values from 0 to 504; pixels must be numbers in [0, 255]",
        "nan.tif": "float image holds NaN or infinite values; pixels must be numbers in [0, 255]",
    }
    for name, message in messages.items():
        with pytest.raises(DataError, match=re.escape(f"{tmp_path / name}: {message}")):
            read_image(tmp_path / name, (48, 48), 3)


def test_crop_box_and_box_outside_image(tmp_path):
    path = write(tmp_path / "face.png", "L")
    crop = read_image(path, (8, 8), 1, crop_box=(32, 0, 32, 64))
    assert crop.min() >= 120
    with pytest.raises(DataError, match="face.png: face box .* does not fit in the 64x64 image"):
        read_image(path, (8, 8), 1, crop_box=(40, 0, 32, 64))


def make_folder(root, counts=None):
    for name, count in (counts or {"happy": 2, "sad": 3}).items():
        for index in range(count):
            write(root / name / f"{index}.png", "L")
    return root


def test_labels_follow_class_names_not_alphabetical_order(tmp_path):
    dataset = load_image_folder(make_folder(tmp_path), class_names=("sad", "happy"), image_size=(16, 16))
    assert isinstance(dataset, FERDataset)
    assert dataset.labels.tolist() == [0, 0, 0, 1, 1]
    assert dataset.sources[0] == str(Path("sad") / "0.png")
    assert dataset.class_counts == [3, 2] and dataset.image_size == (16, 16) and dataset.channels == 1


def test_batches_are_float_pixels_with_labels(tmp_path):
    dataset = load_image_folder(make_folder(tmp_path), class_names=("happy", "sad"), image_size=(16, 16))
    images, labels = next(iter(dataset.batches(batch_size=4)))
    assert images.shape == (4, 16, 16, 1) and images.dtype == "float32"
    np.testing.assert_array_equal(images.numpy(), dataset.images[:4].astype("float32"))
    assert labels.numpy().tolist() == [0, 0, 1, 1]


def test_training_batches_can_leave_out_the_last_partial_batch(tmp_path):
    dataset = load_image_folder(make_folder(tmp_path), class_names=("happy", "sad"), image_size=(16, 16))
    assert [len(labels) for _, labels in dataset.batches(batch_size=2)] == [2, 2, 1]
    kept = [labels.numpy() for _, labels in dataset.batches(batch_size=2, shuffle=True, seed=0, drop_remainder=True)]
    assert [len(labels) for labels in kept] == [2, 2]
    assert np.isin(np.concatenate(kept), dataset.labels).all()


def truncated(path):
    write(path, "L")
    path.write_bytes(path.read_bytes()[:60])


BAD_DATA = {
    "truncated": (lambda root: truncated(root / "happy" / "bad.png"), "bad.png: corrupt or truncated image"),
    "corrupt": (lambda root: (root / "happy" / "bad.png").write_bytes(b"\x89PNG not really"), "bad.png: not an image file"),
    "zero_bytes": (lambda root: (root / "happy" / "bad.jpg").write_bytes(b""), "bad.jpg: empty file"),
    "not_an_image": (lambda root: (root / "happy" / "notes.txt").write_text("hi"), "notes.txt: not an image file; expected one of"),
    "empty_class": (lambda root: (root / "fear").mkdir(), "fear: no images for class 'fear'"),
    "missing_class": (lambda root: None, "fear: no images for class 'fear'"),
    "unknown_class": (lambda root: write(root / "bored" / "0.png"), "bored: unknown class folder"),
    "nested": (lambda root: write(root / "happy" / "more" / "0.png"), "more: nested folder"),
    "outside": (lambda root: (root / "README.txt").write_text("x"), "README.txt: file outside the class folders"),
    "one_pixel": (
        lambda root: Image.new("L", (1, 1)).save(root / "happy" / "dot.png"),
        r"dot.png: the image is 1x1 pixels; a face needs at least 8 on each side",
    ),
}


def make_bad_folder(root, case):
    """A good happy/sad folder plus one bad case; returns class names and message."""
    make_bad, message = BAD_DATA[case]
    make_folder(root)
    make_bad(root)
    names = ("happy", "sad", "fear") if case in ("empty_class", "missing_class") else ("happy", "sad")
    return names, message


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_raises_naming_the_file(tmp_path, case):
    names, message = make_bad_folder(tmp_path, case)
    with pytest.raises(DataError, match=message):
        load_image_folder(tmp_path, class_names=names)


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_bad_data_is_skipped_counted_and_listed(tmp_path, case):
    names, message = make_bad_folder(tmp_path, case)
    dataset = load_image_folder(tmp_path, class_names=names, on_error="skip")
    assert dataset.num_examples == 5
    assert dataset.labels.tolist() == [0, 0, 1, 1, 1]
    assert len(dataset.skipped) == 1
    source, problem = dataset.skipped[0]
    assert message.split(": ", 1)[1] in problem and Path(source).name == message.split(":")[0]


def test_hidden_files_are_ignored(tmp_path):
    make_folder(tmp_path)
    (tmp_path / "happy" / ".DS_Store").write_bytes(b"\x00")
    assert load_image_folder(tmp_path, class_names=("happy", "sad")).num_examples == 5


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"class_names": "happy"}, "distinct folder names"),
        ({"class_names": ("happy", "happy")}, "distinct folder names"),
        ({"class_names": ("happy", "..")}, r"`class_names` must be plain folder names, not paths, '.' or '..'. Received: '..' in class_names="),
        ({"class_names": (".", "sad")}, r"Received: '.' in class_names="),
        ({"class_names": ("happy", "a/b")}, r"Received: 'a/b' in class_names="),
        ({"class_names": ("/tmp", "sad")}, r"Received: '/tmp' in class_names="),
        ({"class_names": ("happy", "a\\b")}, r"Received: 'a\\\\b' in class_names="),
        ({"class_names": ("happy", "sad"), "channels": 4}, "channels=4"),
        ({"class_names": ("happy", "sad"), "on_error": "ignore"}, "on_error='ignore'"),
    ],
)
def test_invalid_arguments_raise(tmp_path, arguments, message):
    make_folder(tmp_path)
    with pytest.raises(ValueError, match=message):
        load_image_folder(tmp_path, **arguments)


def test_missing_root_raises(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_image_folder(tmp_path / "nope", class_names=("a", "b"))


def test_dataset_checks_model_classes_and_input(tmp_path):
    from tests.testing import tiny_resnet

    dataset = load_image_folder(make_folder(tmp_path), class_names=("happy", "sad"), image_size=(16, 16))
    with pytest.raises(ValueError, match="model predicts 3 classes but the dataset has 2"):
        dataset.check_model(tiny_resnet())
    with pytest.raises(ValueError, match="takes \\(32, 32, 1\\) images"):
        dataset.check_model(tiny_resnet(num_classes=2, input_shape=(32, 32, 1)))
    dataset.check_model(tiny_resnet(num_classes=2))


@pytest.mark.parametrize(
    "arguments,message",
    [
        ({"channels": 2}, "channels=2"),
        ({"channels": 3.0}, "`channels` must be 1 or 3. Received: channels=3.0"),
        ({"channels": True}, "`channels` must be 1 or 3. Received: channels=True"),
        ({"image_size": (48,)}, "image_size=\\(48,\\)"),
        ({"image_size": (48, 0)}, "image_size=\\(48, 0\\)"),
        ({"image_size": 48}, "image_size=48"),
    ],
)
def test_every_loader_checks_image_size_and_channels_before_reading(tmp_path, arguments, message):
    from keras_fer.data import load_affectnet, load_fer2013, load_ferplus, load_rafdb

    missing = tmp_path / "missing"
    loaders = [
        lambda: load_image_folder(make_folder(tmp_path), class_names=("happy", "sad"), **arguments),
        lambda: load_fer2013(missing, "train", **arguments),
        lambda: load_ferplus(missing, "Training", **arguments),
        lambda: load_rafdb(missing, "train", **arguments),
        lambda: load_affectnet(missing, missing, **arguments),
    ]
    for load in loaders:
        with pytest.raises(ValueError, match=message):
            load()
