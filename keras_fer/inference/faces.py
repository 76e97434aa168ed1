"""What a face detector finds: `Detection` (box, score, landmarks)."""

from dataclasses import dataclass, replace

import numpy as np

from keras_fer.validation import is_number

LANDMARKS = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")  # MediaPipe's order; the person's right and left


@dataclass(frozen=True, eq=False)
class Detection:
    """One face in an image.

    Attributes:
        box: `(x, y, width, height)` in pixels, inside the image.
        score: the detector's confidence in `[0, 1]`; `None` for detectors
            without one (Haar).
        landmarks: `(6, 2)` float pixel coordinates `(x, y)` of `LANDMARKS`,
            or `None` for detectors without landmarks.

    Example:

    >>> Detection((10, 20, 30, 30), 0.9).record()
    {'box': (10, 20, 30, 30), 'face_score': 0.9, 'landmarks': None}
    """

    box: tuple
    score: float | None = None
    landmarks: np.ndarray | None = None

    @classmethod
    def from_corners(cls, corners, score, landmarks, shape):
        """A detection from float corners `(x0, y0, x1, y1)`, its box rounded and clipped to an image of `shape`."""
        height, width = shape
        x0, y0 = int(round(max(corners[0], 0))), int(round(max(corners[1], 0)))
        x1, y1 = int(round(min(corners[2], width))), int(round(min(corners[3], height)))
        return cls((x0, y0, max(x1 - x0, 0), max(y1 - y0, 0)), float(score), np.asarray(landmarks, "float32"))

    @property
    def eyes(self):
        """The eye centres `(2, 2)`, left to right in the image (the person's right eye first), or `None`."""
        return None if self.landmarks is None else np.asarray(sorted(self.landmarks[:2].tolist()), "float32")

    def record(self):
        """`box`, `face_score` and `landmarks` as `Recognizer.analyze` reports them (plain Python values)."""
        landmarks = None if self.landmarks is None else {name: [round(float(v), 1) for v in point] for name, point in zip(LANDMARKS, self.landmarks)}
        return {"box": tuple(int(v) for v in self.box), "face_score": None if self.score is None else round(self.score, 4), "landmarks": landmarks}


def as_detection(found, must="`boxes` must be"):
    """A `Detection` from what a detector returned: a `Detection` or a box `(x, y, width, height)`, its box as 4 integers.

    `must` begins its errors, e.g. "`boxes` must be" or "`MyDetector.detect(image)` must return".
    """
    if isinstance(found, Detection):
        return replace(found, box=_box(found.box, must))
    return Detection(_box(found, must))


def _box(box, must):
    try:
        values = tuple(int(v) for v in box)
    except (TypeError, ValueError, OverflowError):
        values = ()
    if len(values) != 4:
        raise ValueError(f"{must} Detections or boxes (x, y, width, height). Received: {box!r}")
    if values[2] < 0 or values[3] < 0:
        raise ValueError(f"{must} boxes (x, y, width, height) with a width and height >= 0. Received: box={values}")
    return values


def check_min_score(min_score):
    if not is_number(min_score, 0, 1):
        raise ValueError(f"`min_score` must be a number in [0, 1]. Received: min_score={min_score!r}")
    return float(min_score)


def iou(box, boxes):
    """Intersection over union of one corner box `(x0, y0, x1, y1)` with each of `boxes`."""
    low, high = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    intersection = np.prod(np.clip(high - low, 0, None), axis=1)
    areas = np.prod(boxes[:, 2:] - boxes[:, :2], axis=1)
    union = np.prod(box[2:] - box[:2]) + areas - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0)
