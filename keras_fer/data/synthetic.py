"""Procedurally drawn faces: an embedded, offline FER dataset.

Every image is a face drawn with NumPy: a head, eyes, eyebrows, a nose and a
mouth whose shapes depend on the expression (raised or knitted brows, wide or
narrowed eyes, smiling, frowning, open or one-sided mouths), under a random
pose, scale, skin tone, background, lighting gradient and pixel noise. It is
what `keras-fer train` trains on without arguments and what the tests and
notebooks use: no download, deterministic by seed.
"""

import collections

import numpy as np

from keras_fer.data.classes import EXPRESSIONS, EXPRESSIONS_WITH_CONTEMPT
from keras_fer.data.dataset import FERDataset
from keras_fer.data.label_noise import flip_class_indices
from keras_fer.validation import is_int

SyntheticFaces = collections.namedtuple("SyntheticFaces", "images labels clean_labels class_names")

# brow_raise, brow_tilt (inner ends up), eye_open, mouth_curve (smile), mouth_width, mouth_open, mouth_skew
SHAPES = {
    "angry": (-0.07, -0.15, 0.55, -0.05, 0.22, 0.00, 0.00),
    "disgust": (-0.04, -0.04, 0.45, -0.12, 0.28, 0.00, 0.16),
    "fear": (0.09, 0.13, 1.40, -0.06, 0.38, 0.07, 0.00),
    "happy": (0.00, 0.00, 0.80, 0.22, 0.36, 0.00, 0.00),
    "sad": (0.00, 0.15, 0.75, -0.20, 0.26, 0.00, 0.00),
    "surprise": (0.14, 0.00, 1.55, 0.00, 0.16, 0.18, 0.00),
    "neutral": (0.00, 0.00, 1.00, 0.00, 0.26, 0.00, 0.00),
    "contempt": (0.00, 0.00, 0.90, 0.03, 0.26, 0.00, -0.16),
}
SPLITS = ("train", "val")
JITTER = (0.015, 0.02, 0.1, 0.025, 0.025, 0.015, 0.015)
CHUNK = 512


def make_faces(
    samples_per_class=200,
    image_size=48,
    channels=1,
    label_noise=0.0,
    class_names=EXPRESSIONS,
    seed=0,
):
    """Draws a shuffled set of synthetic expression faces.

    Args:
        samples_per_class: int (the same for every class) or a sequence with
            one count per class, e.g. FER2013-like imbalance.
        image_size: side of the square images, at least 16 pixels.
        channels: 1 (grayscale) or 3 (RGB).
        label_noise: fraction in `[0, 1)` of labels flipped to another class.
        class_names: the classes to draw, a subset of
            `keras_fer.data.classes.EXPRESSIONS_WITH_CONTEMPT`, in label order.
        seed: int, the same seed gives the same images and labels.

    Returns:
        `SyntheticFaces(images, labels, clean_labels, class_names)`: uint8
        images `(n, image_size, image_size, channels)`, int32 labels after the
        flips, int32 labels before them, and the class names.

    Example:

    >>> faces = make_faces(samples_per_class=[4, 1, 4, 4, 4, 4, 4], image_size=32)
    >>> faces.images.shape, np.bincount(faces.labels).tolist()
    ((25, 32, 32, 1), [4, 1, 4, 4, 4, 4, 4])
    """
    counts = _validated_counts(samples_per_class, class_names)
    _validate(image_size, channels, label_noise, seed)
    rng = np.random.default_rng(seed)
    clean_labels = rng.permutation(np.repeat(np.arange(len(counts)), counts)).astype("int32")
    shapes = np.array([SHAPES[name] for name in class_names], "float32")[clean_labels]
    shapes += rng.normal(size=shapes.shape).astype("float32") * np.array(JITTER, "float32")
    chunks = [_draw(shapes[start : start + CHUNK], image_size, channels, rng) for start in range(0, len(clean_labels), CHUNK)]
    images = np.concatenate(chunks) if chunks else np.zeros((0, image_size, image_size, channels), "uint8")
    labels, _ = flip_class_indices(clean_labels, len(counts), label_noise, rng)
    return SyntheticFaces(images, labels, clean_labels, tuple(class_names))


def load_synthetic(samples_per_class=200, image_size=48, channels=1, label_noise=0.0, seed=0):
    """`make_faces` as a `keras_fer.data.FERDataset`, like the file loaders.

    Example:

    >>> dataset = load_synthetic(samples_per_class=3, image_size=32)
    >>> dataset.num_examples, dataset.class_counts
    (21, [3, 3, 3, 3, 3, 3, 3])
    """
    faces = make_faces(samples_per_class, image_size, channels, label_noise, seed=seed)
    sources = tuple(f"synthetic:{seed}:{index}" for index in range(len(faces.labels)))
    return FERDataset(faces.images, faces.labels, faces.class_names, sources)


def load_synthetic_split(
    split,
    image_size=(48, 48),
    channels=1,
    seed=0,
    train_samples_per_class=200,
    validation_samples_per_class=40,
    label_noise=0.0,
):
    """The training (`split="train"`) or validation (`split="val"`) faces of a synthetic dataset.

    Training faces are drawn with `seed` and may carry `label_noise`;
    validation faces are drawn with `seed + 1` and are clean, so the two
    splits never share a face. What a config's `data.dataset: synthetic`
    loads (`keras_fer.data.registry`).

    Example:

    >>> load_synthetic_split("val", (32, 32), validation_samples_per_class=2).num_examples
    14
    """
    if split not in SPLITS:
        raise ValueError(f"`split` of the synthetic faces must be one of {SPLITS}. Received: split={split!r}")
    if image_size[0] != image_size[1]:
        raise ValueError(f"Synthetic faces are square. Received: image_size={tuple(image_size)}")
    if split == "train":
        return load_synthetic(train_samples_per_class, image_size[0], channels, label_noise, seed=seed)
    return load_synthetic(validation_samples_per_class, image_size[0], channels, seed=seed + 1)


def _draw(shapes, size, channels, rng):
    n = len(shapes)
    brow_raise, brow_tilt, eye_open, curve, mouth_width, mouth_open, skew = (shapes[:, i, None, None] for i in range(7))
    u, v, pixel = _face_coordinates(n, size, rng)
    edge = 1.5 * pixel
    head = _inside(1.0 - np.hypot(u / 0.7, v / 0.9), edge)
    features = np.zeros_like(u)
    for side in (-1.0, 1.0):
        eye_height = 0.06 * np.maximum(eye_open, 0.2)
        features = np.maximum(features, _inside(1.0 - np.hypot((u - 0.28 * side) / 0.12, (v + 0.12) / eye_height), edge))
        inner = (0.10 * side, -0.30 - brow_raise - brow_tilt)
        outer = (0.42 * side, -0.33 - brow_raise + 0.3 * brow_tilt)
        features = np.maximum(features, _inside(0.045 - _segment_distance(u, v, inner, outer), edge))
    features = np.maximum(features, 0.5 * _inside(0.02 - _segment_distance(u, v, (0.0, -0.02), (0.0, 0.2)), edge))
    features = np.maximum(features, _mouth(u, v, curve, np.maximum(mouth_width, 0.08), mouth_open, skew, edge))
    return _shade(head, features * head, n, channels, rng)


def _face_coordinates(n, size, rng):
    """Grid coordinates in each face's frame, after a random pose and scale."""
    grid = (np.arange(size, dtype="float32") + 0.5) / size * 2.0 - 1.0
    y, x = grid[None, :, None], grid[None, None, :]
    center_x, center_y = (rng.uniform(-0.1, 0.1, (n, 1, 1)).astype("float32") for _ in range(2))
    scale = rng.uniform(0.78, 1.0, (n, 1, 1)).astype("float32")
    angle = np.radians(rng.uniform(-12, 12, (n, 1, 1))).astype("float32")
    cos, sin = np.cos(angle), np.sin(angle)
    u = (cos * (x - center_x) + sin * (y - center_y)) / scale
    v = (-sin * (x - center_x) + cos * (y - center_y)) / scale
    return u, v, 2.0 / (size * scale)


def _mouth(u, v, curve, width, opening, skew, edge):
    along = u / width
    line_v = 0.45 - curve * along**2 + skew * along
    line = _inside(0.045 - np.abs(v - line_v), edge) * _inside(1.0 - np.abs(along), edge / width)
    open_mouth = _inside(1.0 - np.hypot(u / (0.8 * width), (v - 0.45) / np.maximum(opening, 1e-3)), edge)
    return np.maximum(line, np.where(opening > 0.02, open_mouth, 0.0))


def _segment_distance(u, v, start, end):
    (u0, v0), (u1, v1) = start, end
    du, dv = u1 - u0, v1 - v0
    t = np.clip(((u - u0) * du + (v - v0) * dv) / (du * du + dv * dv), 0.0, 1.0)
    return np.hypot(u - (u0 + t * du), v - (v0 + t * dv))


def _inside(signed_distance, edge):
    """Soft mask: 1 inside (distance > 0), 0 outside, anti-aliased edge."""
    return np.clip(0.5 + signed_distance / edge, 0.0, 1.0)


def _shade(head, features, n, channels, rng):
    def uniform(low, high, shape=(n, 1, 1, 1)):
        return rng.uniform(low, high, shape).astype("float32")

    tone = np.array([1.0, 0.82, 0.70], "float32") if channels == 3 else np.ones(1, "float32")
    skin = uniform(0.55, 0.85) * tone
    background = uniform(0.05, 0.5, (n, 1, 1, channels))
    head, features = head[..., None], features[..., None]
    image = background * (1 - head) + skin * head
    image = image * (1 - features) + 0.25 * skin * features
    size = head.shape[1]
    ramp = np.linspace(-1, 1, size, dtype="float32")
    lighting = 1.0 + uniform(-0.3, 0.3) * ramp[None, :, None, None] + uniform(-0.3, 0.3) * ramp[None, None, :, None]
    image = image * lighting + rng.normal(size=image.shape).astype("float32") * uniform(0.01, 0.04)
    return np.clip(image * 255.0 + 0.5, 0, 255).astype("uint8")


def _validated_counts(samples_per_class, class_names):
    unknown = [name for name in class_names if name not in EXPRESSIONS_WITH_CONTEMPT]
    if unknown or len(set(class_names)) != len(class_names) or not class_names:
        raise ValueError(f"`class_names` must be distinct names from {EXPRESSIONS_WITH_CONTEMPT}. Received: class_names={class_names!r}")
    counts = [samples_per_class] * len(class_names) if np.ndim(samples_per_class) == 0 else list(samples_per_class)
    valid = all(is_int(c, minimum=0, numpy=True) for c in counts)
    if not valid or len(counts) != len(class_names):
        raise ValueError(
            "`samples_per_class` must be a non-negative integer or one per "
            f"class ({len(class_names)}). Received: samples_per_class={samples_per_class!r}"
        )
    return counts


def _validate(image_size, channels, label_noise, seed):
    if not isinstance(image_size, (int, np.integer)) or image_size < 16:
        raise ValueError(f"`image_size` must be an integer >= 16. Received: image_size={image_size!r}")
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3. Received: channels={channels!r}")
    if not isinstance(label_noise, (int, float)) or not 0 <= label_noise < 1:
        raise ValueError(f"`label_noise` must be in [0, 1). Received: label_noise={label_noise!r}")
    if not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an integer. Received: seed={seed!r}")
