"""Prepared datasets: `prepare` writes ArrayRecord shards that stream back the loaders' pixels and labels."""

import dataclasses

import keras
import numpy as np
import pytest
from PIL import Image

from keras_fer.data import EXPRESSIONS, DataError, load_affectnet, load_ferplus, load_image_folder, load_split
from keras_fer.data import prepared as prepared_module
from keras_fer.data.prepared import MANIFEST_FILE, PROGRESS_FILE, PreparedDataset, load_prepared, prepare, read_manifest
from keras_fer.training import load_config, train
from keras_fer.training.splits import load_splits
from tests.test_ferplus import write_ferplus
from tests.test_rafdb_affectnet import write_affectnet
from tests.testing import WITHOUT_TENSORFLOW, run_on_jax
from tests.testing_data import FER2013, needs_fer2013


def write_folders(root, per_class=(3, 1, 2, 2, 2, 2, 2), size=(60, 50), mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        for name, count in zip(EXPRESSIONS, per_class):
            (root / split / name).mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (*size, 3), dtype="uint8")
                Image.fromarray(pixels).convert(mode).save(root / split / name / f"{index}.png")
    return root


def folder_data(root, **overrides):
    settings = ["data.dataset=folder", f"data.path={root}", "data.options={}", *(f"data.{k}={v}" for k, v in overrides.items())]
    return load_config("synthetic", settings).data


@pytest.mark.parametrize("image_size,channels,encoding", [((48, 48), 1, "raw"), ((72, 64), 3, "png")])
def test_shards_hold_the_loaders_pixels_labels_and_sources(tmp_path, image_size, channels, encoding):
    faces = write_folders(tmp_path / "faces")
    manifest = prepare(folder_data(faces), tmp_path / "prepared", image_size, channels, shard_size=4)
    assert manifest["encoding"] == encoding  # "auto": raw up to 64x64x3, PNG above
    assert manifest["image_size"] == list(image_size) and manifest["channels"] == channels
    for split in ("train", "val"):
        expected = load_image_folder(faces / split, EXPRESSIONS, image_size, channels)
        dataset = load_prepared(tmp_path / "prepared", split)
        assert isinstance(dataset, PreparedDataset) and dataset.images.shape == expected.images.shape
        np.testing.assert_array_equal(dataset.images[:], expected.images)
        np.testing.assert_array_equal(dataset.labels, expected.labels)
        assert dataset.sources == expected.sources and dataset.class_names == EXPRESSIONS
        assert manifest["splits"][split]["class_counts"] == expected.class_counts == dataset.class_counts
        assert [shard["records"] for shard in manifest["splits"][split]["shards"]] == [4, 4, 4, 2]
    # Indexing reads single images, lists and slices like an array.
    np.testing.assert_array_equal(dataset.images[5], expected.images[5])
    np.testing.assert_array_equal(dataset.images[[13, 0, 4]], expected.images[[13, 0, 4]])
    np.testing.assert_array_equal(np.stack(list(dataset.images)), expected.images)


def test_manifest_records_what_a_reader_needs(tmp_path):
    faces = write_folders(tmp_path / "faces")
    data = folder_data(faces)
    manifest = prepare(data, tmp_path / "prepared", (48, 48), 1)
    assert read_manifest(tmp_path / "prepared") == manifest
    assert manifest["format"] == "keras-fer-prepared" and manifest["format_version"] == 1
    assert manifest["class_names"] == list(EXPRESSIONS) and manifest["keras_fer_version"]
    assert manifest["source"]["dataset"] == "folder" and manifest["source"]["path"] == str(faces)
    shard = manifest["splits"]["train"]["shards"][0]
    assert shard["file"] == "shard-00000-of-00001.array_record" and len(shard["sha256"]) == 64
    assert shard["bytes"] == (tmp_path / "prepared" / "0-train" / shard["file"]).stat().st_size
    # Nothing but the shards, labels, sources and the manifest is left behind.
    names = sorted(str(path.relative_to(tmp_path / "prepared")) for path in (tmp_path / "prepared").rglob("*"))
    assert names == [
        "0-train",
        "0-train/labels.npy",
        "0-train/shard-00000-of-00001.array_record",
        "0-train/sources.json",
        "1-val",
        "1-val/labels.npy",
        "1-val/shard-00000-of-00001.array_record",
        "1-val/sources.json",
        "manifest.json",
    ]


def test_affectnet_crops_and_skips_as_its_loader_does(tmp_path):
    csv_path, images = write_affectnet(tmp_path / "affectnet")
    (images / "3" / "image3.jpg").write_bytes(b"not a jpeg")
    data = load_config("synthetic", ["data.dataset=affectnet", f"data.path={images}", "data.options={}", "data.on_error=skip"]).data
    manifest = prepare(data, tmp_path / "prepared", (32, 32), 3, splits=[str(csv_path)])
    expected = load_affectnet(csv_path, images, image_size=(32, 32), on_error="skip")
    dataset = load_prepared(tmp_path / "prepared", str(csv_path))
    np.testing.assert_array_equal(dataset.images[:], expected.images)
    np.testing.assert_array_equal(dataset.labels, expected.labels)
    assert dataset.skipped == expected.skipped and len(expected.skipped) == 2  # the "uncertain" row and the bad image
    assert manifest["splits"][str(csv_path)]["folder"] == "0-training"


def test_ferplus_probabilities_and_the_fer2013_csv_round_trip(tmp_path):
    write_ferplus(tmp_path / "ferplus")
    data = load_config("synthetic", ["data.dataset=ferplus", f"data.path={tmp_path / 'ferplus'}", "data.options={label_mode: probability}"]).data
    prepare(data, tmp_path / "prepared", (48, 48), 1, splits=["Training"])
    expected = load_ferplus(tmp_path / "ferplus", "Training", label_mode="probability")
    dataset = load_prepared(tmp_path / "prepared", "Training")
    assert dataset.labels.dtype == expected.labels.dtype and dataset.labels.ndim == 2
    np.testing.assert_array_equal(dataset.labels, expected.labels)
    np.testing.assert_array_equal(dataset.images[:], expected.images)

    rows = [f"{label},{' '.join(str((i * (label + 1)) % 256) for i in range(2304))},Training" for label in range(7)]
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    data = load_config("synthetic", ["data.dataset=fer2013", f"data.path={tmp_path / 'fer2013.csv'}", "data.options={}"]).data
    prepare(data, tmp_path / "csv", (48, 48), 1, splits=["Training"])
    expected = load_split("fer2013", tmp_path / "fer2013.csv", "Training")
    dataset = load_prepared(tmp_path / "csv", "Training")
    np.testing.assert_array_equal(dataset.images[:], expected.images)
    assert dataset.sources == expected.sources == tuple(f"fer2013.csv:{line}" for line in range(2, 9))


def test_a_bad_image_names_its_file_and_leaves_no_manifest(tmp_path):
    faces = write_folders(tmp_path / "faces")
    (faces / "train" / "sad" / "0.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match="sad/0.png"):
        prepare(folder_data(faces), tmp_path / "prepared", (48, 48), 1, shard_size=4)
    assert not (tmp_path / "prepared" / MANIFEST_FILE).exists()
    with pytest.raises(ValueError, match="its preparation did not finish"):
        load_prepared(tmp_path / "prepared", "train")
    manifest = prepare(folder_data(faces, on_error="skip"), tmp_path / "skipped", (48, 48), 1, shard_size=4)
    skipped = manifest["splits"]["train"]["skipped"]
    assert len(skipped) == 1 and skipped[0][0].endswith("sad/0.png") and manifest["splits"]["train"]["examples"] == 13


def test_a_killed_prepare_resumes_and_keeps_finished_shards(tmp_path, monkeypatch):
    faces = write_folders(tmp_path / "faces")
    data, output = folder_data(faces), tmp_path / "prepared"
    write_shard, written = prepared_module._write_shard, []

    def dies_at_the_third_shard(records, path, *arguments):
        if len(written) == 2:
            path.with_name(f".{path.stem}.123.tmp{path.suffix}").write_bytes(b"half a shard")  # what a kill leaves
            raise KeyboardInterrupt
        written.append(path.name)
        return write_shard(records, path, *arguments)

    monkeypatch.setattr(prepared_module, "_write_shard", dies_at_the_third_shard)
    with pytest.raises(KeyboardInterrupt):
        prepare(data, output, (48, 48), 1, shard_size=4, workers=1)
    assert not (output / MANIFEST_FILE).exists() and (output / PROGRESS_FILE).exists()
    finished = {path.name: path.stat().st_mtime_ns for path in (output / "0-train").glob("shard-*.array_record")}
    assert sorted(finished) == sorted(written)

    monkeypatch.setattr(prepared_module, "_write_shard", write_shard)
    manifest = prepare(data, output, (48, 48), 1, shard_size=4, workers=1)
    assert {name: (output / "0-train" / name).stat().st_mtime_ns for name in finished} == finished  # not written again
    assert not list(output.rglob("*.tmp*")) and not (output / PROGRESS_FILE).exists()
    np.testing.assert_array_equal(load_prepared(output, "train").images[:], load_image_folder(faces / "train", EXPRESSIONS).images)
    assert manifest["splits"]["train"]["examples"] == 14


def test_prepare_never_overwrites_other_files_or_settings(tmp_path):
    faces = write_folders(tmp_path / "faces")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="is not empty and holds no keras-fer preparation"):
        prepare(folder_data(faces), tmp_path / "mine", (48, 48), 1)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        prepare(folder_data(faces), tmp_path / "file", (48, 48), 1)
    first = prepare(folder_data(faces), tmp_path / "prepared", (48, 48), 1)
    assert prepare(folder_data(faces), tmp_path / "prepared", (48, 48), 1) == first  # done: nothing to do
    with pytest.raises(ValueError, match=r"prepared with other settings \(channels: 1 there, 3 now"):
        prepare(folder_data(faces), tmp_path / "prepared", (48, 48), 3)
    with pytest.raises(ValueError, match="`encoding` must be one of"):
        prepare(folder_data(faces), tmp_path / "other", (48, 48), 1, encoding="jpeg")


@pytest.mark.parametrize(
    "name,text,problem",
    [
        (MANIFEST_FILE, "garbage", "not a keras-fer manifest (Expecting value: line 1 column 1 (char 0))"),
        (MANIFEST_FILE, "[1, 2]", "not a keras-fer manifest; expected format 'keras-fer-prepared'"),
        (MANIFEST_FILE, '{"fingerprint": 1}', "not a keras-fer manifest; expected format 'keras-fer-prepared'"),
        (PROGRESS_FILE, "[1]", "not a keras-fer prepare state; expected the settings of an unfinished `keras-fer prepare`"),
        (
            PROGRESS_FILE,
            '{"fin',
            "not a keras-fer prepare state (Unterminated string starting at: line 1 column 2 (char 1)); choose another folder or delete it",
        ),
    ],
)
def test_a_foreign_manifest_or_prepare_state_is_named_and_left_alone(tmp_path, name, text, problem):
    (tmp_path / "prepared").mkdir()
    (tmp_path / "prepared" / name).write_text(text)
    with pytest.raises(DataError) as error:
        prepare(folder_data(write_folders(tmp_path / "faces")), tmp_path / "prepared", (48, 48), 1)
    assert str(error.value) == f"{tmp_path / 'prepared' / name}: {problem}"
    assert [path.name for path in (tmp_path / "prepared").iterdir()] == [name] and (tmp_path / "prepared" / name).read_text() == text


def test_corrupt_or_missing_shards_are_named(tmp_path):
    prepare(folder_data(write_folders(tmp_path / "faces")), tmp_path / "prepared", (48, 48), 1, shard_size=4)
    shard = tmp_path / "prepared" / "0-train" / "shard-00001-of-00004.array_record"
    data = bytearray(shard.read_bytes())
    data[len(data) // 3] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"{shard}: shard's SHA-256 differs from the manifest's"):
        load_prepared(tmp_path / "prepared", "train")
    shard.write_bytes(bytes(data[:-10]))
    with pytest.raises(DataError, match=f"{shard}: shard of {len(data) - 10} bytes; the manifest says {len(data)}"):
        load_prepared(tmp_path / "prepared", "train", verify=False)
    shard.unlink()
    with pytest.raises(DataError, match=f"{shard}: shard missing"):
        load_prepared(tmp_path / "prepared", "train")
    with pytest.raises(ValueError, match=r"holds no split 'test'. Prepared splits: \['train', 'val'\]"):
        load_prepared(tmp_path / "prepared", "test")
    (tmp_path / "prepared" / MANIFEST_FILE).write_text('{"format": "something else"}')
    with pytest.raises(DataError, match="manifest.json: not a keras-fer manifest"):
        load_prepared(tmp_path / "prepared", "val")
    with pytest.raises(ValueError, match="has no manifest.json; expected a folder written by `keras-fer prepare`"):
        load_prepared(tmp_path, "val")


def test_batches_stream_every_image_once_per_pass_in_a_new_order(tmp_path):
    faces = write_folders(tmp_path / "faces", per_class=(6, 5, 5, 5, 5, 5, 5))
    prepare(folder_data(faces), tmp_path / "prepared", (48, 48), 1, shard_size=8)
    dataset, expected = load_prepared(tmp_path / "prepared", "train"), load_image_folder(faces / "train", EXPRESSIONS)
    in_order = [(np.asarray(images), np.asarray(labels)) for images, labels in dataset.batches(16)]
    assert [len(labels) for _, labels in in_order] == [16, 16, 4]
    np.testing.assert_array_equal(np.concatenate([images for images, _ in in_order]), expected.images.astype("float32"))
    batches = dataset.batches(8, shuffle=True, seed=3, drop_remainder=True)
    assert len(batches) == 4  # 36 // 8
    key = {image.tobytes(): index for index, image in enumerate(expected.images.astype("float32"))}
    orders = []
    for _ in range(2):
        order = []
        for images, labels in batches:
            indices = [key[image.tobytes()] for image in np.asarray(images)]
            np.testing.assert_array_equal(np.asarray(labels), expected.labels[indices])  # labels travel with their images
            order += indices
        assert len(set(order)) == 32
        orders.append(order)
    assert orders[0] != orders[1]


def test_training_and_evaluation_stream_from_a_prepared_folder(tmp_path):
    faces = write_folders(tmp_path / "faces", per_class=(6, 3, 5, 5, 5, 5, 5))
    config = load_config("synthetic", ["data.dataset=folder", f"data.path={faces}", "data.options={}"])
    prepare(config.data, tmp_path / "prepared", (32, 32), 1)
    settings = [
        f"data.prepared={tmp_path / 'prepared'}",
        "data.dataset=folder",
        "data.label_noise=0.25",
        "model.input_shape=[32,32,1]",
        "training.epochs=2",
        "training.batch_size=8",
        "training.jit_compile=false",
        f"output.path={tmp_path / 'run'}",
    ]
    config = load_config("synthetic", settings)
    run_dir, report = train(config, verbose=0)
    assert report["data"]["prepared"] == str(tmp_path / "prepared") and report["num_examples"] == 34
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 3
    # The report equals one on the in-memory validation images.
    model = keras.models.load_model(run_dir / "model.keras")
    streamed, in_memory = load_prepared(tmp_path / "prepared", "val"), load_image_folder(faces / "val", EXPRESSIONS, (32, 32))
    np.testing.assert_allclose(model.predict(streamed.batches(8), verbose=0), model.predict(in_memory.images, verbose=0), atol=1e-5)
    # Class counts for the loss and the flipped labels come from the manifest's labels.
    train_split, _ = load_splits(**dataclasses.asdict(config.data), image_size=(32, 32), channels=1)
    assert sum(train_split.class_counts) == 34 and (train_split.labels != load_prepared(tmp_path / "prepared", "train").labels).sum() == 8
    with pytest.raises(ValueError, match="holds 32x32x1 images; the model takes 48x48x1: prepare the data again"):
        load_splits(dataset="folder", prepared=str(tmp_path / "prepared"), image_size=(48, 48), channels=1)
    with pytest.raises(ValueError, match="was prepared from dataset 'folder', but data.dataset is 'fer2013': set data.dataset=folder"):
        train(load_config("fer2013", [*settings[:1], *settings[2:-1], f"output.path={tmp_path / 'other'}"]), verbose=0)  # recorded FER2013
    assert not (tmp_path / "other").exists()


ON_JAX = (
    WITHOUT_TENSORFLOW
    + """
import json, sys
import keras, numpy as np
assert keras.backend.backend() == "jax"
from keras_fer.data.augment import augmentation
from keras_fer.data.prepared import load_prepared
dataset = load_prepared(sys.argv[1], "train")
plain = np.concatenate([np.asarray(images) for images, _ in dataset.batches(8)])
augmented = [np.asarray(images) for images, _ in dataset.batches(8, shuffle=True, seed=1, augmentation=augmentation(seed=0), drop_remainder=True)]
labels = np.concatenate([np.asarray(labels) for _, labels in dataset.batches(8, shuffle=True, seed=1, drop_remainder=True)])
print(json.dumps({"same": bool((plain == dataset.images[:]).all()), "batches": len(augmented), "float": str(augmented[0].dtype),
                  "labels": np.bincount(labels, minlength=7).tolist(), "tensorflow": "tensorflow" in sys.modules}))
"""
)


def test_batches_on_jax_without_tensorflow(tmp_path):
    faces = write_folders(tmp_path / "faces", per_class=(6, 5, 5, 5, 5, 5, 5))
    prepare(folder_data(faces), tmp_path / "prepared", (48, 48), 1, shard_size=8)
    outcome = run_on_jax(ON_JAX, [tmp_path / "prepared"], cwd=tmp_path, timeout=300)
    assert outcome == {"same": True, "batches": 4, "float": "float32", "labels": outcome["labels"], "tensorflow": False}
    assert sum(outcome["labels"]) == 32 and all(count <= expected for count, expected in zip(outcome["labels"], (6, 5, 5, 5, 5, 5, 5)))


def test_prepare_command(tmp_path, capsys):
    from keras_fer.cli import main

    faces = write_folders(tmp_path / "faces")
    (tmp_path / "data.yaml").write_text(f"data: {{dataset: folder, path: {faces}, options: {{}}}}\nmodel: {{input_shape: [40, 40, 3]}}\n")
    assert main(["prepare", str(tmp_path / "data.yaml"), "--output", str(tmp_path / "prepared"), "--shard-size", "5"]) == 0
    out = capsys.readouterr().out
    assert "train: 14 images in 3 shards" in out and f"Train with --set data.prepared={tmp_path / 'prepared'}" in out
    manifest = read_manifest(tmp_path / "prepared")
    assert manifest["image_size"] == [40, 40] and manifest["channels"] == 3  # the model's input
    assert main(["prepare", str(tmp_path / "data.yaml"), "--output", str(faces)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"keras-fer prepare: error: --output {faces} is not empty and holds no keras-fer preparation; choose a new or empty folder."
    )
    assert main(["prepare", str(tmp_path / "data.yaml"), "--output", str(tmp_path / "other"), "--split", "test"]) == 2
    assert f"{faces / 'test'}" in capsys.readouterr().err and not (tmp_path / "other").exists()
    assert main(["prepare", "synthetic", "--set", f"data.prepared={tmp_path / 'prepared'}", "--output", str(tmp_path / "again")]) == 2
    assert "the config already reads a prepared dataset" in capsys.readouterr().err
    (tmp_path / "prepared" / MANIFEST_FILE).write_text("garbage")
    assert main(["prepare", str(tmp_path / "data.yaml"), "--output", str(tmp_path / "prepared")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"keras-fer prepare: error: {tmp_path / 'prepared' / MANIFEST_FILE}: not a keras-fer manifest (Expecting value: line 1 column 1 (char 0))"
    )


@needs_fer2013
def test_real_fer2013_validation_split(tmp_path):
    data = load_config("synthetic", ["data.dataset=fer2013", f"data.path={FER2013}", "data.options={}"]).data
    manifest = prepare(data, tmp_path / "prepared", (48, 48), 1, splits=["val"])
    expected = load_split("fer2013", FER2013, "val")
    dataset = load_prepared(tmp_path / "prepared", "val")
    assert manifest["splits"]["val"]["class_counts"] == expected.class_counts and dataset.num_examples == expected.num_examples > 3000
    np.testing.assert_array_equal(dataset.images[:], expected.images)
    assert dataset.sources == expected.sources


def test_streamed_blocks_are_about_4_mib_and_stay_inside_a_shard(tmp_path):
    from keras_fer.data.prepared import block_size, blocks

    assert [block_size(shape) for shape in ((48, 48, 1), (96, 96, 3), (224, 224, 3), (2000, 2000, 3))] == [1024, 128, 16, 16]
    starts, lengths = blocks(np.array([0, 8, 16, 20]), 6)
    assert starts.tolist() == [0, 6, 8, 14, 16] and lengths.tolist() == [6, 2, 6, 2, 4]
    faces = write_folders(tmp_path / "faces", per_class=(3, 3, 3, 3, 3, 3, 3))
    prepare(folder_data(faces), tmp_path / "prepared", (48, 48), 1, shard_size=8)
    images = load_prepared(tmp_path / "prepared", "train").images
    np.testing.assert_array_equal(images.read_range(8, 13), images[8:13])
    with pytest.raises(IndexError, match=r"records 6\.\.10 cross the end of .*shard-00000"):
        images.read_range(6, 10)
