"""Bad inputs: every one a one-line error that names the problem, and nothing written or changed.

Each case builds its inputs in `tmp_path` (no committed binaries), hashes
everything there, feeds the bad input to a loader, the config, a `keras-fer`
subcommand (in-process), the `Recognizer` or a model-file reader, and checks
the exception type or exit code, the message's key words, that the message is
one line without a traceback, and that `tmp_path` holds exactly what it held
before (plus what the case expects to be written). No case trains: those that
would fail before the first step.
"""

import hashlib
import json
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_fer import Recognizer
from keras_fer.cli import main
from keras_fer.data import DataError, load_affectnet, load_fer2013, load_ferplus, load_image_folder, load_rafdb
from keras_fer.inference import load_classifier
from keras_fer.inference.classifiers import Classifier
from keras_fer.models import load_model_file
from keras_fer.training import load_config
from keras_fer.training.run import check_initial_weights
from tests.testing import PHOTO, BoxDetector, tiny_resnet

FER_HEADER = "emotion,pixels,Usage"
PIXELS = " ".join(str(i % 256) for i in range(2304))
ROW = f"0,{PIXELS},Training"
CSV_SPLITS = ["--set", "data.train_split=Training", "--set", "data.validation_split=PublicTest"]
FOLDER = ["--set", "data.dataset=folder", "--set", "data.options={class_names: [cat, dog]}"]
LATIN1 = b"caf\xe9"  # "cafe" with an accent, in Latin-1: not UTF-8

# Pillow warns of images over 89 megapixels as it opens them; keras-fer refuses them itself (the CLI hides the warning).
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


# ---------------------------------------------------------------- helpers


def snapshot(root):
    """`{relative path: sha256 or "folder"}` of everything under `root`."""
    state = {}
    for path in sorted(Path(root).rglob("*")):
        key = path.relative_to(root).as_posix()
        state[key] = "folder" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def assert_unchanged(root, before, written=()):
    """Nothing under `root` was written, changed or removed, except the paths in `written` (which must exist)."""
    after = snapshot(root)
    for name in written:
        assert name in after, f"{name} was not written"
        after = {key: value for key, value in after.items() if key != name and not key.startswith(f"{name}/")}
    assert after == before, f"changed: {sorted(set(after.items()) ^ set(before.items()))}"


def assert_one_line(message, words):
    """`message` is one line, without a traceback, holding every one of `words`."""
    text = message.strip()
    assert text and "\n" not in text and "Traceback" not in text, message
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"


def expect_raise(root, kind, words, call):
    """`call()` raises `kind` with a one-line message holding `words` ({tmp} is `root`), leaving `root` as it was."""
    before = snapshot(root)
    with pytest.raises(kind) as info:
        call()
    assert_one_line(str(info.value), [word.format(tmp=root) for word in words])
    assert_unchanged(root, before)


def expect_exit(root, capsys, argv, code, words):
    """`keras-fer argv` exits with `code`, its error one line on stderr holding `words`, leaving `root` as it was."""
    before = snapshot(root)
    capsys.readouterr()
    assert main([str(a) for a in argv]) == code
    err = capsys.readouterr().err
    assert_one_line(err, [word.format(tmp=root) for word in words])
    assert_unchanged(root, before)


def write(path, content):
    """Writes `content` (text or bytes) to `path`, making its folder; returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def fer_csv(path, rows, header=FER_HEADER):
    return write(path, "\n".join([header, *rows]) + "\n")


def png(path, size=(20, 20), value=100):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).save(path)
    return path


def truncated_png(path):
    """The first 300 bytes of a 64x64 PNG of noise: a valid header, then nothing."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype="uint8")).save(path)
    return write(path, path.read_bytes()[:300])


def bomb_png(path, width, height):
    """A valid 1-bit PNG of `width` x `height` in a few kilobytes: its header alone claims the size."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return write(path, b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def faces(root, counts=None, splits=None):
    """`root/<split>/<class>/<i>.png` (or `root/<class>/...` without splits), 20x20 gray squares."""
    counts = counts or {"cat": 1, "dog": 1}
    for split in splits or [None]:
        for name, count in counts.items():
            folder = Path(root) / split / name if split else Path(root) / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                png(folder / f"{index}.png", value=40 + 150 * list(counts).index(name))
    return Path(root)


VOTES = "0,8,0,0,0,0,0,2,0,0"


def ferplus(root, lines=None):
    """A FER+ folder, `root/FER2013Train/` with two images and `label.csv` (header-less)."""
    folder = Path(root) / "FER2013Train"
    for name in ("fer0.png", "fer1.png"):
        png(folder / name, size=(48, 48))
    lines = lines if lines is not None else [f'fer0.png,"(0, 0, 48, 48)",{VOTES}', f'fer1.png,"(0, 0, 48, 48)",{VOTES}']
    write(folder / "label.csv", "\n".join(lines) + "\n")
    return Path(root)


def rafdb(root, lines=("train_00001.jpg 1", "train_00002.jpg 4")):
    root = Path(root)
    write(root / "EmoLabel" / "list_patition_label.txt", "\n".join(lines) + "\n")
    for line in lines:
        stem = line.split()[0].split(".")[0]
        folder = root / "Image" / "aligned"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 40), (90, 60, 30)).save(folder / f"{stem}_aligned.jpg")
    return root


AFFECTNET_HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"


def affectnet(root, rows=("0/a.jpg,10,10,40,40,x,1,0.5,0.5",)):
    """`root/training.csv` and `root/images/0/a.jpg` (80x60); returns `(csv, images)`."""
    root = Path(root)
    (root / "images" / "0").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (80, 60), (120, 120, 120)).save(root / "images" / "0" / "a.jpg")
    csv_path = write(root / "training.csv", "\n".join([AFFECTNET_HEADER, *rows]) + "\n")
    return csv_path, root / "images"


def last(*values):
    """The last of `values`: a case's setup writes inputs in the ones before it, then gives what to run."""
    return values[-1]


def append(path, data):
    return write(path, Path(path).read_bytes() + data)


# ---------------------------------------------------------------- shared model files (outside each case's tmp_path)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """`{"tiny": .keras of a 16x16 gray 7-class ResNet, "nan": the same with NaN weights}`."""
    folder = tmp_path_factory.mktemp("models")
    model = tiny_resnet(num_classes=7)
    model.save(folder / "tiny.keras")
    for variable in model.weights:
        if "float" in str(variable.dtype):
            variable.assign(np.full(variable.shape, np.nan, variable.dtype))
    model.save(folder / "nan.keras")
    return {"tiny": folder / "tiny.keras", "nan": folder / "nan.keras"}


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default output (runs/...) would land where the snapshot sees it


# ---------------------------------------------------------------- data loaders


def loads(make, load):
    """A case's setup: `make(tmp)` writes the inputs now, and the call to check is `load(what make returned)`."""

    def setup(tmp):
        made = make(tmp)
        return lambda: load(made)

    return setup


def fer_rows(*rows):
    """A `fer2013.csv` with a good row, then `rows`; the call that loads its Training split."""
    return loads(lambda tmp: fer_csv(tmp / "fer2013.csv", [ROW, *rows]), lambda path: load_fer2013(path, "Training"))


def fer_bytes(data):
    return loads(lambda tmp: write(tmp / "fer2013.csv", data), lambda path: load_fer2013(path, "Training"))


def folder_with(extra, class_names=("cat", "dog"), **kwargs):
    """Good `cat/` and `dog/` class folders plus what `extra(root)` adds; the call that loads them."""

    def setup(tmp):
        root = faces(tmp / "faces")
        extra(root)
        return lambda: load_image_folder(root, class_names, image_size=(16, 16), **kwargs)

    return setup


def ferplus_with(lines=None, edit=None, split="Training", **kwargs):
    def setup(tmp):
        root = ferplus(tmp / "ferplus", lines)
        if edit:
            edit(root)
        return lambda: load_ferplus(root, split, image_size=(16, 16), **kwargs)

    return setup


def new_ferplus_csv(text, images=True):
    """`fer2013new.csv` (the FER+ CSV layout) with `text`, and optionally the images folder."""

    def setup(tmp):
        csv_path = write(tmp / "fer2013new.csv", text)
        folder = ferplus(tmp / "images") if images else None
        return lambda: load_ferplus(csv_path, "Training", images=folder, image_size=(16, 16))

    return setup


def rafdb_with(lines=("train_00001.jpg 1", "train_00002.jpg 4"), edit=None, split="train"):
    def setup(tmp):
        root = rafdb(tmp / "rafdb", lines)
        if edit:
            edit(root)
        return lambda: load_rafdb(root, split, image_size=(16, 16))

    return setup


def affectnet_with(rows=None, edit=None, **kwargs):
    def setup(tmp):
        csv_path, images = affectnet(tmp / "affectnet", *([rows] if rows is not None else []))
        if edit:
            edit(csv_path, images)
        return lambda: load_affectnet(csv_path, images, image_size=(16, 16), **kwargs)

    return setup


LABEL_CSV = "FER2013Train/label.csv"
RAF_LABELS = Path("EmoLabel") / "list_patition_label.txt"

LOADER_CASES = [
    # FER2013 CSV
    pytest.param(
        fer_rows(f"3,{' '.join(['1'] * 2303)},Training"),
        DataError,
        ["fer2013.csv:3", "expected 2304 pixels (48x48), found 2303"],
        id="fer2013-pixel-count",
    ),
    pytest.param(
        fer_rows(f"3,{PIXELS[:-3]} 1.5,Training"), DataError, ["fer2013.csv:3", "pixels must be integers 0..255", "'1.5'"], id="fer2013-float-pixel"
    ),
    pytest.param(
        fer_rows(f"3,{PIXELS[:-3]} 300,Training"),
        DataError,
        ["fer2013.csv:3", "pixels must be integers 0..255. Received: 300"],
        id="fer2013-pixel-300",
    ),
    pytest.param(
        fer_rows(f"3,{PIXELS[:-3]} -5,Training"), DataError, ["fer2013.csv:3", "pixels must be integers 0..255", "'-5'"], id="fer2013-negative-pixel"
    ),
    pytest.param(
        fer_rows(f"7,{PIXELS},Training"), DataError, ["fer2013.csv:3", "emotion must be an integer 0..6. Received: '7'"], id="fer2013-emotion-7"
    ),
    pytest.param(fer_rows(f"-1,{PIXELS},Training"), DataError, ["fer2013.csv:3", "emotion must be an integer 0..6"], id="fer2013-emotion-negative"),
    pytest.param(
        fer_rows(f"happy,{PIXELS},Training"),
        DataError,
        ["fer2013.csv:3", "emotion must be an integer 0..6. Received: 'happy'"],
        id="fer2013-emotion-word",
    ),
    pytest.param(fer_rows(f"3,{PIXELS},Validation"), DataError, ["fer2013.csv:3", "unknown Usage 'Validation'"], id="fer2013-usage"),
    pytest.param(
        fer_rows("3,Training"), DataError, ["fer2013.csv:3", "expected 3 fields (emotion, pixels, Usage), found 2"], id="fer2013-two-fields"
    ),
    pytest.param(fer_rows("3,,Training"), DataError, ["fer2013.csv:3", "expected 2304 pixels (48x48), found 0"], id="fer2013-no-pixels"),
    pytest.param(
        fer_rows(f"3,{'1' * 140000},Training"),
        DataError,
        ["fer2013.csv:3", "not a readable CSV line", "field larger than field limit"],
        id="fer2013-huge-field",
    ),
    pytest.param(
        fer_bytes(f"{FER_HEADER}\n{ROW}\n".encode() + b"3," + LATIN1 + b",Training\n"),
        DataError,
        ["fer2013.csv:3", "byte 0xe9 at column 6 is not UTF-8", "expected a UTF-8 text file"],
        id="fer2013-latin1-row",
    ),
    pytest.param(fer_bytes(b"emotion," + LATIN1 + b",Usage\n"), DataError, ["fer2013.csv:1", "byte 0xe9", "not UTF-8"], id="fer2013-latin1-header"),
    pytest.param(fer_bytes(b""), DataError, ["fer2013.csv:1", "header must be emotion,pixels,Usage. Received: []"], id="fer2013-empty-file"),
    pytest.param(
        fer_bytes(f"label,pixels,Usage\n{ROW}\n".encode()), DataError, ["fer2013.csv:1", "header must be emotion,pixels,Usage"], id="fer2013-header"
    ),
    pytest.param(lambda tmp: lambda: load_fer2013(tmp / "missing.csv", "Training"), ValueError, ["missing.csv does not exist"], id="fer2013-missing"),
    pytest.param(
        loads(lambda tmp: fer_csv(tmp / "f.csv", [ROW]), lambda path: load_fer2013(path, "train")),
        ValueError,
        ["`split` of a FER2013 CSV must be one of", "split='train'"],
        id="fer2013-csv-split",
    ),
    pytest.param(
        loads(lambda tmp: faces(tmp / "fer", splits=["train"]), lambda root: load_fer2013(root, "val")),
        ValueError,
        ["has no split 'val'. Found: ['train']"],
        id="fer2013-folder-split",
    ),
    pytest.param(
        loads(lambda tmp: fer_csv(tmp / "f.csv", [ROW]), lambda path: load_fer2013(path, "Training", image_size=(48,))),
        ValueError,
        ["`image_size` must be (height, width)", "image_size=(48,)"],
        id="fer2013-image-size",
    ),
    pytest.param(
        loads(lambda tmp: fer_csv(tmp / "f.csv", [ROW]), lambda path: load_fer2013(path, "Training", channels=2)),
        ValueError,
        ["`channels` must be 1 or 3. Received: channels=2"],
        id="fer2013-channels",
    ),
    pytest.param(
        loads(lambda tmp: fer_csv(tmp / "f.csv", [ROW]), lambda path: load_fer2013(path, "Training", on_error="ignore")),
        ValueError,
        ["`on_error` must be one of ('raise', 'skip'). Received: on_error='ignore'"],
        id="fer2013-on-error",
    ),
    # image folders
    pytest.param(
        lambda tmp: lambda: load_image_folder(tmp / "nowhere", ("cat", "dog")),
        ValueError,
        ["nowhere does not exist or is not a directory"],
        id="folder-missing",
    ),
    pytest.param(
        loads(lambda tmp: png(tmp / "a.png"), lambda path: load_image_folder(path, ("cat", "dog"))),
        ValueError,
        ["a.png does not exist or is not a directory"],
        id="folder-is-a-file",
    ),
    pytest.param(
        folder_with(lambda root: png(root / "bird" / "0.png")),
        DataError,
        ["faces/bird: unknown class folder; expected one of ['cat', 'dog']"],
        id="folder-unknown-class",
    ),
    pytest.param(
        folder_with(lambda root: png(root / "stray.png")), DataError, ["faces/stray.png: file outside the class folders"], id="folder-stray-file"
    ),
    pytest.param(
        folder_with(lambda root: png(root / "cat" / "deeper" / "0.png")),
        DataError,
        ["cat/deeper: nested folder inside a class folder"],
        id="folder-nested",
    ),
    pytest.param(
        folder_with(lambda root: write(root / "cat" / "notes.txt", "hello")),
        DataError,
        ["cat/notes.txt: not an image file; expected one of"],
        id="folder-text-file",
    ),
    pytest.param(
        folder_with(lambda root: write(root / "cat" / "empty.png", b"")), DataError, ["cat/empty.png: empty file (0 bytes)"], id="folder-empty-image"
    ),
    pytest.param(
        folder_with(lambda root: write(root / "cat" / "noise.png", np.random.default_rng(0).bytes(300))),
        DataError,
        ["cat/noise.png: not an image file PIL can decode"],
        id="folder-not-an-image",
    ),
    pytest.param(
        folder_with(lambda root: truncated_png(root / "cat" / "cut.png")),
        DataError,
        ["cat/cut.png: corrupt or truncated image"],
        id="folder-truncated",
    ),
    pytest.param(
        folder_with(lambda root: (root / "bird").mkdir(), ("cat", "dog", "bird")),
        DataError,
        ["faces/bird: no images for class 'bird'"],
        id="folder-class-empty",
    ),
    pytest.param(
        folder_with(lambda root: None, ("cat", "dog", "owl")), DataError, ["faces/owl: no images for class 'owl'"], id="folder-class-missing"
    ),
    pytest.param(
        folder_with(lambda root: bomb_png(root / "dog" / "bomb.png", 20000, 20000)),
        DataError,
        ["dog/bomb.png: 400 megapixels is more than keras-fer decodes from one image", "expected at most 67 megapixels"],
        id="folder-decompression-bomb",
    ),
    pytest.param(
        folder_with(lambda root: bomb_png(root / "dog" / "huge.png", 10000, 10000)),
        DataError,
        ["dog/huge.png: 10000x10000 pixels (100 megapixels) is more than keras-fer decodes"],
        id="folder-100-megapixels",
    ),
    pytest.param(
        folder_with(lambda root: bomb_png(root / "dog" / "wide.png", 9000, 8000)),
        DataError,
        ["dog/wide.png: 9000x8000 pixels (72 megapixels)"],
        id="folder-72-megapixels",
    ),
    pytest.param(
        folder_with(lambda root: None, ("cat", "cat")), ValueError, ["`class_names` must be distinct folder names"], id="folder-duplicate-classes"
    ),
    pytest.param(
        folder_with(lambda root: None, "cat"),
        ValueError,
        ["`class_names` must be distinct folder names", "class_names='cat'"],
        id="folder-class-names-string",
    ),
    pytest.param(
        folder_with(lambda root: None, ()), ValueError, ["`class_names` must be distinct folder names", "class_names=()"], id="folder-no-classes"
    ),
    # FER+
    pytest.param(
        ferplus_with([f'fer0.png,"(0, 0, 48)",{VOTES}']), DataError, [f"{LABEL_CSV}:1", "face box must be '(x, y, width, height)'"], id="ferplus-box"
    ),
    pytest.param(
        ferplus_with([f'fer0.png,"(0, 0, 48, 48)",{VOTES[:-1]}x']),
        DataError,
        [f"{LABEL_CSV}:1", "votes must be non-negative integers"],
        id="ferplus-vote-word",
    ),
    pytest.param(
        ferplus_with([f'fer0.png,"(0, 0, 48, 48)",-1,{VOTES[2:]}']),
        DataError,
        [f"{LABEL_CSV}:1", "votes must be non-negative integers"],
        id="ferplus-vote-negative",
    ),
    pytest.param(
        ferplus_with(["fer0.png,1,2"]), DataError, [f"{LABEL_CSV}:1", "expected 12 fields (name, box, 10 votes), found 3"], id="ferplus-fields"
    ),
    pytest.param(
        ferplus_with(edit=lambda root: append(root / LABEL_CSV, LATIN1 + b'.png,"(0, 0, 48, 48)",' + VOTES.encode() + b"\n")),
        DataError,
        [f"{LABEL_CSV}:3", "byte 0xe9 at column 4 is not UTF-8"],
        id="ferplus-latin1",
    ),
    pytest.param(
        ferplus_with(edit=lambda root: (root / "FER2013Train" / "fer1.png").unlink()),
        DataError,
        ["fer1.png: file not found"],
        id="ferplus-missing-image",
    ),
    pytest.param(
        ferplus_with(edit=lambda root: (root / LABEL_CSV).unlink()), ValueError, ["has no FER2013Train/label.csv"], id="ferplus-no-label-csv"
    ),
    pytest.param(
        ferplus_with(label_mode="soft"),
        ValueError,
        ["`label_mode` must be one of ('majority', 'probability'). Received: label_mode='soft'"],
        id="ferplus-label-mode",
    ),
    pytest.param(ferplus_with(num_classes=6), ValueError, ["`num_classes` must be 7 or 8. Received: num_classes=6"], id="ferplus-num-classes"),
    pytest.param(
        ferplus_with(split="train"),
        ValueError,
        ["`split` must be one of ('Training', 'PublicTest', 'PrivateTest'). Received: split='train'"],
        id="ferplus-split",
    ),
    pytest.param(
        new_ferplus_csv("Usage,name\n"),
        DataError,
        ["fer2013new.csv:1: header must be Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"],
        id="ferplus-new-csv-header",
    ),
    pytest.param(
        new_ferplus_csv("Usage,Image name," + ",".join("abcdefghij") + "\nTraining,fer0.png," + VOTES + "\n", images=False),
        ValueError,
        ["With fer2013new.csv, `images` must be the folder of the FER2013 images. Received: images=None"],
        id="ferplus-new-csv-no-images",
    ),
    pytest.param(
        loads(
            lambda tmp: write(
                tmp / "fer2013new.csv", b"Usage,Image name,a,b,c,d,e,f,g,h,i,j\nTraining," + LATIN1 + b".png," + VOTES.encode() + b"\n"
            ),
            lambda path: load_ferplus(path, "Training", images=path.parent),
        ),
        DataError,
        ["fer2013new.csv:2: byte 0xe9 at column 13 is not UTF-8"],
        id="ferplus-new-csv-latin1",
    ),
    pytest.param(
        lambda tmp: lambda: load_ferplus(tmp / "nothing.csv", "Training"),
        ValueError,
        ["FER+ path", "nothing.csv does not exist"],
        id="ferplus-missing",
    ),
    # RAF-DB
    pytest.param(
        rafdb_with(("train_00001.jpg 8",)), DataError, ["list_patition_label.txt:1: label must be an integer 1..7. Received: '8'"], id="rafdb-label-8"
    ),
    pytest.param(
        rafdb_with(("train_00001.jpg",)),
        DataError,
        ["list_patition_label.txt:1: expected '<train_|test_name>.jpg <label 1..7>'"],
        id="rafdb-one-field",
    ),
    pytest.param(rafdb_with(("val_00001.jpg 1",)), DataError, ["list_patition_label.txt:1: expected '<train_|test_name>.jpg"], id="rafdb-prefix"),
    pytest.param(
        rafdb_with(edit=lambda root: (root / "Image" / "aligned" / "train_00002_aligned.jpg").unlink()),
        DataError,
        ["train_00002_aligned.jpg: file not found"],
        id="rafdb-missing-image",
    ),
    pytest.param(
        rafdb_with(edit=lambda root: write(root / "Image" / "aligned" / "train_00002_aligned.jpg", b"\xff\xd8 not a jpeg")),
        DataError,
        ["train_00002_aligned.jpg: not an image file PIL can decode"],
        id="rafdb-corrupt-image",
    ),
    pytest.param(rafdb_with(split="val"), ValueError, ["`split` must be one of ('train', 'test'). Received: split='val'"], id="rafdb-split"),
    pytest.param(
        rafdb_with(edit=lambda root: (root / RAF_LABELS).unlink()), ValueError, ["has no EmoLabel/list_patition_label.txt"], id="rafdb-no-labels"
    ),
    pytest.param(
        rafdb_with(edit=lambda root: append(root / RAF_LABELS, b"train_" + LATIN1 + b".jpg 1\n")),
        DataError,
        ["list_patition_label.txt:3: byte 0xe9 at column 10 is not UTF-8"],
        id="rafdb-latin1",
    ),
    # AffectNet
    pytest.param(
        affectnet_with(["0/a.jpg,10,10,40,40,x,12,0,0"]),
        DataError,
        ["training.csv:2: expression must be 0..10. Received: 12"],
        id="affectnet-expression",
    ),
    pytest.param(
        affectnet_with(["0/a.jpg,10,ten,40,40,x,1,0,0"]),
        DataError,
        ["training.csv:2: face box and expression must be numbers"],
        id="affectnet-box-word",
    ),
    pytest.param(affectnet_with(["0/a.jpg,10,10,40"]), DataError, ["training.csv:2: expected 9 fields, found 4"], id="affectnet-fields"),
    pytest.param(
        affectnet_with(["0/a.jpg,60,10,40,40,x,1,0,0"]),
        DataError,
        ["a.jpg: face box (x=60, y=10, width=40, height=40) does not fit in the 80x60 image"],
        id="affectnet-box-outside",
    ),
    pytest.param(affectnet_with(["0/b.jpg,10,10,40,40,x,1,0,0"]), DataError, ["b.jpg: file not found"], id="affectnet-missing-image"),
    pytest.param(
        affectnet_with(edit=lambda csv_path, images: write(csv_path, "path,x\n")),
        DataError,
        ["training.csv:1: header must be subDirectory_filePath,"],
        id="affectnet-header",
    ),
    pytest.param(
        affectnet_with(edit=lambda csv_path, images: append(csv_path, b"0/" + LATIN1 + b".jpg,1,1,1,1,x,1,0,0\n")),
        DataError,
        ["training.csv:3: byte 0xe9 at column 6 is not UTF-8"],
        id="affectnet-latin1",
    ),
    pytest.param(affectnet_with(num_classes=6), ValueError, ["`num_classes` must be 7 or 8. Received: num_classes=6"], id="affectnet-num-classes"),
    pytest.param(
        lambda tmp: lambda: load_affectnet(tmp / "training.csv", tmp),
        ValueError,
        ["AffectNet needs an annotation CSV and an image folder"],
        id="affectnet-missing-csv",
    ),
]


@pytest.mark.parametrize("setup, kind, words", LOADER_CASES)
def test_loaders_refuse_bad_data_naming_file_and_line(tmp_path, setup, kind, words):
    expect_raise(tmp_path, kind, words, setup(tmp_path))


def test_a_decompression_bomb_is_skipped_and_listed_with_on_error_skip(tmp_path):
    root = faces(tmp_path / "faces", {"cat": 2, "dog": 1})
    bomb_png(root / "dog" / "bomb.png", 20000, 20000)
    before = snapshot(tmp_path)
    dataset = load_image_folder(root, ("cat", "dog"), image_size=(16, 16), on_error="skip")
    assert dataset.class_counts == [2, 1] and [source for source, _ in dataset.skipped] == [str(root / "dog" / "bomb.png")]
    assert "400 megapixels" in dataset.skipped[0][1]
    assert_unchanged(tmp_path, before)


def test_sixteen_bit_images_load_as_their_eight_bit_copies(tmp_path):
    gradient = np.tile(np.arange(0, 256, 4, dtype="uint8"), (64, 1))
    Image.fromarray(gradient).save(tmp_path / "eight.png")
    Image.fromarray(gradient.astype("uint16") * 257).save(tmp_path / "sixteen.png")
    with Image.open(tmp_path / "sixteen.png") as image:
        assert image.mode == "I;16"
    from keras_fer.data.images import read_image

    np.testing.assert_array_equal(read_image(tmp_path / "sixteen.png", (64, 64), 1), read_image(tmp_path / "eight.png", (64, 64), 1))


# ---------------------------------------------------------------- training config


SET_CASES = [
    ("training.epochs=0", ["`--set training.epochs` must lie in [1, inf]. Received: 0"]),
    ("training.epochs=ten", ["`--set training.epochs` must be int. Received: 'ten' (str)"]),
    ("training.epochs=1.5", ["`--set training.epochs` must be int. Received: 1.5 (float)"]),
    ("training.epochs=true", ["`--set training.epochs` must be int. Received: True (bool)"]),
    ("training.epochs=", ["`--set training.epochs` must be int. Received: None"]),
    ("training.batch_size=-4", ["`--set training.batch_size` must lie in [1, inf]. Received: -4"]),
    ("training.early_stopping_patience=0", ["`--set training.early_stopping_patience` must lie in [1, inf]"]),
    ("training.seed=-1", ["`--set training.seed` must lie in [0, inf]"]),
    ("training.monitor=val_auc", ["`--set training.monitor` must be one of", "Received: 'val_auc'"]),
    ("training.mixed_precision=float8", ["`--set training.mixed_precision` must be one of", "'float8'"]),
    ("training.distribute=tpu", ["`--set training.distribute` must be one of ['auto', 'mirrored', 'multi_worker', 'none']"]),
    ("training.jit_compile=maybe", ["`--set training.jit_compile` must be bool. Received: 'maybe'"]),
    ("training.augmentation={bogus: 1}", ["`--set training.augmentation`: unknown key(s) ['bogus']"]),
    ("training.augmentation={noise_stddev: -1}", ["`--set training.augmentation`:", "Received: stddev=-1"]),
    ("training.augmentation.noise_stddev=0", ["`training.augmentation` is False, not a mapping", "--set training.augmentation={{noise_stddev: 0}}"]),
    ("optimizer.learning_rate=.nan", ["`--set optimizer.learning_rate` must be a finite number. Received: nan"]),
    ("optimizer.learning_rate=.inf", ["`--set optimizer.learning_rate` must be a finite number. Received: inf"]),
    ("optimizer.learning_rate=0", ["`--set optimizer.learning_rate` must lie in [1e-09, inf]"]),
    ("optimizer.learning_rate=fast", ["`--set optimizer.learning_rate` must be float. Received: 'fast'"]),
    ("optimizer.name=sgdx", ["`--set optimizer.name` must be one of", "Received: 'sgdx'"]),
    ("optimizer.momentum=1.5", ["`--set optimizer.momentum` must lie in [0.0, 0.999]"]),
    ("optimizer.ema_momentum=-0.1", ["`--set optimizer.ema_momentum` must lie in [0.0, 1.0]"]),
    ("optimizer.schedule=linear", ["`--set optimizer.schedule` must be one of"]),
    ("loss.beta=1", ["`--set loss.beta` must lie in [0.0, 0.999999]. Received: 1.0"]),
    ("loss.weighting=cubic", ["`--set loss.weighting` must be one of"]),
    ("loss.gamma=-1", ["`--set loss.gamma` must lie in [0.0, inf]"]),
    ("data.dataset=imagenet", ["`--set data.dataset` must be one of", "Received: 'imagenet'"]),
    ("data.on_error=ignore", ["`--set data.on_error` must be one of ['raise', 'skip']. Received: 'ignore'"]),
    ("data.label_noise=1", ["`--set data.label_noise` must lie in [0.0, 0.95]. Received: 1.0"]),
    ("data.label_noise_seed=-3", ["`--set data.label_noise_seed` must lie in [0, inf]"]),
    ("data.options=3", ["`--set data.options` must be dict. Received: 3 (int)"]),
    ("model.preset=huge", ["`--set model.preset` must be one of", "Received: 'huge'"]),
    ("model.input_shape=[32, 32]", ["`--set model.input_shape` must be a list of 3 integers (height, width, channels). Received: [32, 32]"]),
    ("model.input_shape=[32, 32, x]", ["`--set model.input_shape` must be a list of integers. Received: [32, 32, 'x']"]),
    ("model.input_shape=[16, 16, 2]", ["`--set model.input_shape` must be [height, width, channels]: sides 8 to 1024, channels 1 or 3"]),
    ("model.input_shape=[0, 16, 1]", ["`--set model.input_shape` must be [height, width, channels]", "Received: (0, 16, 1)"]),
    ("model.input_shape=[100000, 100000, 1]", ["`--set model.input_shape` must be", "Received: (100000, 100000, 1)"]),  # ran out of memory
    ("model.internal_size=[64]", ["`--set model.internal_size` must be a list of 2 integers (height, width). Received: [64]"]),
    (
        "model.internal_size=[64, 4]",
        ["`--set model.internal_size` must be two integers >= 8, (height, width) the model resizes its input to. Received: (64, 4)"],
    ),
    ("model.spatial_kernel_size=4", ["`--set model.spatial_kernel_size` must be a positive odd integer. Received: 4"]),
    ("model.dropout=1", ["`--set model.dropout` must lie in [0.0, 0.99]"]),
    ("model.attention=transformer", ["`--set model.attention` must be one of"]),
    ("model.width=0", ["`--set model.width` must lie in [1, inf]"]),
    ("distillation.label_weight=2", ["`--set distillation.label_weight` must lie in [0.0, 1.0]"]),
    ("distillation.teachers=a.keras", ["`--set distillation.teachers` must be a list of strings. Received: 'a.keras'"]),
    ("output.overwrite=yes please", ["`--set output.overwrite` must be bool"]),
    ("nosection.key=1", ["--set: unknown key(s) ['nosection']. Valid keys:"]),
    ("training.nokey=1", ["--set training: unknown key(s) ['nokey']"]),
    ("training.epochs", ["--set takes section.key=value", "Received: 'training.epochs'"]),
    ("epochs=3", ["--set takes section.key=value", "Received: 'epochs=3'"]),
    ("training.augmentation.a.b=1", ["--set takes section.key=value", "Received: 'training.augmentation.a.b=1'"]),
    ("training.epochs=[1,", ["--set training.epochs=[1,: the value is not valid YAML: line 1, column 4:"]),
]


@pytest.mark.parametrize("override, words", SET_CASES, ids=[override for override, _ in SET_CASES])
def test_bad_set_values_name_the_flag(tmp_path, override, words):
    expect_raise(tmp_path, ValueError, words, lambda: load_config("synthetic", [override]))


YAML_CASES = {
    "not-yaml": (b"training: [1,\n", ["c.yaml is not valid YAML: line 2, column 1:"]),
    "tab-indent": (b"training:\n\tepochs: 3\n", ["c.yaml is not valid YAML: line 2, column 1: found character '\\t'"]),
    "a-list": (b"- training\n", ["c.yaml must hold a mapping of sections", "Received: ['training']"]),
    "section-not-mapping": (b"training: 3\n", ["c.yaml: section `training` must be a mapping. Received: 3"]),
    "unknown-section": (b"trainer:\n  epochs: 3\n", ["c.yaml: unknown key(s) ['trainer']"]),
    "unknown-key": (b"training:\n  epoch: 3\n", ["c.yaml: training: unknown key(s) ['epoch']"]),
    "wrong-type": (b"training:\n  epochs: many\n", ["`{tmp}/c.yaml: training.epochs` must be int. Received: 'many' (str)"]),
    "latin1": (b"# " + LATIN1 + b"\ntraining:\n  epochs: 3\n", ["c.yaml:1: byte 0xe9 at column 6 is not UTF-8"]),
    "latin1-value": (b"data:\n  path: " + LATIN1 + b"\n", ["c.yaml:2: byte 0xe9 at column 12 is not UTF-8"]),
}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_bad_config_files_are_one_line_errors(tmp_path, case):
    text, words = YAML_CASES[case]
    path = write(tmp_path / "c.yaml", text)
    expect_raise(tmp_path, ValueError, words, lambda: load_config(path))


def test_a_missing_config_is_neither_file_nor_preset(tmp_path):
    expect_raise(tmp_path, ValueError, ["Config mine.yaml is neither a YAML file nor a preset. Presets: ["], lambda: load_config("mine.yaml"))


@pytest.mark.parametrize(
    "weights, words",
    [
        ("notes.txt", ["model.weights must be a .keras or .weights.h5 file or the name of shipped weights"]),
        ("gone.keras", ["model.weights: gone.keras does not exist"]),
    ],
)
def test_bad_initial_weights_fail_before_training(tmp_path, weights, words):
    write(tmp_path / "notes.txt", "hello")
    expect_raise(tmp_path, ValueError, words, lambda: check_initial_weights(weights))


# ---------------------------------------------------------------- keras-fer subcommands


def photo(path, size=(256, 300)):
    """A real portrait (one face the Haar cascade finds), as a PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.open(PHOTO).convert("RGB").resize(size).save(path)
    return path


def data_folder(tmp, train=None, val=None):
    """`tmp/data/{train,val}/{cat,dog}/` with one image each, or the counts given."""
    faces(tmp / "data" / "train", train or {"cat": 1, "dog": 1})
    faces(tmp / "data" / "val", val or {"cat": 1, "dog": 1})
    return tmp / "data"


def broken_training_images(tmp):
    data = data_folder(tmp)
    for name in ("cat", "dog"):
        write(data / "train" / name / "0.png", b"not a png")
    return data


def expressions_folder(tmp):
    """`tmp/faces/val/<expression>/0.png` for the 7 canonical classes: the default classes of `data.dataset: folder`."""
    from keras_fer.data import EXPRESSIONS

    return faces(tmp / "faces", dict.fromkeys(EXPRESSIONS, 1), splits=["val"])


def keras_zip(path, **members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name.replace("_", "."), text)
    return path


def model_copy(tmp, models, labels=None):
    """The tiny model copied into `tmp/model/`, with a `labels.txt` beside it when given (bytes)."""
    folder = tmp / "model"
    folder.mkdir()
    (folder / "tiny.keras").write_bytes(models["tiny"].read_bytes())
    if labels is not None:
        write(folder / "labels.txt", labels)
    return folder / "tiny.keras"


def evaluate(tmp, models, *flags, data=None, config="synthetic", model="tiny", output="report/deeper"):
    """`keras-fer evaluate` of a shared model on `data` (default: a cat/dog folder) into `tmp/<output>`."""
    data = data if data is not None else data_folder(tmp)
    return ["evaluate", models[model], "--config", config, "--data", data, "--output", tmp / output, *flags]


def predict(tmp, models, *flags, model="tiny"):
    """`keras-fer predict` of `tmp/photos/` (one blank image) with a shared model."""
    png(tmp / "photos" / "a.png", size=(64, 64))
    return ["predict", tmp / "photos", "--model", models[model] if model in models else model, *flags]


CLI_CASES = [
    # train: every one fails before the first training step and leaves no run directory
    pytest.param(
        lambda t, m: ["train", "fer2013", "--data", fer_csv(t / "empty.csv", []), *CSV_SPLITS, "--output", t / "run"],
        ["keras-fer train: error:", "empty.csv: the training split is empty (split 'Training')"],
        id="train-header-only-csv",
    ),
    pytest.param(
        lambda t, m: ["train", "fer2013", "--data", fer_csv(t / "f.csv", [f"0,{PIXELS},PublicTest"]), *CSV_SPLITS, "--output", t / "run"],
        ["f.csv: the training split is empty (split 'Training')"],
        id="train-csv-without-training-rows",
    ),
    pytest.param(
        lambda t, m: [
            "train",
            "fer2013",
            "--data",
            fer_csv(t / "f.csv", [f"{e},{PIXELS},Training" for e in range(7)]),
            *CSV_SPLITS,
            "--output",
            t / "run",
        ],
        ["f.csv: the validation split is empty (split 'PublicTest')"],
        id="train-csv-without-validation-rows",
    ),
    pytest.param(
        lambda t, m: ["train", *FOLDER, "--set", "data.on_error=skip", "--data", data_folder(t, train={"cat": 1, "dog": 0}), "--output", t / "run"],
        ["class 'dog' has no training images (split 'train'", "no images for class 'dog'"],
        id="train-class-without-images-skip",
    ),
    pytest.param(
        lambda t, m: ["train", *FOLDER, "--data", data_folder(t, train={"cat": 1, "dog": 0}), "--output", t / "run"],
        ["data/train/dog: no images for class 'dog'"],
        id="train-class-without-images",
    ),
    pytest.param(
        lambda t, m: ["train", *FOLDER, "--set", "data.on_error=skip", "--data", broken_training_images(t), "--output", t / "run"],
        ["the training split is empty (split 'train', 2 records skipped or left out", "not an image file PIL can decode"],
        id="train-every-image-broken-skip",
    ),
    pytest.param(
        lambda t, m: [
            "train",
            "fer2013",
            "--data",
            write(t / "fer2013.csv", f"{FER_HEADER}\n{ROW}\n".encode() + LATIN1 + b",1,Training\n"),
            *CSV_SPLITS,
        ],
        ["fer2013.csv:3: byte 0xe9 at column 4 is not UTF-8"],
        id="train-latin1-csv",
    ),
    pytest.param(
        lambda t, m: last(
            bomb_png(data_folder(t) / "train" / "dog" / "bomb.png", 20000, 20000), ["train", *FOLDER, "--data", t / "data", "--output", t / "run"]
        ),
        ["train/dog/bomb.png: 400 megapixels is more than keras-fer decodes"],
        id="train-decompression-bomb",
    ),
    pytest.param(
        lambda t, m: ["train", *FOLDER, "--data", t / "nowhere"],
        ["`data.path` {tmp}/nowhere does not exist (dataset 'folder')"],
        id="train-missing-data",
    ),
    pytest.param(lambda t, m: ["train", "fer2013"], ["`data.path` is required for dataset 'fer2013'"], id="train-no-data-path"),
    pytest.param(
        lambda t, m: ["train", "rafdb", "--data", t], ["RAF-DB folder {tmp} has no EmoLabel/list_patition_label.txt"], id="train-rafdb-no-labels"
    ),
    pytest.param(
        lambda t, m: ["train", "--set", "data.dataset=folder", "--set", "data.options={bogus: 1}", "--data", t],
        ["`data.options` ['bogus'] are not options of dataset 'folder'. Valid options: ['class_names']"],
        id="train-unknown-data-option",
    ),
    pytest.param(
        lambda t, m: ["train", "--set", "training.epochs=ten"], ["`--set training.epochs` must be int. Received: 'ten' (str)"], id="train-bad-set"
    ),
    pytest.param(lambda t, m: ["train", "--set", "training.nokey=1"], ["--set training: unknown key(s) ['nokey']"], id="train-unknown-set-key"),
    pytest.param(lambda t, m: ["train", "mine.yaml"], ["Config mine.yaml is neither a YAML file nor a preset"], id="train-missing-config"),
    pytest.param(
        lambda t, m: ["train", write(t / "c.yaml", "training: [1,\n")], ["c.yaml is not valid YAML: line 2, column 1"], id="train-invalid-yaml"
    ),
    pytest.param(
        lambda t, m: ["train", write(t / "c.yaml", b"# " + LATIN1 + b"\n")], ["c.yaml:1: byte 0xe9 at column 6 is not UTF-8"], id="train-latin1-yaml"
    ),
    pytest.param(
        lambda t, m: ["train", *FOLDER, "--data", data_folder(t), "--set", "model.weights=gone.keras", "--output", t / "run"],
        ["model.weights: gone.keras does not exist"],
        id="train-missing-weights",
    ),
    pytest.param(
        lambda t, m: ["train", *FOLDER, "--data", data_folder(t), "--set", f"model.weights={write(t / 'notes.txt', 'hi')}", "--output", t / "run"],
        ["model.weights must be a .keras or .weights.h5 file"],
        id="train-weights-not-keras",
    ),
    pytest.param(
        lambda t, m: ["train", *FOLDER, "--data", data_folder(t), "--set", f"model.weights={write(t / 'empty.keras', b'')}", "--output", t / "run"],
        ["model.weights: not a keras-fer model file: {tmp}/empty.keras"],
        id="train-empty-weights-file",
    ),
    pytest.param(
        lambda t, m: ["train", "--teachers", "gone.keras"], ["distillation.teachers: gone.keras does not exist"], id="train-missing-teacher"
    ),
    pytest.param(
        lambda t, m: ["train", *FOLDER, "--data", data_folder(t), "--teachers", write(t / "empty.keras", b""), "--output", t / "run"],
        ["not a keras-fer model file: {tmp}/empty.keras (the file is empty)"],
        id="train-empty-teacher-file",
    ),
    pytest.param(
        lambda t, m: ["train", "--output", write(t / "notes.txt", "hi")],
        ["Run directory {tmp}/notes.txt is a file, not a directory"],
        id="train-output-is-a-file",
    ),
    pytest.param(
        lambda t, m: ["train", "--output", write(t / "notes.txt", "hi") / "run"],
        ["Run directory {tmp}/notes.txt/run is not writable"],
        id="train-output-under-a-file",
    ),
    pytest.param(
        lambda t, m: ["train", "--output", write(t / "mine" / "results.txt", "precious").parent],
        ["Run directory {tmp}/mine already holds a run. Choose another or pass --overwrite"],
        id="train-output-holds-files",
    ),
    # evaluate: a failed evaluation leaves no report folder
    pytest.param(lambda t, m: ["evaluate", t / "nowhere"], ["{tmp}/nowhere is neither a run directory nor a .keras file"], id="evaluate-nowhere"),
    pytest.param(
        lambda t, m: ["evaluate", m["tiny"]], ["is a model file: pass --config (a preset or YAML naming the data)"], id="evaluate-without-config"
    ),
    pytest.param(
        lambda t, m: ["evaluate", write(t / "empty.keras", b""), "--config", "synthetic"],
        ["not a keras-fer model file: {tmp}/empty.keras (the file is empty)"],
        id="evaluate-empty-model-file",
    ),
    pytest.param(
        lambda t, m: ["evaluate", write(t / "notes.keras", "hello"), "--config", "synthetic"],
        ["not a keras-fer model file: {tmp}/notes.keras (not a .keras archive: truncated, or another format)"],
        id="evaluate-text-model-file",
    ),
    pytest.param(
        lambda t, m: ["evaluate", keras_zip(t / "m.keras", weights_h5="x"), "--config", "synthetic"],
        ["not a keras-fer model file: {tmp}/m.keras (the archive has no config.json)"],
        id="evaluate-archive-without-config",
    ),
    pytest.param(
        lambda t, m: ["evaluate", write(t / "run" / "config.yaml", "{}").parent],
        ["Run directory {tmp}/run holds no model.keras"],
        id="evaluate-run-without-model",
    ),
    pytest.param(lambda t, m: evaluate(t, m, *FOLDER, data=t / "nowhere"), ["`data.path` {tmp}/nowhere does not exist"], id="evaluate-missing-data"),
    pytest.param(
        lambda t, m: evaluate(t, m, *CSV_SPLITS, data=fer_csv(t / "empty.csv", []), config="fer2013"),
        ["empty.csv: the data split is empty (split 'PublicTest')"],
        id="evaluate-empty-split",
    ),
    pytest.param(
        lambda t, m: evaluate(t, m, *FOLDER, "--split", "test"), ["Image folder {tmp}/data/test does not exist"], id="evaluate-missing-split"
    ),
    pytest.param(
        lambda t, m: evaluate(t, m, *FOLDER), ["The model predicts 7 classes but the dataset has 2: ['cat', 'dog']"], id="evaluate-classes-differ"
    ),
    pytest.param(
        lambda t, m: evaluate(t, m, "--set", "data.dataset=folder", data=expressions_folder(t), config="fer2013", model="nan"),
        ["the model", "predicted NaN or infinite scores for 7 of 7 images", "expected finite class probabilities"],
        id="evaluate-nan-model",
    ),
    pytest.param(
        lambda t, m: evaluate(t, m, *CSV_SPLITS, data=write(t / "f.csv", f"{FER_HEADER}\n".encode() + LATIN1 + b"\n"), config="fer2013"),
        ["f.csv:2: byte 0xe9 at column 4 is not UTF-8"],
        id="evaluate-latin1-csv",
    ),
    pytest.param(
        lambda t, m: last(
            bomb_png(data_folder(t) / "train" / "cat" / "bomb.png", 30000, 30000), evaluate(t, m, *FOLDER, "--split", "train", data=t / "data")
        ),
        ["train/cat/bomb.png: 900 megapixels is more than keras-fer decodes"],
        id="evaluate-decompression-bomb",
    ),
    pytest.param(
        lambda t, m: last(write(t / "notes.txt", "hi"), evaluate(t, m, *FOLDER, output="notes.txt")),
        ["Report directory {tmp}/notes.txt is a file"],
        id="evaluate-output-is-a-file",
    ),
    pytest.param(
        lambda t, m: last(write(t / "old" / "report.json", "{}"), evaluate(t, m, *FOLDER, output="old")),
        ["Report directory {tmp}/old already holds files. Choose another --output or pass --overwrite"],
        id="evaluate-output-holds-files",
    ),
    pytest.param(
        lambda t, m: evaluate(t, m, *FOLDER, "--shift", "8"),
        ["`shift` must be an integer from 0 to 7 (pixels, less than half of 16x16 images)"],
        id="evaluate-shift",
    ),
    pytest.param(lambda t, m: evaluate(t, m, "--set", "training.epochs=ten"), ["`--set training.epochs` must be int"], id="evaluate-bad-set"),
    # export
    pytest.param(
        lambda t, m: ["export", t / "missing.keras", "--out", t / "m.tflite"],
        ["{tmp}/missing.keras is neither a run directory nor a .keras file"],
        id="export-missing",
    ),
    pytest.param(
        lambda t, m: ["export", write(t / "empty.keras", b""), "--out", t / "m.tflite"],
        ["not a keras-fer model file: {tmp}/empty.keras"],
        id="export-empty-model-file",
    ),
    pytest.param(
        lambda t, m: ["export", m["tiny"], "--format", "savedmodel", "--quantize", "int8", "--out", t / "sm"],
        ["--quantize applies to TFLite only. Received: --quantize int8 with --format savedmodel"],
        id="export-savedmodel-int8",
    ),
    pytest.param(
        lambda t, m: ["export", m["tiny"], "--quantize", "int8", "--representative", "nothere", "--out", t / "m.tflite"],
        ["Config nothere is neither a YAML file nor a preset"],
        id="export-int8-missing-representative",
    ),
    pytest.param(
        lambda t, m: [
            "export",
            m["tiny"],
            "--quantize",
            "int8",
            "--representative",
            "fer2013",
            "--data",
            fer_csv(t / "e.csv", []),
            *CSV_SPLITS,
            "--out",
            t / "m.tflite",
        ],
        ["e.csv: the data split is empty (split 'Training')"],
        id="export-int8-empty-representative",
    ),
    # study
    pytest.param(lambda t, m: ["study", "nothere"], ["Study nothere is neither a YAML file nor a shipped study"], id="study-missing"),
    pytest.param(
        lambda t, m: ["study", write(t / "s.yaml", "variants: [\n")], ["s.yaml is not valid YAML: line 2, column 1"], id="study-invalid-yaml"
    ),
    pytest.param(
        lambda t, m: ["study", write(t / "s.yaml", b"name: " + LATIN1 + b"\n")], ["s.yaml:1: byte 0xe9 at column 10 is not UTF-8"], id="study-latin1"
    ),
    pytest.param(
        lambda t, m: ["study", "ablation_fer2013", "--variants", "bogus"], ["variants ['bogus'] are not in the study"], id="study-unknown-variant"
    ),
    pytest.param(
        lambda t, m: ["study", "ablation_fer2013", "--seeds", "99"], ["seeds [99] are not in the study. It has [0, 1, 2]"], id="study-unknown-seed"
    ),
    # predict: outputs are checked before any work
    pytest.param(
        lambda t, m: predict(t, m, "--annotate", t / "photos", "--overwrite"),
        ["--annotate {tmp}/photos is the input {tmp}/photos; expected an output outside the inputs (--overwrite never replaces inputs)"],
        id="predict-annotate-into-input-overwrite",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--annotate", t / "photos"),
        ["--annotate {tmp}/photos is the input {tmp}/photos"],
        id="predict-annotate-into-input",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--annotate", t / "photos" / ".." / "photos", "--overwrite"),
        ["--annotate {tmp}/photos/../photos is the input {tmp}/photos"],
        id="predict-annotate-into-input-by-another-name",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--json", t / "photos" / "a.png", "--overwrite"),
        ["--json {tmp}/photos/a.png is inside the input folder {tmp}/photos"],
        id="predict-json-over-an-input-image",
    ),
    pytest.param(
        lambda t, m: ["predict", png(t / "a.png", (64, 64)), "--model", m["tiny"], "--csv", t / "a.png", "--overwrite"],
        ["--csv {tmp}/a.png is the input {tmp}/a.png"],
        id="predict-csv-over-the-input-file",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--csv", t / "photos" / "faces.csv"),
        ["--csv {tmp}/photos/faces.csv is inside the input folder"],
        id="predict-csv-in-input-folder",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--json", t / "photos" / "new" / "r.json"),
        ["--json {tmp}/photos/new/r.json is inside the input folder"],
        id="predict-json-deep-in-input",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--annotate", t / "photos" / "drawn"),
        ["--annotate {tmp}/photos/drawn is inside the input folder"],
        id="predict-annotate-in-input-folder",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--explain", t / "photos" / "maps"),
        ["--explain {tmp}/photos/maps is inside the input folder"],
        id="predict-explain-in-input-folder",
    ),
    pytest.param(
        lambda t, m: ["predict", png(t / "out" / "a.png", (64, 64)), "--model", m["tiny"], "--annotate", t / "out", "--overwrite"],
        ["--annotate {tmp}/out holds the input {tmp}/out/a.png; expected an output folder apart from the inputs"],
        id="predict-annotate-holds-the-input",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--json", t / "r.out", "--csv", t / "r.out"),
        ["--json and --csv are the same file {tmp}/r.out"],
        id="predict-json-and-csv-same-file",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--json", write(t / "r.json", "[]")),
        ["--json {tmp}/r.json exists; pass --overwrite to replace it"],
        id="predict-json-exists",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--csv", write(t / "out" / "keep.txt", "x").parent),
        ["--csv {tmp}/out is a folder; give the path of a file to write"],
        id="predict-csv-is-a-folder",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--json", t / "missing" / "r.json"),
        ["--json {tmp}/missing/r.json: the folder {tmp}/missing does not exist"],
        id="predict-json-folder-missing",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--annotate", write(t / "drawn", "x")),
        ["--annotate {tmp}/drawn is a file, not a folder"],
        id="predict-annotate-is-a-file",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--annotate", write(t / "drawn" / "old.png", "x").parent),
        ["--annotate {tmp}/drawn is not empty; pass --overwrite to write into it"],
        id="predict-annotate-not-empty",
    ),
    pytest.param(
        lambda t, m: predict(t, m, model=str(t / "missing.keras")), ["Model {tmp}/missing.keras does not exist"], id="predict-model-missing"
    ),
    pytest.param(
        lambda t, m: predict(t, m, model=str(write(t / "notes.txt", "hi"))),
        ["{tmp}/notes.txt is not a model keras-fer can read: expected .keras, .tflite or a SavedModel folder"],
        id="predict-model-text-file",
    ),
    pytest.param(
        lambda t, m: predict(t, m, model=str(write(t / "empty.keras", b""))),
        ["not a keras-fer model file: {tmp}/empty.keras (the file is empty)"],
        id="predict-model-empty-keras",
    ),
    pytest.param(
        lambda t, m: predict(t, m, model=str(write(t / "m.tflite", b"garbage" * 8))),
        ["{tmp}/m.tflite is not a TFLite model"],
        id="predict-model-garbage-tflite",
    ),
    pytest.param(
        lambda t, m: predict(t, m, model=str(write(t / "m.tflite", b""))), ["{tmp}/m.tflite is not a TFLite model"], id="predict-model-empty-tflite"
    ),
    pytest.param(
        lambda t, m: predict(t, m, model=str(write(t / "sm" / "variables.txt", "x").parent)),
        ["{tmp}/sm is a folder without saved_model.pb: not a SavedModel"],
        id="predict-model-folder-without-savedmodel",
    ),
    pytest.param(
        lambda t, m: predict(t, m, model=str(write(t / "sm" / "saved_model.pb", b"junk").parent)),
        ["not a keras-fer model file: {tmp}/sm (a SavedModel that does not load:"],
        id="predict-model-corrupt-savedmodel",
    ),
    pytest.param(
        lambda t, m: predict(t, m, model=str(model_copy(t, m, labels="happy\nsad\n"))),
        ["{tmp}/model/labels.txt: 2 class names for a model with 7 outputs; expected one name a line per output"],
        id="predict-labels-count",
    ),
    pytest.param(
        lambda t, m: predict(t, m, model=str(model_copy(t, m, labels=b"happy\n" + LATIN1 + b"\n"))),
        ["{tmp}/model/labels.txt: not UTF-8 text (byte 0xe9)"],
        id="predict-labels-latin1",
    ),
    pytest.param(
        lambda t, m: predict(t, m, model=str(model_copy(t, m, labels="angry\nsad\nangry\nfear\nhappy\nsurprise\nneutral\n"))),
        ["{tmp}/model/labels.txt: the class name 'angry' is on more than one line; expected a different name for each output"],
        id="predict-labels-duplicated",
    ),
    pytest.param(
        lambda t, m: predict(t, m, "--shift", "8"),
        ["`shift` must be an integer from 0 to 7 (pixels, less than half of 16x16 images). Received: shift=8"],
        id="predict-shift",
    ),
    pytest.param(
        lambda t, m: ["predict", photo(t / "photos" / "face.png"), "--model", m["nan"], "--json", t / "r.json"],
        ["nan.keras returned NaN or infinite scores for 1 of 1 faces; expected finite class probabilities"],
        id="predict-nan-model",
    ),
]


@pytest.mark.parametrize("setup, words", CLI_CASES)
def test_subcommands_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, models, setup, words):
    argv = setup(tmp_path, models)
    expect_exit(tmp_path, capsys, argv, 2, [f"keras-fer {argv[0]}: error:", *words])


def test_a_failed_train_leaves_no_runs_folder(tmp_path, capsys):
    data = data_folder(tmp_path, train={"cat": 1, "dog": 0})
    before = snapshot(tmp_path)
    assert main(["train", *FOLDER, "--data", str(data)]) == 2
    assert "no images for class 'dog'" in capsys.readouterr().err
    assert_unchanged(tmp_path, before)  # neither runs/synthetic nor runs/


@pytest.mark.parametrize(
    "argv, words",
    [
        (["train", "--epochs", "0"], ["argument --epochs: must be a positive integer, got '0'"]),
        (["train", "--epochs", "x"], ["argument --epochs: must be a positive integer, got 'x'"]),
        (["evaluate", "run", "--shift", "-1"], ["argument --shift: must be a non-negative integer, got '-1'"]),
        (["predict", "a.png", "--every", "0"], ["argument --every: must be a positive integer, got '0'"]),
        (["predict", "a.png", "--batch-size", "0"], ["argument --batch-size: must be a positive integer, got '0'"]),
        (["export", "m.keras"], ["the following arguments are required: --out"]),
        (["export", "m.keras", "--out", "x", "--format", "onnx"], ["argument --format: invalid choice: 'onnx'"]),
        (["study", "s", "--jobs", "0"], ["argument --jobs: must be a positive integer, got '0'"]),
        (["predict"], ["give PATHs to read or --camera INDEX, one of the two"]),
        (["predict", "a.png", "--camera", "0"], ["give PATHs to read or --camera INDEX, one of the two"]),
        (["predict", "--camera", "-1"], ["argument --camera: must be a non-negative integer, got '-1'"]),
        (["predict", "--camera", "99999999999"], ["argument --camera: must be a camera index from 0 to 2147483647, got '99999999999'"]),
        (["predict", "a.png", "--threads", "100000"], ["argument --threads: must be a number of threads from 1 to 256, got '100000'"]),
        (["study", "s.yaml", "--threads", "257"], ["argument --threads: must be a number of threads from 1 to 256, got '257'"]),
        (["fly"], ["argument COMMAND: invalid choice: 'fly'"]),
    ],
    ids=lambda value: (
        "-".join(value) if isinstance(value, list) and value and value[0] in ("train", "evaluate", "predict", "export", "study", "fly") else None
    ),
)
def test_malformed_arguments_are_usage_errors(tmp_path, capsys, argv, words):
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("usage: keras-fer")
    assert_one_line(err.strip().splitlines()[-1], ["error:", *words])
    assert_unchanged(tmp_path, before)


def problems(err):
    """`{file name: message}` of the `keras-fer predict: <path>: <message>` lines, and the summary line."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err and lines[-1].endswith("could not be read."), err
    found = {}
    for line in lines[:-1]:
        assert line.startswith("keras-fer predict: "), line
        path, message = line[len("keras-fer predict: ") :].split(": ", 1)
        found[Path(path).name] = message
    return found, lines[-1]


def test_predict_reports_each_unreadable_image_and_reads_the_rest(tmp_path, capsys, models):
    photos = tmp_path / "photos"
    png(photos / "good.png", (64, 64))
    bomb_png(photos / "bomb.png", 20000, 20000)
    bomb_png(photos / "huge.png", 10000, 10000)
    write(photos / "empty.png", b"")
    truncated_png(photos / "cut.png")
    write(photos / "notes.png", "not an image")
    write(photos / "notes.txt", "not an image")
    png(photos / "tiny.png", (10, 10))
    write(photos / "folder.png" / "inside.jpg", b"")
    before = snapshot(tmp_path)
    assert main(["predict", str(photos), str(tmp_path / "missing.jpg"), "--model", str(models["tiny"]), "--json", str(tmp_path / "r.json")]) == 1
    found, summary = problems(capsys.readouterr().err)
    assert found == {
        "bomb.png": "not a readable image: 400 megapixels is more than keras-fer decodes from one image; expected at most 67 megapixels "
        "(keras_fer.data.images.MAX_IMAGE_PIXELS)",
        "huge.png": "not a readable image: 10000x10000 pixels (100 megapixels) is more than keras-fer decodes from one image; "
        "expected at most 67 megapixels (keras_fer.data.images.MAX_IMAGE_PIXELS)",
        "cut.png": found["cut.png"],
        "empty.png": "empty file",
        "inside.jpg": "empty file",
        "notes.png": "not a readable image: not an image file PIL can decode",
        "notes.txt": found["notes.txt"],
        "tiny.png": "too small (10x10 px); faces need at least 24x24 px",
        "missing.jpg": "no such file",
    }
    assert found["cut.png"].startswith("not a readable image: corrupt or truncated image") and found["notes.txt"].startswith(
        "unsupported format .txt"
    )
    assert summary == "0 faces in 1 images or frames; 9 files could not be read."
    assert [record["file"] for record in json.loads((tmp_path / "r.json").read_text())] == [str(photos / "good.png")]
    assert_unchanged(tmp_path, before, written=["r.json"])


def test_predict_writes_a_non_utf8_file_name_escaped_in_a_whole_csv(tmp_path, capsys, models):
    photos = tmp_path / "photos"
    photos.mkdir()
    name = os.fsdecode(b"caf\xe9.png")  # a Latin-1 file name, not UTF-8
    Image.new("RGB", (64, 64), "gray").save(photos / name)
    before = snapshot(tmp_path)
    assert main(["predict", str(photos), "--model", str(models["tiny"]), "--csv", str(tmp_path / "r.csv"), "--json", str(tmp_path / "r.json")]) == 0
    assert "Traceback" not in capsys.readouterr().err
    rows = (tmp_path / "r.csv").read_bytes().decode("utf-8").splitlines()
    assert len(rows) == 2 and rows[1].startswith(f"{photos}/caf\\xe9.png,")
    assert json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))[0]["file"] == f"{photos}/caf\\xe9.png"
    assert_unchanged(tmp_path, before, written=["r.csv", "r.json"])
    assert main(["predict", str(photos), "--model", str(models["tiny"])]) == 0
    assert f"{photos}/caf\\xe9.png" in capsys.readouterr().out


def test_predict_scales_a_sixteen_bit_photo_as_training_does(tmp_path, capsys, models):
    gray = np.asarray(Image.open(PHOTO).convert("L").resize((256, 300)))
    Image.fromarray(gray).save(tmp_path / "eight.png")
    Image.fromarray(gray.astype("uint16") * 257).save(tmp_path / "sixteen.png")
    with Image.open(tmp_path / "sixteen.png") as image:
        assert image.mode == "I;16"
    for name in ("eight", "sixteen"):
        assert main(["predict", str(tmp_path / f"{name}.png"), "--model", str(models["tiny"]), "--json", str(tmp_path / f"{name}.json")]) == 0
    eight, sixteen = (json.loads((tmp_path / f"{name}.json").read_text())[0]["faces"] for name in ("eight", "sixteen"))
    assert len(eight) == 1 and sixteen == eight
    recognizer = Recognizer.from_file(models["tiny"])
    analyzed = [json.loads(json.dumps(recognizer.analyze(tmp_path / f"{name}.png"))) for name in ("eight", "sixteen")]
    assert analyzed == [eight, eight]


# ---------------------------------------------------------------- Recognizer and the Python API


def _mean_brightness(faces):
    mean = faces.reshape(len(faces), -1).mean(axis=1, keepdims=True) / 255.0
    return np.concatenate([mean, 1 - mean], axis=1).astype("float32")


BRIGHTNESS = Classifier(_mean_brightness, (16, 16, 1), ["bright", "dark"], None)


@pytest.mark.parametrize(
    "arguments, words",
    [
        ({"batch_size": 0}, ["`batch_size` must be a positive integer. Received: batch_size=0"]),
        ({"batch_size": -1}, ["`batch_size` must be a positive integer. Received: batch_size=-1"]),
        ({"batch_size": 2.5}, ["`batch_size` must be a positive integer. Received: batch_size=2.5"]),
        ({"batch_size": True}, ["`batch_size` must be a positive integer. Received: batch_size=True"]),
        ({"batch_size": "8"}, ["`batch_size` must be a positive integer. Received: batch_size='8'"]),
        ({"margin": -0.9}, ["`margin` must be a number in [0, 1] (a fraction of the face box). Received: margin=-0.9"]),
        ({"margin": 1.5}, ["`margin` must be a number in [0, 1]", "margin=1.5"]),
        ({"margin": float("nan")}, ["`margin` must be a number in [0, 1]", "margin=nan"]),
        ({"margin": "wide"}, ["`margin` must be a number in [0, 1]", "margin='wide'"]),
        ({"margin": True}, ["`margin` must be a number in [0, 1]", "margin=True"]),
        ({"flip": "yes"}, ["`flip` must be True or False. Received: flip='yes'"]),
        ({"flip": 1}, ["`flip` must be True or False. Received: flip=1"]),
        ({"shift": -1}, ["`shift` must be an integer from 0 to 7", "Received: shift=-1"]),
        ({"shift": 8}, ["`shift` must be an integer from 0 to 7 (pixels, less than half of 16x16 images). Received: shift=8"]),
        ({"shift": 1.5}, ["`shift` must be an integer from 0 to 7", "Received: shift=1.5"]),
    ],
    ids=lambda value: "-".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else None,
)
def test_recognizer_arguments_name_the_argument(tmp_path, arguments, words):
    expect_raise(tmp_path, ValueError, words, lambda: Recognizer(BRIGHTNESS, detector=BoxDetector([]), **arguments))


CROP_CASES = [
    pytest.param(
        "face.png", ["`faces` must be pixel arrays of face crops; for an image file use `analyze`", "Received: faces='face.png'"], id="path-string"
    ),
    pytest.param(Path("face.png"), ["`faces` must be pixel arrays of face crops", "Received: faces=PosixPath('face.png')"], id="path"),
    pytest.param(b"\x89PNG", ["`faces` must be pixel arrays of face crops", "Received: faces=b'\\x89PNG'"], id="bytes"),
    pytest.param(
        np.zeros(2304, "uint8"),
        ["`faces` must be a face crop (height, width[, 1|3|4]) or a list of them", "reshape it", "faces of shape (2304,)"],
        id="flat",
    ),
    pytest.param(None, ["`faces` must be a face crop", "Received: faces of shape ()"], id="none"),
    pytest.param(5, ["`faces` must be a face crop", "Received: faces of shape ()"], id="scalar"),
    pytest.param(
        [None],
        ["A face crop must be an array (height, width) or (height, width, 1|3|4). Received: faces[0], a NoneType of shape ()"],
        id="list-of-none",
    ),
    pytest.param(["face.png"], ["A face crop must be an array", "Received: faces[0], a str of shape ()"], id="list-of-paths"),
    pytest.param(
        [np.zeros((16, 16)), np.zeros((4, 4))], ["A face crop must be at least 8x8 pixels. Received: faces[1] of shape (4, 4)"], id="second-crop-tiny"
    ),
    pytest.param(np.zeros((1, 1), "uint8"), ["A face crop must be at least 8x8 pixels. Received: faces of shape (1, 1)"], id="1x1"),
    pytest.param(
        np.zeros((16, 16, 2), "uint8"), ["A face crop must be an array", "Received: faces, a ndarray of shape (16, 16, 2)"], id="2-channels"
    ),
    pytest.param(
        np.zeros((2, 16, 16, 5), "uint8"), ["A face crop must be an array", "Received: faces[0], a ndarray of shape (16, 16, 5)"], id="5-channels"
    ),
    pytest.param(
        np.full((16, 16), 0.8, "float32"),
        ["A face crop holds floats in [0, 1]; keras-fer takes pixel values in [0, 255] (multiply by 255)"],
        id="floats-0-1",
    ),
    pytest.param(np.full((16, 16), np.nan, "float32"), ["A face crop holds NaN or infinite values; pixels must be numbers in [0, 255]"], id="nan"),
    pytest.param(np.full((16, 16, 3), np.inf), ["A face crop holds NaN or infinite values"], id="inf"),
    pytest.param(np.ones((16, 16), bool), ["A face crop must hold uint8 pixels or numbers in [0, 255]. Received dtype bool"], id="bool"),
    pytest.param(
        np.full((16, 16), 40_000, "uint16"),
        ["A face crop must hold pixel values in [0, 255]. Received uint16 values from 40000 to 40000"],
        id="uint16",
    ),
    pytest.param(np.full((16, 16), -3.0), ["A face crop must hold pixel values in [0, 255]. Received float64 values from -3 to -3"], id="negative"),
    pytest.param(np.full((16, 16), "x"), ["A face crop must hold uint8 pixels or numbers in [0, 255]. Received dtype <U1"], id="strings"),
]


@pytest.mark.parametrize("faces_, words", CROP_CASES)
def test_predict_faces_refuses_what_is_not_face_pixels(tmp_path, faces_, words):
    recognizer = Recognizer(BRIGHTNESS, detector=BoxDetector([]))
    expect_raise(tmp_path, ValueError, words, lambda: recognizer.predict_faces(faces_))


IMAGE_CASES = [
    pytest.param(lambda t: t / "nothing.jpg", ["{tmp}/nothing.jpg is not a readable image: file not found"], id="missing"),
    pytest.param(
        lambda t: write(t / "photos" / "a.txt", "x").parent,
        ["{tmp}/photos is not a readable image: is a folder; expected an image file"],
        id="folder",
    ),
    pytest.param(lambda t: write(t / "empty.jpg", b""), ["{tmp}/empty.jpg is not a readable image: empty file (0 bytes)"], id="empty-file"),
    pytest.param(
        lambda t: write(t / "notes.txt", "hello"), ["{tmp}/notes.txt is not a readable image: not an image file PIL can decode"], id="text-file"
    ),
    pytest.param(lambda t: str(truncated_png(t / "cut.png")), ["{tmp}/cut.png is not a readable image: corrupt or truncated image"], id="truncated"),
    pytest.param(
        lambda t: bomb_png(t / "bomb.png", 20000, 20000),
        ["{tmp}/bomb.png is not a readable image: 400 megapixels is more than keras-fer decodes"],
        id="bomb",
    ),
    pytest.param(
        lambda t: None, ["`image` must be a path, a PIL image or an array (height, width[, 3|4]) of pixels. Received: image=None"], id="none"
    ),
    pytest.param(
        lambda t: np.zeros((2, 2, 2, 2, 2)),
        ["`image` must be a path, a PIL image or an array", "Received: image of shape (2, 2, 2, 2, 2)"],
        id="5-d-array",
    ),
    pytest.param(lambda t: np.zeros((32, 32, 2)), ["`image` must be a path", "Received: image of shape (32, 32, 2)"], id="2-channels"),
    pytest.param(
        lambda t: np.zeros((0, 0, 3), "uint8"),
        ["`image` must have at least one pixel (a height and width of 1 or more). Received: image of shape (0, 0, 3)"],
        id="no-pixels",
    ),
    pytest.param(lambda t: np.zeros((10, 0, 3), "uint8"), ["`image` must have at least one pixel", "image of shape (10, 0, 3)"], id="no-columns"),
    pytest.param(lambda t: np.zeros((0, 10), "uint8"), ["`image` must have at least one pixel", "image of shape (0, 10)"], id="gray-no-rows"),
    pytest.param(lambda t: Image.new("RGB", (0, 0)), ["`image` must have at least one pixel", "Received: a PIL image of 0x0 pixels"], id="pil-empty"),
    pytest.param(lambda t: np.full((32, 32, 3), 0.5), ["An image holds floats in [0, 1]; keras-fer takes pixel values in [0, 255]"], id="floats-0-1"),
    pytest.param(
        lambda t: np.full((32, 32), 300.0), ["An image must hold pixel values in [0, 255]. Received float64 values from 300 to 300"], id="above-255"
    ),
]


@pytest.mark.parametrize("make, words", IMAGE_CASES)
def test_analyze_refuses_what_is_not_an_image(tmp_path, make, words):
    image = make(tmp_path)
    recognizer = Recognizer(BRIGHTNESS, detector=BoxDetector([(0, 0, 16, 16)]))
    expect_raise(tmp_path, ValueError, words, lambda: recognizer.analyze(image))


@pytest.mark.parametrize("image", [np.zeros((10, 0, 3), "uint8"), np.zeros((0, 10), "uint8")], ids=["no-columns", "gray-no-rows"])
def test_an_image_without_pixels_never_reaches_opencv(tmp_path, image):
    words = ["`image` must have at least one pixel", f"image of shape {image.shape}"]
    expect_raise(tmp_path, ValueError, words, lambda: Recognizer(BRIGHTNESS, detector="haar").analyze(image))
    stream = Recognizer(BRIGHTNESS, detector="haar").stream([np.zeros((32, 32), "uint8"), image])
    expect_raise(tmp_path, ValueError, ["frame 1: `image` must have at least one pixel", f"image of shape {image.shape}"], lambda: list(stream))


class _NoFaces:
    def detect(self, image):
        return None


@pytest.mark.parametrize(
    "detector, words",
    [
        (
            _NoFaces(),
            ["`_NoFaces.detect(image)` must return a list of Detections or boxes (x, y, width, height), [] for no face. Received: None"],
        ),
        (
            BoxDetector([(10, 10, 20, 20), (80, 70, -100, -100)]),
            ["`BoxDetector.detect(image)` must return boxes (x, y, width, height) with a width and height >= 0. Received: box=(80, 70, -100, -100)"],
        ),
        (BoxDetector([5]), ["`BoxDetector.detect(image)` must return Detections or boxes (x, y, width, height). Received: 5"]),
    ],
    ids=["none", "negative-size", "number"],
)
def test_a_detector_that_returns_no_list_of_boxes_is_named(tmp_path, detector, words):
    recognizer = Recognizer(BRIGHTNESS, detector=detector)
    expect_raise(tmp_path, ValueError, words, lambda: recognizer.analyze(np.zeros((64, 64, 3), "uint8")))


def test_a_model_that_is_neither_a_name_nor_a_path_is_named(tmp_path):
    words = ["`model` must be the name of a shipped model (['fer2013', 'ferplus']), the path of a .keras, .tflite or SavedModel model, or None"]
    for model in (5, ["ferplus"]):
        expect_raise(tmp_path, ValueError, [*words, f"Received: model={model!r}"], lambda model=model: Recognizer(model=model))
        expect_raise(tmp_path, ValueError, [*words, f"Received: model={model!r}"], lambda model=model: load_classifier(model))


class _Scores:
    """A classifier returning fixed scores, whatever the faces."""

    input_shape, class_names, path = (16, 16, 1), ("bright", "dark"), None

    def __init__(self, scores):
        self.scores = np.asarray(scores, "float32")

    def __call__(self, faces):
        return self.scores[: len(faces)]


@pytest.mark.parametrize(
    "scores, words",
    [
        ([[np.nan, 0.5]], ["the classifier returned NaN or infinite scores for 1 of 1 faces; expected finite class probabilities"]),
        ([[np.inf, 0.0]], ["the classifier returned NaN or infinite scores for 1 of 1 faces"]),
        ([[0.2, 0.3, 0.5]], ["the classifier returned scores of shape (1, 3) for 1 faces; expected (1, 2), one per class"]),
        ([], ["the classifier returned scores of shape (0,) for 1 faces; expected (1, 2)"]),
    ],
    ids=["nan", "inf", "three-classes", "nothing"],
)
def test_scores_that_are_not_one_finite_row_per_face_are_errors(tmp_path, scores, words):
    recognizer = Recognizer(_Scores(scores), detector=BoxDetector([(0, 0, 16, 16)]))
    expect_raise(tmp_path, ValueError, words, lambda: recognizer.predict_faces(np.zeros((16, 16), "uint8")))


def test_a_model_with_nan_weights_is_an_error_at_predict_time(tmp_path, models):
    recognizer = Recognizer.from_file(models["nan"], detector=BoxDetector([(0, 0, 40, 40)]))
    words = [f"the model {models['nan']} returned NaN or infinite scores for 1 of 1 faces"]
    expect_raise(tmp_path, ValueError, words, lambda: recognizer.predict_faces(np.zeros((16, 16), "uint8")))
    expect_raise(tmp_path, ValueError, words, lambda: recognizer.analyze(np.zeros((48, 48, 3), "uint8")))


def test_explanations_need_a_keras_model(tmp_path):
    recognizer = Recognizer(BRIGHTNESS, detector=BoxDetector([(0, 0, 16, 16)]))
    expect_raise(
        tmp_path, ValueError, ["Explanations need a .keras model; None is not one."], lambda: recognizer.explain(np.zeros((32, 32, 3), "uint8"))
    )


# ---------------------------------------------------------------- model files


MODEL_FILE_CASES = [
    pytest.param(lambda t: t / "missing.keras", ["not a keras-fer model file: {tmp}/missing.keras (it does not exist)"], id="missing"),
    pytest.param(
        lambda t: write(t / "m.keras" / "config.json", "{}").parent, ["{tmp}/m.keras (it is a folder; a .keras model is one file)"], id="folder"
    ),
    pytest.param(lambda t: write(t / "m.keras", b""), ["{tmp}/m.keras (the file is empty)"], id="empty"),
    pytest.param(lambda t: write(t / "m.keras", "hello"), ["{tmp}/m.keras (not a .keras archive: truncated, or another format)"], id="text"),
    pytest.param(lambda t: keras_zip(t / "m.keras", model_weights_h5="x"), ["{tmp}/m.keras (the archive has no config.json)"], id="no-config"),
    pytest.param(lambda t: keras_zip(t / "m.keras", config_json="{not json"), ["{tmp}/m.keras (JSONDecodeError:"], id="config-not-json"),
    pytest.param(
        lambda t: keras_zip(t / "m.keras", config_json='{"class_name": "Nope", "config": {}, "module": "x"}', metadata_json="{}"),
        ["{tmp}/m.keras (TypeError: Could not locate class 'Nope'"],
        id="unknown-class",
    ),
]


@pytest.mark.parametrize("make, words", MODEL_FILE_CASES)
def test_model_files_that_are_not_keras_models(tmp_path, make, words):
    path = make(tmp_path)
    expect_raise(tmp_path, ValueError, ["not a keras-fer model file:", *words], lambda: load_model_file(path))


def test_a_truncated_model_file(tmp_path, models):
    data = models["tiny"].read_bytes()
    for name, size in (("half.keras", len(data) // 2), ("most.keras", len(data) - 100)):
        path = write(tmp_path / name, data[:size])
        expect_raise(
            tmp_path,
            ValueError,
            [f"not a keras-fer model file: {path} (not a .keras archive: truncated, or another format)"],
            lambda path=path: load_model_file(path),
        )


@pytest.mark.parametrize(
    "make, words",
    [
        pytest.param(
            lambda t, m: t / "missing.keras", ["Model {tmp}/missing.keras does not exist (shipped models: ['fer2013', 'ferplus'])."], id="missing"
        ),
        pytest.param(
            lambda t, m: write(t / "m.onnx", "x"),
            ["{tmp}/m.onnx is not a model keras-fer can read: expected .keras, .tflite or a SavedModel folder"],
            id="onnx",
        ),
        pytest.param(lambda t, m: write(t / "m.keras", b""), ["not a keras-fer model file: {tmp}/m.keras (the file is empty)"], id="empty-keras"),
        pytest.param(lambda t, m: write(t / "m.tflite", b"garbage" * 8), ["{tmp}/m.tflite is not a TFLite model"], id="garbage-tflite"),
        pytest.param(
            lambda t, m: write(t / "sm" / "x.txt", "x").parent, ["{tmp}/sm is a folder without saved_model.pb: not a SavedModel"], id="folder"
        ),
        pytest.param(
            lambda t, m: write(t / "sm" / "saved_model.pb", b"junk").parent,
            ["not a keras-fer model file: {tmp}/sm (a SavedModel that does not load:"],
            id="corrupt-savedmodel",
        ),
        pytest.param(
            lambda t, m: model_copy(t, m, labels=""), ["{tmp}/model/labels.txt: 0 class names for a model with 7 outputs"], id="empty-labels"
        ),
        pytest.param(
            lambda t, m: model_copy(t, m, labels="\n".join("abcdefgh")),
            ["labels.txt: 8 class names for a model with 7 outputs"],
            id="too-many-labels",
        ),
        pytest.param(lambda t, m: model_copy(t, m, labels=LATIN1), ["{tmp}/model/labels.txt: not UTF-8 text (byte 0xe9)"], id="latin1-labels"),
        pytest.param(
            lambda t, m: model_copy(t, m, labels="a\nb\nc\nd\nb\nc\ne\n"),
            ["{tmp}/model/labels.txt: the class name 'b' is on more than one line; expected a different name for each output"],
            id="duplicated-labels",
        ),
    ],
)
def test_classifier_files_that_cannot_be_read(tmp_path, models, make, words):
    path = make(tmp_path, models)
    expect_raise(tmp_path, ValueError, words, lambda: load_classifier(path))
    expect_raise(tmp_path, ValueError, words, lambda: Recognizer.from_file(path, detector=BoxDetector([])))


def test_labels_saved_with_a_byte_order_mark_are_read_without_it(tmp_path, models):
    names = ["calm", "glad", "sad", "cross", "shy", "awed", "bored"]
    path = model_copy(tmp_path, models, labels="\n".join(names).encode("utf-8-sig"))  # as Notepad saves UTF-8
    assert load_classifier(path).class_names == tuple(names)


def test_the_command_takes_the_thread_limit_of_litert():
    from keras_fer.cli import _THREADS_LIMIT
    from keras_fer.export.litert import THREADS_LIMIT

    assert _THREADS_LIMIT == THREADS_LIMIT == 256  # one limit for every runtime's --threads, the CLI's copy without importing TensorFlow
