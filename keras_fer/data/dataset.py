"""`FERDataset`, the one return type of every keras-fer loader."""

import concurrent.futures
import contextlib
import contextvars
import csv
import dataclasses
import os
from pathlib import Path

import keras
import numpy as np

from keras_fer.data.images import DataError, read_image

ON_ERROR = ("raise", "skip")
# Set by `listing_records`: `decode_dataset` then returns the records it would decode.
_listing = contextvars.ContextVar("keras_fer_listing_records", default=False)


@dataclasses.dataclass(frozen=True)
class FERDataset:
    """Decoded images with labels, class names and what was skipped.

    Every loader returns one: images are validated and decoded when the
    dataset is loaded, so a bad file fails (or is skipped and listed) before
    training starts. `batches()` turns it into batches for `fit`.

    Attributes:
        images: uint8 array `(n, height, width, channels)`, raw pixels.
        labels: int32 class indices `(n,)`, or float32 per-class
            probabilities `(n, num_classes)` (e.g. FER+ votes).
        class_names: names of the classes, in label order.
        sources: where each example came from (file name or `file:line`).
        skipped: `(source, problem)` of each record skipped with
            `on_error="skip"`.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple
    sources: tuple = ()
    skipped: tuple = ()

    def __post_init__(self):
        if len(self.labels) != len(self.images) or (self.sources and len(self.sources) != len(self.images)):
            raise ValueError(
                f"{len(self.images)} images need as many labels and sources. Received: {len(self.labels)} labels, {len(self.sources)} sources"
            )
        num_classes = len(self.class_names)
        soft = self.labels.ndim == 2
        if soft and self.labels.shape[1] != num_classes:
            raise ValueError(f"Soft labels need {num_classes} columns. Received: {self.labels.shape[1]}")
        if not soft and len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= num_classes):
            raise ValueError(f"Labels must lie in [0, {num_classes}). Received: {self.labels.min()}..{self.labels.max()}")

    @property
    def num_examples(self):
        return len(self.images)

    @property
    def image_size(self):
        return tuple(self.images.shape[1:3])

    @property
    def channels(self):
        return self.images.shape[3]

    @property
    def class_counts(self):
        """Samples per class (summed probabilities for soft labels)."""
        return class_counts(self.labels, len(self.class_names))

    def check_model(self, model):
        """Raises a `ValueError` unless `model` outputs one score per class."""
        outputs = model.output_shape[-1]
        if outputs != len(self.class_names):
            raise ValueError(f"The model predicts {outputs} classes but the dataset has {len(self.class_names)}: {list(self.class_names)}")
        if tuple(model.input_shape[1:]) != (*self.image_size, self.channels):
            raise ValueError(f"The model takes {model.input_shape[1:]} images but the dataset has {(*self.image_size, self.channels)}")

    def batches(self, batch_size=64, shuffle=False, augmentation=None, seed=None, drop_remainder=False, pad_to_multiple=None, shard=None):
        """`(float32 pixels in [0, 255], labels)` batches for `fit`, `predict` and `evaluate`.

        A `tf.data.Dataset` on the TensorFlow backend; on the others (JAX,
        PyTorch), which need no TensorFlow, a `keras.utils.PyDataset` that
        slices the arrays and applies `augmentation` batch by batch
        (compiled once with `jax.jit` on JAX).

        Args:
            batch_size: examples per batch.
            shuffle: reshuffle the examples every epoch (for training).
            augmentation: optional layer applied with `training=True` to
                each batch, e.g. `keras_fer.data.augment.augmentation()`;
                pass it for the training split only.
            seed: optional int seed of the shuffle.
            drop_remainder: leave out the last, smaller batch of each pass
                (for training: with `jit_compile`, every batch shape is
                compiled separately, so a last partial batch costs two more
                XLA compilations of the train step; reshuffling puts the
                left-out examples back into later epochs).
            pad_to_multiple: on backends other than TensorFlow, pad the
                last batch to a multiple of this many examples, with
                sample weights `(images, labels, weights)` that are 0 for
                the padding and 1 elsewhere: data parallelism on JAX
                (`keras.distribution.DataParallel`) needs batches that
                divide by its number of devices.
            shard: on backends other than TensorFlow, `(index, count)`:
                this process is one of `count` training together (JAX
                across hosts) and its batches are its part of each global
                batch of `batch_size` (`batch_part`).
        """
        if keras.backend.backend() != "tensorflow":
            return _Batches(self, batch_size, shuffle, augmentation, seed, drop_remainder, pad_to_multiple, shard)
        check_tensorflow_batches(pad_to_multiple, shard)
        import tensorflow as tf

        dataset = tf.data.Dataset.from_tensor_slices((self.images, self.labels))
        if shuffle:
            dataset = dataset.shuffle(max(self.num_examples, 1), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
        dataset = dataset.map(lambda images, labels: (tf.cast(images, "float32"), labels))
        if augmentation is not None:
            dataset = dataset.map(lambda images, labels: (augmentation(images, training=True), labels))
        return dataset.prefetch(tf.data.AUTOTUNE)


def class_counts(labels, num_classes):
    """Samples per class of class indices `(n,)`, or the summed probabilities of rows `(n, num_classes)`."""
    if labels.ndim == 2:
        return [float(c) for c in labels.sum(axis=0)]
    return np.bincount(labels, minlength=num_classes).tolist()


def check_tensorflow_batches(pad_to_multiple, shard):
    """Raises a `ValueError` for `batches` arguments that only backends other than TensorFlow take."""
    if (pad_to_multiple and pad_to_multiple > 1) or shard:
        raise ValueError("`pad_to_multiple` and `shard` are for backends other than TensorFlow, whose strategies split batches themselves.")


class _Batches(keras.utils.PyDataset):
    """`FERDataset.batches` without TensorFlow: slices of the arrays, reshuffled after each epoch."""

    def __init__(self, dataset, batch_size, shuffle, augmentation, seed, drop_remainder, pad_to_multiple=None, shard=None):
        super().__init__()
        self.pad_to_multiple, self.shard = pad_to_multiple, shard
        self.images, self.labels = dataset.images, dataset.labels
        self.batch_size, self.shuffle = batch_size, shuffle
        self.augment = None if augmentation is None else _compiled(augmentation, dataset.images.shape[1:])
        self.rng = np.random.default_rng(seed)
        count = dataset.num_examples
        self.order = self.rng.permutation(count) if shuffle else np.arange(count)
        self.count = count // batch_size if drop_remainder else -(-count // batch_size)

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        if not 0 <= index < self.count:
            raise IndexError(f"Batch {index} of {self.count}")
        chosen, weights = batch_part(self.order[index * self.batch_size : (index + 1) * self.batch_size], self.pad_to_multiple, self.shard)
        images = self.images[chosen].astype("float32")
        if self.augment is not None:
            images = self.augment(images)
        return (images, self.labels[chosen]) if weights is None else (images, self.labels[chosen], weights)

    def on_epoch_end(self):
        if self.shuffle:
            self.order = self.rng.permutation(len(self.order))


def batch_part(indices, pad_to_multiple=None, shard=None):
    """The examples of one batch this process reads, and their weights (`None` when all weigh 1 and none are padding).

    With `pad_to_multiple`, `indices` is padded to a multiple of it by
    repeating its first example with weight 0. With `shard=(index, count)`
    (one of `count` processes training together), this process takes every
    `count`-th example from `index` on: its part of the global batch.

    Example:

    >>> indices, weights = batch_part(np.array([7, 3, 9, 1, 5]), pad_to_multiple=4, shard=(1, 2))
    >>> indices.tolist(), weights.tolist()
    ([3, 1, 7, 7], [1.0, 1.0, 0.0, 0.0])
    """
    weights = None
    if pad_to_multiple:
        missing = -len(indices) % pad_to_multiple
        weights = np.concatenate([np.ones(len(indices), "float32"), np.zeros(missing, "float32")])
        indices = np.concatenate([indices, np.repeat(indices[:1], missing)])
    if shard:
        index, count = shard
        indices = indices[index::count]
        weights = None if weights is None else weights[index::count]
    return indices, weights


def _compiled(augmentation, image_shape):
    """`augmentation(images, training=True)`, compiled once on JAX, where op by op it ran at a third of the speed."""
    if keras.backend.backend() != "jax":
        return lambda images: augmentation(images, training=True)
    import jax

    if not augmentation.built:
        augmentation.build((None, *image_shape))
    step = jax.jit(lambda trainable, state, images: augmentation.stateless_call(trainable, state, images, training=True))
    trainable = [variable.value for variable in augmentation.trainable_variables]
    state = [variable.value for variable in augmentation.non_trainable_variables]

    def augment(images):
        nonlocal state
        images, state = step(trainable, state, images)
        return images

    return augment


class ErrorPolicy:
    """Raises on the first bad record, or collects them with `on_error="skip"`."""

    def __init__(self, on_error):
        if on_error not in ON_ERROR:
            raise ValueError(f"`on_error` must be one of {ON_ERROR}. Received: on_error={on_error!r}")
        self.on_error = on_error
        self.skipped = []

    def handle(self, error):
        if self.on_error == "raise":
            raise error
        self.skipped.append((error.source, error.problem))

    def leave_out(self, source, reason):
        """Lists a record the dataset's own rules exclude, whatever `on_error`."""
        self.skipped.append((source, reason))


class ListedOnce:
    """Each image of a label file once: an exact repeat is read once, a repeat with another label is an error.

    `is_new(name, label, source)` is `True` the first time `name` is listed.
    A later line giving it the same `label` (a description such as
    `"label 4"`) is left out and listed in `policy.skipped`, whatever
    `on_error`; one giving another label is a `DataError` naming that line
    and the first (or skipped with `on_error="skip"`, the first kept).
    """

    def __init__(self, policy):
        self.policy = policy
        self.first = {}

    def is_new(self, name, label, source):
        if name not in self.first:
            self.first[name] = (source, label)
            return True
        first_source, first_label = self.first[name]
        if label == first_label:
            self.policy.leave_out(source, f"{name} repeats {first_source}; read once")
        else:
            self.policy.handle(DataError(source, f"{name} is listed twice with different labels ({first_source}: {first_label}; here: {label})"))
        return False


def csv_records(path, header):
    """Yields `(source, row)` for each row of a CSV whose header is `header`.

    `source` is `"<file name>:<line>"`. A different header is a `DataError`
    naming line 1; so is a file that is not UTF-8 text, naming its first
    such line (see `csv_rows`).
    """
    rows = csv_rows(path, path.name)
    found = [field.strip() for field in next(rows, (1, []))[1]]
    if found != list(header):
        raise DataError(f"{path.name}:1", f"header must be {','.join(header)}. Received: {found}")
    for line, row in rows:
        yield f"{path.name}:{line}", row


def csv_rows(path, name):
    """Yields `(line number, row)` of a UTF-8 CSV file (a byte-order mark is dropped).

    A byte that is not UTF-8 (a Latin-1 export, say) or a line the CSV
    reader cannot parse (a NUL byte) is a `DataError` naming `name:<line>`,
    never a `UnicodeDecodeError`: a file in another encoding is refused as
    a whole, not skipped line by line.
    """
    with open(path, encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file)
        try:
            for row in reader:
                yield reader.line_num, row
        except UnicodeDecodeError:
            raise not_utf8(path, name) from None
        except csv.Error as error:
            raise DataError(f"{name}:{reader.line_num}", f"not a readable CSV line ({error})") from None


def read_text(path, name=None):
    """The text of a UTF-8 file, or a `DataError` naming the first line that is not UTF-8."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise not_utf8(path, name or str(path)) from None


def not_utf8(path, name):
    """The `DataError` of a file that is not UTF-8: `name:<line>`, the byte and its column."""
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                byte = line[error.start]
                return DataError(
                    f"{name}:{number}",
                    f"byte 0x{byte:02x} at column {error.start + 1} is not UTF-8; expected a UTF-8 text file (save it as UTF-8)",
                )
    return DataError(name, "not UTF-8 text; expected a UTF-8 text file (save it as UTF-8)")


def decode_dataset(paths, labels, sources, class_names, image_size, channels, policy, crop_boxes=None):
    """Decodes image files into the `FERDataset` of those that decoded.

    Args:
        paths: image files (or `(name, bytes)`), one per example.
        labels: NumPy labels, one per example.
        sources: where each example came from, one per example.
        class_names: the dataset's class names.
        image_size, channels: the images' target size and channel count.
        policy: the `ErrorPolicy` that raises on bad files or lists them
            with the records left out.
        crop_boxes: optional face box per example.
    """
    if _listing.get():
        return RecordList(list(paths), np.asarray(labels), list(sources), tuple(class_names), tuple(policy.skipped), crop_boxes)
    images, kept = read_images(paths, tuple(image_size), channels, policy, crop_boxes)
    return FERDataset(
        images=images,
        labels=labels[kept],
        class_names=tuple(class_names),
        sources=tuple(sources[i] for i in kept),
        skipped=tuple(policy.skipped),
    )


@dataclasses.dataclass(frozen=True)
class RecordList:
    """The image files a loader lists for one split, before any is decoded.

    What `decode_dataset` returns inside `listing_records()`, so that
    `keras_fer.data.prepare` decodes a split file by file with the loader's
    own parsing, rather than all at once into memory.

    Attributes:
        files: image paths (or `(name, bytes)`), one per record.
        labels: NumPy labels, one per record.
        sources: where each record came from.
        class_names: the dataset's class names.
        skipped: `(source, problem)` of the records the listing skipped or left out.
        crop_boxes: optional face box per record.
    """

    files: list
    labels: np.ndarray
    sources: list
    class_names: tuple
    skipped: tuple = ()
    crop_boxes: list = None

    def __len__(self):
        return len(self.files)

    def read(self, index, image_size, channels):
        """The decoded image of record `index`, or the `DataError` that names why it cannot be read."""
        try:
            return read_image(self.files[index], image_size, channels, self.crop_boxes[index] if self.crop_boxes else None)
        except DataError as error:
            return error


@contextlib.contextmanager
def listing_records():
    """Within the block, file-based loaders return a `RecordList` instead of decoding their images."""
    token = _listing.set(True)
    try:
        yield
    finally:
        _listing.reset(token)


def read_images(sources, image_size, channels, policy, crop_boxes=None):
    """Decodes files in parallel; returns the uint8 stack and kept indices."""

    def read(index):
        try:
            return read_image(sources[index], image_size, channels, crop_boxes[index] if crop_boxes else None)
        except DataError as error:
            return error

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        results = list(pool.map(read, range(len(sources))))
    kept = []
    for index, result in enumerate(results):
        if isinstance(result, DataError):
            policy.handle(result)
        else:
            kept.append(index)
    images = [results[index] for index in kept]
    empty = np.zeros((0, *image_size, channels), "uint8")
    return (np.stack(images) if images else empty), kept
