"""Face crops framed as the classifier's training faces (`keras_fer.data.framing.FER2013_CROP`): eyes level, forehead to chin."""

import numpy as np

from keras_fer.data.framing import FER2013_CROP, FaceCrop
from keras_fer.data.images import MIN_FACE_SIDE


def aligned_crop(image: np.ndarray, eyes: np.ndarray, framing: FaceCrop = FER2013_CROP) -> np.ndarray:
    """The square crop of `image` with the eyes level and placed as in `framing`.

    Args:
        image: an RGB or gray uint8 array.
        eyes: `(2, 2)` eye centres `(x, y)`, left to right in the image.
        framing: a `FaceCrop`.

    Returns:
        A uint8 crop of side `eye distance / framing.eye_distance` pixels (at
        least `MIN_FACE_SIDE`), edges repeated where it leaves the image.

    Example:

    >>> aligned_crop(np.zeros((100, 100), "uint8"), [[40, 50], [60, 45]]).shape  # eyes 20.6 px apart: a 56 px crop
    (56, 56)
    """
    import cv2

    (x0, y0), (x1, y1) = np.asarray(eyes, "float64")
    distance = max(np.hypot(x1 - x0, y1 - y0), 1e-6)
    side = max(int(round(distance / framing.eye_distance)), MIN_FACE_SIDE)
    scale = side * framing.eye_distance / distance
    cosine, sine = scale * (x1 - x0) / distance, scale * (y1 - y0) / distance
    middle_x, middle_y = (x0 + x1) / 2, (y0 + y1) / 2
    target_x, target_y = framing.eye_center[0] * side, framing.eye_center[1] * side
    matrix = np.array(
        [
            [cosine, sine, target_x - cosine * middle_x - sine * middle_y],
            [-sine, cosine, target_y + sine * middle_x - cosine * middle_y],
        ]
    )
    return cv2.warpAffine(np.ascontiguousarray(image), matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def box_crop(image: np.ndarray, box: tuple, framing: FaceCrop = FER2013_CROP) -> np.ndarray:
    """The upright square crop that puts a BlazeFace `box` `(x, y, width, height)` where `framing` has it."""
    x, y, width, height = box
    side = max(width, height) / framing.box_side
    center_x = x + width / 2 + (0.5 - framing.box_center[0]) * side
    center_y = y + height / 2 + (0.5 - framing.box_center[1]) * side
    return _clipped(image, center_x - side / 2, center_y - side / 2, side)


def margin_crop(image: np.ndarray, box: tuple, margin: float) -> np.ndarray:
    """The box `(x, y, width, height)` grown by `margin` of its size on each side, clipped to the image."""
    x, y, width, height = box
    dx, dy = int(round(width * margin)), int(round(height * margin))
    rows, columns = _inside(y - dy, y + height + dy, image.shape[0]), _inside(x - dx, x + width + dx, image.shape[1])
    return image[rows, columns]


def _clipped(image, left, top, side):
    left, top, side = int(round(left)), int(round(top)), int(round(side))
    return image[_inside(top, top + side, image.shape[0]), _inside(left, left + side, image.shape[1])]


def _inside(start, stop, size):
    """The slice of `[start, stop)` within `[0, size)`: empty when they do not overlap, never wrapping round from the end."""
    start, stop = min(max(start, 0), size), min(max(stop, 0), size)
    return slice(start, max(stop, start))
