"""MediaPipe's BlazeFace face detectors, run with LiteRT: boxes, scores and six landmarks.

The `.tflite` files ship in `keras_fer/assets/` (origin, version, checksum
and licence in `keras_fer/NOTICE`). Anchors, decoding and weighted
non-maximum suppression follow MediaPipe's `face_detection_short_range` and
`face_detection_full_range` graphs.
"""

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from keras_fer.export.litert import MAX_THREADS, resolve_threads  # noqa: F401  MAX_THREADS was defined here
from keras_fer.inference.faces import Detection, check_min_score, iou
from keras_fer.validation import is_number


@dataclass(frozen=True)
class BlazeFaceModel:
    file: str
    input_size: int
    strides: tuple
    anchors_per_stride: tuple
    min_score: float

    @property
    def path(self) -> Path:
        return Path(str(resources.files("keras_fer") / "assets" / self.file))


BLAZEFACE_MODELS = {
    "short": BlazeFaceModel("face_detection_short_range.tflite", 128, (8, 16), (2, 6), 0.5),
    "full": BlazeFaceModel("face_detection_full_range.tflite", 192, (4,), (1,), 0.6),
}
SUPPRESSION_IOU = 0.3
TILED_MIN_SCORE = 0.7
SMALLEST_FACE = 0.2  # of a window's side: below it the short-range model misses most faces (benchmarks/face_detection.py)


class BlazeFaceDetector:
    """Faces with MediaPipe's BlazeFace: box, score and six landmarks each.

    `range="short"` is MediaPipe's model for faces that fill a good part of
    its window (at least about a fifth of its side; 128x128 input);
    `range="full"` is its model for smaller faces (192x192 input). With
    `min_size`, the short-range model also looks at overlapping tiles, ever
    smaller by sqrt(2), until faces of `min_size` pixels fill a fifth of a
    tile, and the detections of all windows are merged. On FER2013 faces
    pasted into 640x480 scenes (`benchmarks/face_detection.py`, table in
    `benchmarks/README.md`) tiles find three times the faces the whole
    image does.

    Args:
        range: `"short"` or `"full"`.
        min_score: smallest detection score kept, in `[0, 1]`; `None` for
            MediaPipe's threshold of the model (0.5 short, 0.6 full) on the
            whole image, 0.7 with tiles (more windows, more false alarms).
        min_size: smallest face side in pixels to look for with tiles;
            `None`: the whole image only, one inference.
        num_threads: LiteRT interpreter threads; `None` for the machine's
            cores, at most `keras_fer.export.litert.MAX_THREADS` (two threads halve a 640x480
            photo's detection on a 2-core machine: 82 -> 51 ms).

    Example:

    >>> import numpy as np
    >>> BlazeFaceDetector(min_size=32).detect(np.zeros((240, 320, 3), "uint8"))
    []
    """

    def __init__(self, range: str = "short", min_score: float | None = None, min_size: float | None = None, num_threads: int | None = None) -> None:
        if range not in BLAZEFACE_MODELS:
            raise ValueError(f"`range` must be one of {sorted(BLAZEFACE_MODELS)}. Received: range={range!r}")
        self.model = BLAZEFACE_MODELS[range]
        self.range = range
        if min_size is not None and not is_number(min_size, 1, None):
            raise ValueError(f"`min_size` must be None or a number of pixels >= 1. Received: min_size={min_size!r}")
        if min_score is None:
            min_score = self.model.min_score if min_size is None else TILED_MIN_SCORE
        self.min_score = check_min_score(min_score)
        self.min_size = min_size
        from ai_edge_litert.interpreter import Interpreter

        self.num_threads = resolve_threads(num_threads)
        self.interpreter = Interpreter(model_path=str(self.model.path), num_threads=self.num_threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.outputs = sorted((detail["shape"][-1], detail["index"]) for detail in self.interpreter.get_output_details())
        self.anchors = anchor_centers(self.model.input_size, self.model.strides, self.model.anchors_per_stride)

    def detect(self, image) -> list:
        """The faces of an RGB or gray uint8 image, as `Detection`s in its pixel coordinates."""
        image = np.asarray(image)
        found = [self._window(tensor, origin, window, image.shape[:2]) for tensor, origin, window in self._inputs(image)]
        boxes, landmarks, scores = (np.concatenate(values) for values in zip(*found))
        window = np.concatenate([np.full(len(window_scores), number) for number, (*_, window_scores) in enumerate(found)])
        return [
            Detection.from_corners(corners, score, points, image.shape[:2])
            for corners, points, score, members in weighted_suppression(boxes, landmarks, scores, SUPPRESSION_IOU)
            if supported(window[members])
        ]

    def _inputs(self, image):
        """`(tensor, origin, window)` for each window of `windows`: the model's input, and where its `(0, 0)` lies in the image.

        The whole image is letterboxed; the tiles of each smaller level are
        cut from one resized copy of the image (one resize per level, not
        per tile: at 640x480 that saves 15 of the 100 ms).
        """
        size = self.model.input_size
        levels = {}
        for window in windows(image.shape[:2], self.min_size):
            levels.setdefault(window[2], []).append(window)
        for number, (side, level) in enumerate(levels.items()):
            if number == 0:  # the whole image
                tensor, _ = letterbox(image, size)
                yield tensor, (0.0, 0.0), level[0]
                continue
            scale = size / side
            resized = model_pixels(image, int(np.ceil(image.shape[1] * scale)), int(np.ceil(image.shape[0] * scale)))
            for left, top, _ in level:
                x, y = int(round(left * scale)), int(round(top * scale))
                tile = np.full((1, size, size, 3), -1.0, "float32")  # black, as letterbox pads
                cut = resized[y : y + size, x : x + size]
                tile[0, : cut.shape[0], : cut.shape[1]] = cut
                yield tile, (x / scale, y / scale), (left, top, side)

    def _window(self, tensor, origin, window, shape):
        """Boxes, landmarks and scores found in one window, in image pixels, without those cut by its inner edges."""
        self.interpreter.set_tensor(self.input, tensor)
        self.interpreter.invoke()
        (_, score_index), (_, regression_index) = self.outputs
        logits = self.interpreter.get_tensor(score_index)[0, :, 0]
        regressions = self.interpreter.get_tensor(regression_index)[0]
        boxes, landmarks, scores = decode(regressions, logits, self.anchors, self.model.input_size, self.min_score)
        left, top, side = window
        boxes, landmarks = boxes * side + [*origin, *origin], landmarks * side + origin
        height, width = shape
        cut = np.zeros(len(boxes), bool)
        for edge, axis, inner in ((left, 0, left > 0), (top, 1, top > 0)):
            cut |= inner & (boxes[:, axis] <= edge + 1)
        for edge, axis, inner in ((left + side, 2, left + side < width), (top + side, 3, top + side < height)):
            cut |= inner & (boxes[:, axis] >= edge - 1)
        return boxes[~cut], landmarks[~cut], scores[~cut]


def windows(shape, min_size):
    """Square windows `(left, top, side)`: the whole image, then overlapping tiles ever smaller by sqrt(2).

    Tiles shrink while the smallest face the previous level finds
    (`SMALLEST_FACE` of its side) is larger than `min_size`; neighbours
    overlap by half a tile. `min_size=None`: the whole image only.
    """
    height, width = shape
    side = max(height, width)
    found = [(0, 0, side)]
    while min_size is not None and side * SMALLEST_FACE > min_size:
        side = int(round(side / np.sqrt(2)))
        found += [(left, top, side) for top in _starts(height, side) for left in _starts(width, side)]
    return found


def _starts(length, side):
    if length <= side:
        return [0]
    count = int(np.ceil((length - side) / (side / 2))) + 1
    return [int(round(start)) for start in np.linspace(0, length - side, count)]


def supported(windows):
    """Whether a face's detections come from the whole image (window 0) or from at least two tiles.

    A face is seen by every tile it fits in, and tiles overlap by half, so
    one found by a single tile alone is a texture more often than a face.
    """
    return bool(windows.size) and (windows.min() == 0 or len(np.unique(windows)) >= 2)


def letterbox(image, size):
    """The image as a `(1, size, size, 3)` float tensor in `[-1, 1]`, padded below and right to a square.

    Returns the tensor and the side of the square in image pixels, which
    maps the model's `[0, 1]` coordinates back to the image's.
    """
    image = np.asarray(image)
    height, width = image.shape[:2]
    side = max(height, width)
    square = np.zeros((side, side, *image.shape[2:]), "uint8")
    square[:height, :width] = image
    return model_pixels(square, size, size)[None], side


def model_pixels(image, width, height):
    """An RGB or gray uint8 image resized to `(height, width, 3)` floats in `[-1, 1]`, as BlazeFace takes them."""
    import cv2

    image = np.asarray(image)
    image = image[..., None] if image.ndim == 2 else image
    rgb = np.repeat(image[..., :1], 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]
    shrinking = width < rgb.shape[1] or height < rgb.shape[0]
    resized = cv2.resize(np.ascontiguousarray(rgb), (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return resized.astype("float32") / 127.5 - 1.0


def anchor_centers(input_size, strides, anchors_per_stride):
    """MediaPipe's SSD anchor centres `(n, 2)` in `[0, 1]`: row by row, each cell's anchors together."""
    centers = []
    for stride, count in zip(strides, anchors_per_stride):
        cells = input_size // stride
        y, x = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        grid = (np.stack([x, y], axis=-1).reshape(-1, 2) + 0.5) / cells
        centers.append(np.repeat(grid, count, axis=0))
    return np.concatenate(centers).astype("float32")


def decode(regressions, logits, anchors, input_size, min_score):
    """Corner boxes `(n, 4)`, landmarks `(n, 6, 2)` and scores of the anchors scoring at least `min_score`."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype("float64"), -100.0, 100.0)))
    keep = scores >= min_score
    values, centers = regressions[keep] / input_size, anchors[keep]
    middle, size = values[:, :2] + centers, values[:, 2:4]
    boxes = np.concatenate([middle - size / 2, middle + size / 2], axis=1)
    landmarks = values[:, 4:16].reshape(-1, 6, 2) + centers[:, None]
    return boxes, landmarks, scores[keep]


def weighted_suppression(boxes, landmarks, scores, threshold):
    """MediaPipe's weighted non-maximum suppression: each cluster of overlapping boxes becomes its score-weighted mean.

    Yields `(corners, landmarks, score, members)` from the best score down;
    the score is the cluster's best, `members` the indices of its boxes.
    """
    order = np.argsort(-scores, kind="stable")
    while order.size:
        overlapping = iou(boxes[order[0]], boxes[order]) > threshold
        overlapping[0] = True
        cluster, order = order[overlapping], order[~overlapping]
        weights = scores[cluster][:, None]
        corners = (boxes[cluster] * weights).sum(axis=0) / weights.sum()
        points = (landmarks[cluster] * weights[:, :, None]).sum(axis=0) / weights.sum()
        yield corners, points, float(scores[cluster[0]]), cluster
