"""Face detectors by name: MediaPipe's BlazeFace (shipped, the default) and OpenCV's Haar cascade."""

from collections.abc import Iterable

import numpy as np

from keras_fer.inference.faces import Detection, as_detection, check_min_score

DETECTORS = ("blazeface", "blazeface-full", "haar")
DEFAULT_DETECTOR = "blazeface"
MIN_FACE_SIZE = 32  # pixels: the smallest face "blazeface" looks for with tiles


def make_detector(detector: str | object | None = None, min_score: float | None = None, num_threads: int | None = None) -> object:
    """A face detector from its name (`DETECTORS`), or `detector` itself when it is an object with `detect`.

    Args:
        detector: `"blazeface"` (BlazeFace short range on the image and on
            tiles, for faces from `MIN_FACE_SIZE` pixels), `"blazeface-full"`
            (BlazeFace full range, one pass), `"haar"`, `None` for
            `DEFAULT_DETECTOR`, or any object with
            `detect(rgb_image) -> [Detection or (x, y, width, height)]`.
        min_score: smallest detection score kept, in `[0, 1]`, for BlazeFace;
            `None` for the detector's own threshold (0.7 for `"blazeface"`,
            0.6 for `"blazeface-full"`).
        num_threads: LiteRT threads of a BlazeFace detector made here
            (`None`: the machine's cores, at most 4). Haar runs on OpenCV's
            threads (`cv2.setNumThreads`), a detector object on its own.

    Example:

    >>> detector = make_detector("blazeface", min_score=0.8)
    >>> type(detector).__name__, detector.min_score, detector.min_size
    ('BlazeFaceDetector', 0.8, 32)
    """
    if min_score is not None:
        check_min_score(min_score)
    detector = DEFAULT_DETECTOR if detector is None else detector
    if not isinstance(detector, str):
        if not callable(getattr(detector, "detect", None)):
            raise ValueError(f"`detector` must be one of {list(DETECTORS)} or an object with a `detect(image)` method. Received: {detector!r}")
        return detector
    if detector not in DETECTORS:
        raise ValueError(f"`detector` must be one of {list(DETECTORS)} or an object with a `detect(image)` method. Received: detector={detector!r}")
    if detector == "haar":
        return HaarFaceDetector()
    from keras_fer.inference.blazeface import BlazeFaceDetector

    if detector == "blazeface-full":
        return BlazeFaceDetector("full", min_score=min_score, num_threads=num_threads)
    return BlazeFaceDetector("short", min_score=min_score, min_size=MIN_FACE_SIZE, num_threads=num_threads)


def makes_blazeface(detector: str | object | None) -> bool:
    """Whether `make_detector(detector)` makes a BlazeFace detector (the default, or one named), whose threads `num_threads` sets.

    Example:

    >>> makes_blazeface(None), makes_blazeface("blazeface-full"), makes_blazeface("haar")
    (True, True, False)
    """
    return detector is None or isinstance(detector, str) and detector.startswith("blazeface")


def detected_faces(detector, image: np.ndarray, min_score: float | None = None) -> list[Detection]:
    """`detector`'s faces in `image` as `Detection`s, left to right; those scoring under `min_score` or without a pixel in the image left out."""
    must = f"`{type(detector).__name__}.detect(image)` must return"
    return ordered_faces(detector.detect(image), min_score, image.shape[:2], must)


def ordered_faces(found, min_score=None, shape=None, must="`boxes` must be"):
    """`Detection`s or boxes `(x, y, width, height)` as `Detection`s, left to right.

    Those scoring under `min_score`, and with an image `shape` `(height,
    width)` those without a pixel inside it, are left out. `must` begins
    the errors, as in `as_detection`.
    """
    if not isinstance(found, Iterable) or isinstance(found, (str, bytes)):
        raise ValueError(f"{must} a list of Detections or boxes (x, y, width, height), [] for no face. Received: {found!r}")
    faces = [as_detection(face, must) for face in found]
    if shape is not None:
        faces = [face for face in faces if _overlaps(face.box, shape)]
    if min_score is not None:
        faces = [face for face in faces if face.score is None or face.score >= min_score]
    return sorted(faces, key=lambda face: (face.box[0], face.box[1]))


def _overlaps(box, shape):
    x, y, width, height = box
    return min(x + width, shape[1]) > max(x, 0) and min(y + height, shape[0]) > max(y, 0)


class HaarFaceDetector:
    """Frontal faces with OpenCV's `haarcascade_frontalface_default.xml`: boxes, no scores or landmarks.

    Args:
        scale_factor, min_neighbors: `cv2.CascadeClassifier.detectMultiScale`
            settings.
        min_size: smallest face side in pixels.
    """

    def __init__(self, scale_factor=1.1, min_neighbors=5, min_size=24):
        import cv2

        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise RuntimeError(f"OpenCV could not read its Haar cascade {path}; install opencv-python-headless<5.")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size

    def detect(self, image):
        """The faces of an RGB or gray uint8 image, as `Detection`s with a box only."""
        import cv2

        gray = image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        boxes = self.cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(self.min_size, self.min_size)
        )
        return [Detection(tuple(int(v) for v in box)) for box in boxes]
