"""Prepared datasets: a config's splits decoded once into ArrayRecord shards, streamed back in batches.

`prepare` runs a `data` section's loader once, decodes and validates every
image (the loader's own parsing and `on_error` policy), resizes it to the
model's input and writes it into shards of ArrayRecord files beside a
`manifest.json`. `load_prepared` opens one split as a `PreparedDataset`, a
`FERDataset` whose images stay on disk: `batches()` streams them (a
shuffle of the whole split's record indices, parallel batched reads,
prefetch) with `tf.data` on TensorFlow and a `keras.utils.PyDataset` on
the other backends, so training memory does not grow with the dataset.

ArrayRecord, not TFRecord: it reads without TensorFlow (the JAX backend on a
machine that has only JAX reads the same shards), and its random access
lets the whole split be shuffled by index rather than through a buffer of
decoded images.
"""

import concurrent.futures
import dataclasses
import datetime
import hashlib
import json
import os
import threading
from pathlib import Path

import keras
import numpy as np

from keras_fer.data.dataset import FERDataset, RecordList, _compiled, batch_part, check_tensorflow_batches, class_counts, listing_records
from keras_fer.data.images import DataError, check_image_format
from keras_fer.files import atomic_path, atomic_write, file_sha256, remove_temporaries
from keras_fer.version import __version__

FORMAT = "keras-fer-prepared"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
PROGRESS_FILE = "prepare.json"
LABELS_FILE = "labels.npy"
SOURCES_FILE = "sources.json"
ENCODINGS = ("auto", "raw", "png")
SHARD_SUFFIX = ".array_record"
# Images of at most this many bytes are stored as raw pixels (48x48 gray: 2,304), larger ones as PNG.
RAW_BYTES_LIMIT = 64 * 64 * 3
SHARD_BYTES = 64 * 2**20  # raw pixels per shard, before PNG compression
MIN_SHARD_RECORDS, MAX_SHARD_RECORDS = 256, 8192
CHUNK = 256  # records decoded at a time when a `PreparedDataset`'s images are read in order
SHUFFLE_BLOCKS = 16  # blocks of records a streamed training pass shuffles together on TensorFlow


def prepare(
    data: "keras_fer.training.config.DataConfig",  # noqa: F821 (a later layer: named, not imported)
    output: str | Path,
    image_size: tuple[int, int] = (48, 48),
    channels: int = 1,
    splits: list[str] | None = None,
    encoding: str = "auto",
    shard_size: int | None = None,
    workers: int | None = None,
    seed: int = 0,
    verbose: bool = False,
) -> dict:
    """Decodes the splits of a config's `data` section once into ArrayRecord shards and a manifest.

    Each split is listed by its dataset's loader (`keras_fer.data.registry`)
    without decoding, then decoded shard by shard on `workers` threads with
    the loader's reader, its checks and its `on_error` policy; a failed
    record raises a `DataError` naming it or, with `on_error: skip`, is
    listed in the manifest's `skipped`. FER2013's CSV and the synthetic
    faces, which hold their pixels in one file, are loaded whole first.

    Resumable: a shard is written to a temporary file and renamed when
    complete, and `manifest.json` is written last, so a killed `prepare`
    leaves no manifest that names a half-written shard; run again with the
    same arguments, it keeps the finished shards and writes the rest. The
    same call on a finished preparation returns its manifest; other
    arguments on a folder prepared (or being prepared) with different ones,
    or a folder holding anything else, are a `ValueError`: nothing of the
    user's is overwritten.

    Args:
        data: a config's `data` section (`keras_fer.training.config.DataConfig`).
        output: the folder to write; created if missing.
        image_size: `(height, width)` of the stored images: the model's input.
        channels: 1 or 3.
        splits: the split names to prepare; default the section's
            `train_split` and `validation_split`.
        encoding: `"raw"` pixels, `"png"` (lossless, for large images) or
            `"auto"`: raw up to 64x64x3 pixels, PNG above.
        shard_size: records per shard; default about 64 MB of raw pixels
            (between 256 and 8192 records).
        workers: threads decoding shards; default one per CPU core.
        seed: seed of the synthetic faces.
        verbose: print a line per finished split.

    Returns:
        The manifest dict.

    Example:

    ```python
    from keras_fer.training import load_config

    data = load_config("affectnet", ["data.path=Manually_Annotated_Images"]).data
    manifest = prepare(data, "prepared/affectnet", image_size=(224, 224), channels=3)
    manifest["splits"]["training.csv"]["class_counts"]
    # [24882, 3803, 6378, 134415, 25459, 14090, 74874, 3750]: angry, disgust, ..., neutral, contempt
    ```
    """
    from keras_fer.data.registry import load_split

    check_image_format(image_size, channels)
    image_size = tuple(int(n) for n in image_size)
    if encoding not in ENCODINGS:
        raise ValueError(f"`encoding` must be one of {ENCODINGS}. Received: encoding={encoding!r}")
    raw_bytes = image_size[0] * image_size[1] * channels
    encoding = ("raw" if raw_bytes <= RAW_BYTES_LIMIT else "png") if encoding == "auto" else encoding
    shard_size = shard_size or int(np.clip(SHARD_BYTES // raw_bytes, MIN_SHARD_RECORDS, MAX_SHARD_RECORDS))
    if not isinstance(shard_size, int) or shard_size < 1:
        raise ValueError(f"`shard_size` must be a positive integer. Received: shard_size={shard_size!r}")
    workers = workers or os.cpu_count()
    splits = list(dict.fromkeys(splits or (data.train_split, data.validation_split)))
    output = Path(output)
    existing = _check_output(output)

    listed = {}
    for split in splits:
        with listing_records():
            listed[split] = _records(load_split(data.dataset, data.path, split, data.on_error, data.options, image_size, channels, seed))
    class_names = {tuple(records.class_names) for records in listed.values()}
    if len(class_names) != 1:
        raise ValueError(f"The splits {splits} have different class names: {sorted(class_names)}")
    source = {key: value for key, value in dataclasses.asdict(data).items() if key not in ("prepared", "label_noise", "label_noise_seed")}
    fingerprint = {
        "source": source,
        "image_size": list(image_size),
        "channels": channels,
        "encoding": encoding,
        "shard_size": shard_size,
        "seed": seed,
        "splits": {split: {"records": len(records), "sources": _digest("\n".join(map(str, records.sources)))} for split, records in listed.items()},
    }
    finished = _start(output, fingerprint, *existing)
    if finished is not None:
        return finished

    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "keras_fer_version": __version__,
        "class_names": list(next(iter(class_names))),
        "image_size": list(image_size),
        "channels": channels,
        "encoding": encoding,
        "source": source,
        "fingerprint": fingerprint,
        "splits": {},
    }
    for index, (split, records) in enumerate(listed.items()):
        folder = f"{index}-{_folder_name(split)}"
        manifest["splits"][split] = _prepare_split(
            records, output / folder, folder, image_size, channels, encoding, shard_size, workers, data.on_error
        )
        if verbose:
            entry = manifest["splits"][split]
            size = sum(shard["bytes"] for shard in entry["shards"])
            print(
                f"{split}: {entry['examples']} images in {len(entry['shards'])} shards, {size / 2**20:.1f} MiB, {len(entry['skipped'])} skipped",
                flush=True,
            )
    manifest["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    with atomic_write(output / MANIFEST_FILE) as file:  # last: a folder with a manifest is complete
        json.dump(manifest, file, indent=1)
    for sidecar in output.glob(f"*/*{SHARD_SUFFIX}.json"):
        sidecar.unlink()
    (output / PROGRESS_FILE).unlink(missing_ok=True)
    return manifest


def _records(loaded):
    """A loader's `RecordList`, or the records of a `FERDataset` it decoded whole (FER2013's CSV, synthetic faces)."""
    if isinstance(loaded, RecordList):
        return loaded
    return _DecodedRecords(loaded.images, loaded.labels, loaded.sources or tuple(range(loaded.num_examples)), loaded.class_names, loaded.skipped)


@dataclasses.dataclass(frozen=True)
class _DecodedRecords:
    """`RecordList`'s members for images already decoded at the prepared size."""

    images: np.ndarray
    labels: np.ndarray
    sources: tuple
    class_names: tuple
    skipped: tuple

    def __len__(self):
        return len(self.images)

    def read(self, index, image_size, channels):
        return self.images[index]


def _check_output(output):
    """The manifest and the unfinished preparation's settings in `output` (`None` when absent); a `ValueError` for anything else."""
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output} is a file; expected a folder to prepare the dataset in.")
    manifest_path, progress_path = output / MANIFEST_FILE, output / PROGRESS_FILE
    if output.is_dir() and any(output.iterdir()) and not (progress_path.is_file() or manifest_path.is_file()):
        raise ValueError(f"--output {output} is not empty and holds no keras-fer preparation; choose a new or empty folder.")
    if manifest_path.is_file():
        return read_manifest(output), None
    return None, (_read_progress(progress_path) if progress_path.is_file() else None)


def _read_progress(path):
    """The settings an unfinished `prepare` recorded in `path`, or a `DataError` saying it holds none."""
    try:
        started = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(path, f"not a keras-fer prepare state ({error}); choose another folder or delete it") from None
    if not isinstance(started, dict) or not {"source", "splits"} <= set(started):
        raise DataError(path, "not a keras-fer prepare state; expected the settings of an unfinished `keras-fer prepare`")
    return started


def _start(output, fingerprint, manifest, started):
    """Returns the finished identical `manifest`; else checks or records `fingerprint` and returns `None`."""
    if manifest is not None:
        if manifest.get("fingerprint") != fingerprint:
            raise ValueError(
                f"--output {output} holds a dataset prepared with other settings ({_difference(manifest.get('fingerprint'), fingerprint)}); "
                "choose another folder or delete it."
            )
        return manifest
    if started is not None and started != fingerprint:
        raise ValueError(
            f"--output {output} holds an unfinished preparation with other settings ({_difference(started, fingerprint)}); "
            "run it with its own settings to finish it, or choose another folder."
        )
    if started is None:
        output.mkdir(parents=True, exist_ok=True)
        with atomic_write(output / PROGRESS_FILE) as file:
            json.dump(fingerprint, file, indent=1)
    for folder in [output, *(path for path in output.iterdir() if path.is_dir())]:
        remove_temporaries(folder)
    return None


def _difference(old, new):
    old, new = (value if isinstance(value, dict) else {} for value in (old, new))
    keys = [key for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]
    return ", ".join(f"{key}: {old.get(key)!r} there, {new.get(key)!r} now" for key in keys[:2]) or "unknown"


def _prepare_split(records, folder, name, image_size, channels, encoding, shard_size, workers, on_error):
    folder.mkdir(exist_ok=True)
    count = max(1, -(-len(records) // shard_size))
    names = [f"shard-{k:05d}-of-{count:05d}{SHARD_SUFFIX}" for k in range(count)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(
                _write_shard,
                records,
                folder / names[k],
                range(k * shard_size, min((k + 1) * shard_size, len(records))),
                image_size,
                channels,
                encoding,
                on_error,
            )
            for k in range(count)
        ]
        shards = [future.result() for future in futures]  # the first failure, in shard order, is raised
    kept = [index for shard in shards for index in shard.pop("kept")]
    skipped = [list(record) for record in records.skipped] + [record for shard in shards for record in shard.pop("skipped")]
    labels = np.asarray(records.labels)[kept]
    with atomic_path(folder / LABELS_FILE) as temporary:
        np.save(temporary, labels)
    with atomic_write(folder / SOURCES_FILE) as file:
        json.dump([str(records.sources[index]) for index in kept], file)
    return {
        "folder": name,
        "examples": len(kept),
        "class_counts": class_counts(labels, len(records.class_names)),
        "labels": "probabilities" if labels.ndim == 2 else "indices",
        "skipped": skipped,
        "shards": [{"file": names[k], **shard} for k, shard in enumerate(shards)],
    }


def _write_shard(records, path, indices, image_size, channels, encoding, on_error):
    """Writes one shard unless a complete one is there; returns what its sidecar records."""
    sidecar = path.with_name(path.name + ".json")
    if sidecar.is_file() and path.is_file():
        done = json.loads(sidecar.read_text())
        if done["bytes"] == path.stat().st_size:
            return done
    from array_record.python.array_record_module import ArrayRecordWriter

    kept, skipped, payloads = [], [], []
    for index in indices:
        image = records.read(index, image_size, channels)
        if isinstance(image, DataError):
            if on_error == "raise":
                raise image
            skipped.append([image.source, image.problem])
            continue
        payloads.append(encode_image(image, encoding))
        kept.append(index)
    with atomic_path(path) as temporary:
        writer = ArrayRecordWriter(str(temporary), "group_size:1,uncompressed")
        for payload in payloads:
            writer.write(payload)
        writer.close()
    done = {"records": len(kept), "bytes": path.stat().st_size, "sha256": file_sha256(path), "kept": kept, "skipped": skipped}
    with atomic_write(sidecar) as file:
        json.dump(done, file)
    return done


def encode_image(image, encoding):
    """The bytes a shard stores for a uint8 image `(height, width, channels)`."""
    if encoding == "raw":
        return np.ascontiguousarray(image).tobytes()
    import cv2

    # Channels are stored in the order given and read back in that order: no colour conversion either way.
    ok, buffer = cv2.imencode(".png", image[..., 0] if image.shape[-1] == 1 else image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError(f"PNG encoding failed for an image of shape {image.shape}")
    return buffer.tobytes()


def decode_image(payload, shape, encoding, where):
    """The uint8 image `shape` from a shard's bytes; a `DataError` naming `where` when they do not hold one."""
    if encoding == "raw":
        if len(payload) != int(np.prod(shape)):
            raise DataError(
                where, f"holds {len(payload)} bytes; expected {int(np.prod(shape))} raw pixels {shape}: the shard is corrupt, prepare again"
            )
        return np.frombuffer(payload, "uint8").reshape(shape)
    import cv2

    image = cv2.imdecode(np.frombuffer(payload, "uint8"), cv2.IMREAD_UNCHANGED)
    if image is None or image.shape[:2] != tuple(shape[:2]):
        raise DataError(where, f"is not a PNG image of {shape[1]}x{shape[0]} pixels: the shard is corrupt, prepare again")
    return image.reshape(shape)


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()


def _folder_name(split):
    name = Path(str(split)).stem
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "split"


def read_manifest(directory):
    """The manifest of a prepared dataset, or a `ValueError` saying why `directory` is not one."""
    directory = Path(directory)
    path = directory / MANIFEST_FILE
    if not path.is_file():
        unfinished = " (its preparation did not finish: run `keras-fer prepare` again)" if (directory / PROGRESS_FILE).is_file() else ""
        raise ValueError(f"data.prepared: {directory} has no {MANIFEST_FILE}{unfinished}; expected a folder written by `keras-fer prepare`.")
    try:
        manifest = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(path, f"not a keras-fer manifest ({error})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(path, f"not a keras-fer manifest; expected format {FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise DataError(path, f"format version {manifest.get('format_version')} is not {FORMAT_VERSION}: prepare it again with this keras-fer")
    return manifest


def load_prepared(directory: str | Path, split: str, verify: bool = True) -> "PreparedDataset":
    """One split of a prepared dataset, its images left in the shards.

    Args:
        directory: a folder written by `prepare` / `keras-fer prepare`.
        split: a split name it holds (`manifest["splits"]`).
        verify: check every shard's SHA-256 against the manifest (about
            a second per GB on this machine's CPU), not only its size.

    Returns:
        A `PreparedDataset`.

    Example:

    ```python
    train = load_prepared("prepared/affectnet", "training.csv")
    train.num_examples, train.images.shape[1:]      # images stay in the shards
    # (287651, (224, 224, 3))
    batches = train.batches(64, shuffle=True, seed=0, drop_remainder=True)
    ```

    Raises:
        ValueError: `directory` is not a prepared dataset or lacks `split`.
        DataError: a shard is missing, of another size or checksum than the
            manifest says, naming it.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    if split not in manifest["splits"]:
        raise ValueError(f"data.prepared: {directory} holds no split {split!r}. Prepared splits: {sorted(manifest['splits'])}")
    entry = manifest["splits"][split]
    folder = directory / entry["folder"]
    shards = [folder / shard["file"] for shard in entry["shards"]]
    for shard, path in zip(entry["shards"], shards):
        if not path.is_file():
            raise DataError(path, "shard missing; expected the file the manifest lists: prepare the dataset again")
        if path.stat().st_size != shard["bytes"]:
            raise DataError(
                path, f"shard of {path.stat().st_size} bytes; the manifest says {shard['bytes']}: it is corrupt or cut short, prepare again"
            )
    if verify:
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            for shard, path, digest in zip(entry["shards"], shards, pool.map(file_sha256, shards)):
                if digest != shard["sha256"]:
                    raise DataError(path, "shard's SHA-256 differs from the manifest's: it is corrupt or was changed, prepare the dataset again")
    try:
        labels = np.load(folder / LABELS_FILE, allow_pickle=False)
        sources = tuple(json.loads((folder / SOURCES_FILE).read_text()))
    except (OSError, ValueError) as error:
        raise DataError(folder, f"labels or sources unreadable ({error}): prepare the dataset again") from None
    counts = [shard["records"] for shard in entry["shards"]]
    if len(labels) != sum(counts) or len(sources) != sum(counts):
        raise DataError(folder, f"{len(labels)} labels and {len(sources)} sources for {sum(counts)} records: prepare the dataset again")
    shape = (*manifest["image_size"], manifest["channels"])
    images = RecordImages(tuple(str(path) for path in shards), tuple(counts), shape, manifest["encoding"])
    return PreparedDataset(images, labels, tuple(manifest["class_names"]), sources, tuple(tuple(record) for record in entry["skipped"]))


class RecordImages:
    """The images of a prepared split, read from its shards on demand: `len`, `shape`, indexing and iteration like a uint8 array."""

    dtype = np.dtype("uint8")
    ndim = 4

    def __init__(self, shards, counts, image_shape, encoding):
        self.shards, self.counts, self.image_shape, self.encoding = shards, counts, tuple(image_shape), encoding
        self.shape = (sum(counts), *self.image_shape)
        self.offsets = np.cumsum((0, *counts))
        self._readers, self._lock = None, threading.Lock()

    def __len__(self):
        return self.shape[0]

    def __getstate__(self):
        return {**self.__dict__, "_readers": None, "_lock": None}

    def __setstate__(self, state):
        self.__dict__.update(state, _lock=threading.Lock())

    @property
    def readers(self):
        """One `ArrayRecordReader` per shard, opened on first use."""
        with self._lock:
            if self._readers is None:
                from array_record.python.array_record_module import ArrayRecordReader

                self._readers = [ArrayRecordReader(path, "readahead_buffer_size:0") for path in self.shards]
            return self._readers

    def read(self, indices):
        """The stored bytes of the records `indices` (an int64 array), in that order: one batched read per shard.

        Reading a batch of records per shard is about twice as fast as
        Grain's `ArrayRecordDataSource` one record at a time (9 against 21
        microseconds a record), and 5 times Grain's `__getitems__`.
        """
        shards = np.searchsorted(self.offsets, indices, side="right") - 1
        payloads = [None] * len(indices)
        readers = self.readers
        for shard in np.unique(shards):
            chosen = np.flatnonzero(shards == shard)
            for position, payload in zip(chosen, readers[shard].read((indices[chosen] - self.offsets[shard]).tolist())):
                payloads[position] = payload
        return payloads

    def read_range(self, start, stop):
        """The images of records `start` to `stop` (excluded) of one shard, read in one call and decoded."""
        shard = int(np.searchsorted(self.offsets, start, side="right")) - 1
        if stop > self.offsets[shard + 1]:
            raise IndexError(f"records {start}..{stop} cross the end of {self.shards[shard]}")
        begin = start - int(self.offsets[shard])
        payloads = self.readers[shard].read(begin, begin + (stop - start))
        return self._decoded(np.arange(start, stop), payloads)

    def where(self, index):
        """`shard:record` of example `index`, for errors."""
        shard = int(np.searchsorted(self.offsets, index, side="right")) - 1
        return f"{self.shards[shard]}:record {index - self.offsets[shard]}"

    def decode(self, index, payload):
        return decode_image(payload, self.image_shape, self.encoding, self.where(index))

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            index = int(key) + (len(self) if key < 0 else 0)
            if not 0 <= index < len(self):
                raise IndexError(f"image {key} of {len(self)}")
            return self.decode(index, self.read(np.array([index]))[0])
        indices = np.arange(len(self))[key] if isinstance(key, slice) else np.asarray(key, "int64").reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"images {indices.min()}..{indices.max()} of {len(self)}")
        return self._decoded(indices, self.read(indices))

    def _decoded(self, indices, payloads):
        size = int(np.prod(self.image_shape))
        if self.encoding == "raw" and all(len(payload) == size for payload in payloads):
            return np.frombuffer(b"".join(payloads), "uint8").reshape(len(payloads), *self.image_shape)
        images = [self.decode(int(index), payload) for index, payload in zip(indices, payloads)]
        return np.stack(images) if images else np.zeros((0, *self.image_shape), "uint8")

    def __iter__(self):
        for start in range(0, len(self), CHUNK):
            yield from self[start : start + CHUNK]

    def __array__(self, dtype=None, copy=None):
        images = self[:]
        return images if dtype is None else images.astype(dtype)


@dataclasses.dataclass(frozen=True)
class PreparedDataset(FERDataset):
    """A `FERDataset` whose `images` are a `RecordImages` in ArrayRecord shards (from `load_prepared`).

    Labels, sources and class counts are in memory (a few bytes per image);
    images are read when used. `batches()` streams them, so
    `fit`, `evaluate` and `predict` take it like any `FERDataset`.
    """

    def batches(self, batch_size=64, shuffle=False, augmentation=None, seed=None, drop_remainder=False, pad_to_multiple=None, shard=None):
        """`(float32 pixels, labels)` batches streamed from the shards; see `FERDataset.batches`.

        On TensorFlow a `tf.data.Dataset` that reads blocks of consecutive
        records (`block_size()`: up to 1,024, about 4 MiB), a block in one
        read, on parallel calls; with `shuffle` the blocks come in a new
        order each pass and their records are shuffled again in a buffer of
        `SHUFFLE_BLOCKS` blocks (file-level shuffling plus a shuffle
        buffer, as `tf.data` pipelines over TFRecord files do), then
        batched and augmented. On the other backends a
        `keras.utils.PyDataset` that reads each batch's records on threads,
        a permutation of the whole split per pass, seeded by `seed`. A
        killed run resumes at an epoch boundary, reading its first pass's
        order again.
        """
        reader = _EpochReader(self.images, self.labels, batch_size, shuffle, seed, drop_remainder)
        if keras.backend.backend() != "tensorflow":
            return _StreamedBatches(reader, augmentation, pad_to_multiple, shard)
        check_tensorflow_batches(pad_to_multiple, shard)
        import tensorflow as tf

        # Scattered reads cost 27 microseconds a 48x48 record, one read of 1,024 consecutive records 4 a record:
        # per-batch scattered reads kept the stream at 0.73 of the in-memory pipeline, blocks at 0.99-1.04.
        size = block_size(self.images.image_shape)
        starts, lengths = blocks(self.images.offsets, size)
        label_type = tf.as_dtype(self.labels.dtype)
        dataset = tf.data.Dataset.from_tensor_slices((starts, lengths))
        if shuffle:
            dataset = dataset.shuffle(max(len(starts), 1), seed=seed, reshuffle_each_iteration=True)

        def read(start, length):
            images, labels = tf.numpy_function(reader.read_block, [start, length], (tf.uint8, label_type), stateful=False)
            images.set_shape((None, *self.images.image_shape))
            labels.set_shape((None, *self.labels.shape[1:]))
            return images, labels

        dataset = dataset.map(read, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
        if shuffle:
            dataset = dataset.shuffle(SHUFFLE_BLOCKS * size, seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder).apply(tf.data.experimental.assert_cardinality(len(reader)))
        dataset = dataset.map(lambda images, labels: (tf.cast(images, "float32"), labels))  # static batch shapes with drop_remainder
        if augmentation is not None:
            dataset = dataset.map(lambda images, labels: (augmentation(images, training=True), labels))
        return dataset.prefetch(tf.data.AUTOTUNE)


def block_size(image_shape, limit=4 << 20):
    """Consecutive records read at once: a power of two from 16 to 1,024, about `limit` bytes of decoded pixels."""
    return int(2 ** np.clip(np.floor(np.log2(limit / np.prod(image_shape))), 4, 10))


def blocks(offsets, size):
    """`(starts, lengths)` of blocks of up to `size` consecutive records that never cross a shard's end.

    >>> blocks(np.array([0, 5, 8]), 4)
    (array([0, 4, 5]), array([4, 1, 3]))
    """
    starts = np.concatenate([np.arange(begin, end, size) for begin, end in zip(offsets[:-1], offsets[1:])] or [np.zeros(0, "int64")])
    ends = np.minimum(starts + size, offsets[np.searchsorted(offsets, starts, side="right")])
    return starts.astype("int64"), (ends - starts).astype("int64")


class _EpochReader:
    """The batches of each pass over a prepared split, each pass in a new order (backends other than TensorFlow).

    A pass's order is a permutation of the record indices (8 bytes a record:
    2.3 MB for AffectNet's 287k faces), drawn from `seed` and the pass
    number; a batch's records are read with one read per shard and decoded
    together (raw pixels: one `frombuffer` for the batch).
    """

    def __init__(self, images, labels, batch_size, shuffle, seed, drop_remainder):
        self.images, self.labels, self.batch_size = images, labels, batch_size
        self.shuffle, self.seed = shuffle, 0 if seed is None else int(seed)
        count = len(images)
        self.count = count // batch_size if drop_remainder else -(-count // batch_size)

    def __len__(self):
        return self.count

    def read(self, indices):
        """The images and labels of the records `indices`, in that order."""
        return self.images[indices], self.labels[indices]

    def read_block(self, start, length):
        """The images and labels of `length` consecutive records from `start`, inside one shard, in one read."""
        return self.images.read_range(int(start), int(start) + int(length)), self.labels[start : start + length]

    def order(self, pass_number):
        """The record indices of pass `pass_number`, in reading order."""
        if not self.shuffle:
            return np.arange(len(self.images))
        return np.random.default_rng((self.seed, pass_number)).permutation(len(self.images))


class _StreamedBatches(keras.utils.PyDataset):
    """`PreparedDataset.batches` without TensorFlow: a `keras.utils.PyDataset` whose batches are read on threads."""

    def __init__(self, reader, augmentation, pad_to_multiple=None, shard=None):
        super().__init__(workers=max(2, os.cpu_count() or 1), use_multiprocessing=False)
        self.reader, self.pad_to_multiple, self.shard = reader, pad_to_multiple, shard
        self.pass_number, self.order = 0, reader.order(0)
        self.augment = None if augmentation is None else _compiled(augmentation, reader.images.image_shape)
        self.lock = threading.Lock()

    def __len__(self):
        return len(self.reader)

    def __getitem__(self, index):
        if not 0 <= index < len(self.reader):
            raise IndexError(f"Batch {index} of {len(self.reader)}")
        size = self.reader.batch_size
        indices, weights = batch_part(self.order[index * size : (index + 1) * size], self.pad_to_multiple, self.shard)
        images, labels = self.reader.read(indices)
        images = images.astype("float32")
        if self.augment is not None:
            with self.lock:  # the augmentation's random state advances once per batch
                images = self.augment(images)
        return (images, labels) if weights is None else (images, labels, weights)

    def on_epoch_end(self):
        self.pass_number += 1
        self.order = self.reader.order(self.pass_number)
