"""`Recognizer`: expressions of the faces in photos, from any keras-fer model file."""

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from keras_fer.data.classes import EXPRESSIONS, to_basic_classes
from keras_fer.data.framing import FER2013_CROP
from keras_fer.data.images import MIN_FACE_SIDE, DataError, decode_image
from keras_fer.export.litert import resolve_threads
from keras_fer.inference.alignment import aligned_crop, box_crop, margin_crop
from keras_fer.inference.classifiers import Classifier, load_classifier, runs_on_litert
from keras_fer.inference.detection import detected_faces, make_detector, makes_blazeface, ordered_faces
from keras_fer.inference.explain import Explainer, resize_map
from keras_fer.inference.faces import Detection
from keras_fer.inference.media import upright_rgb
from keras_fer.models.tta import average_over_views, check_shift
from keras_fer.validation import is_int, is_number

MIN_CROP_SIZE = MIN_FACE_SIDE


class Recognizer:
    """Detects faces in photos and classifies their expressions.

    Args:
        classifier: a callable from uint8 faces `(n, height, width,
            channels)` to probabilities, with `input_shape` and `class_names`
            attributes, as `keras_fer.inference.load_classifier` returns;
            default: the `model` below.
        detector: `"blazeface"` (the default: MediaPipe's BlazeFace short
            range, shipped, on the whole image and on tiles for faces from
            32 px), `"blazeface-full"` (BlazeFace full range, one pass),
            `"haar"` (OpenCV's Haar cascade), or an object with `detect(rgb_image)` returning
            `keras_fer.inference.Detection`s or boxes `(x, y, w, h)`
            (a box without a pixel in the image is no face).
            `benchmarks/face_detection.py` measured them
            (`benchmarks/README.md`).
        min_score: smallest detection score kept, in `[0, 1]`; `None` for
            the detector's own threshold (0.7 for `"blazeface"`, 0.6 for
            `"blazeface-full"`).
        align: with a detector that finds eyes (BlazeFace), rotate each
            face so its eyes are level and crop it as the training faces
            were framed (`keras_fer.data.framing.FER2013_CROP`);
            `False` crops BlazeFace's upright box with that framing.
        margin: for detectors without landmarks (Haar, boxes), the fraction
            of the face box added on each side before cropping.
        batch_size: faces classified per call.
        flip: average each face's probabilities with its mirror image's
            (test-time augmentation). Twice the compute; for the `fer2013`
            model, 65.97% instead of 65.55% accuracy on FER2013 PublicTest
            (its model card). `explain` does not flip.
        shift: also average over the face moved by 1 to `shift` pixels
            left, right, up and down (`keras_fer.models.tta_views`):
            `1 + 4 * shift` times the compute, twice that with `flip`. For
            the `fer2013` model, `flip=True, shift=2` (18 views) gives 67.23%
            on FER2013 PublicTest. `explain` does not shift.
        model: instead of `classifier`, the name of a model shipped with
            keras-fer (`keras_fer.models.WEIGHTS`: `"ferplus"`, 8 classes,
            trained on FER+'s labels, the default; `"fer2013"`, 7 classes)
            or the path of a `.keras`, SavedModel or `.tflite` model;
            default `keras_fer.inference.classifiers.DEFAULT_MODEL`.
        runtime: how a shipped `model` runs: `"tflite"` (the default) its
            int8-weight TFLite twin, about 12x faster on one face and the
            same top class on 99.3-99.65% of validation faces; `"keras"`
            the `.keras` model itself (`load_classifier`).
        num_threads: LiteRT threads of what runs on LiteRT here: the
            BlazeFace detector and the twin or `.tflite` model that
            `Recognizer` loads; `None` for the machine's cores, at most 4.
            A `.keras` model runs on TensorFlow's threads
            (`tf.config.threading`), Haar on OpenCV's (`cv2.setNumThreads`).
        basic_classes: report the 7 basic expressions
            (`keras_fer.data.EXPRESSIONS`) for a model with more classes (the
            8 with contempt): the others are dropped and the scores
            renormalised (`keras_fer.data.classes.to_basic_classes`).
            `None` (the default) does so for every model whose classes
            include the 7 and more, so `Recognizer()` reports the 7;
            `False` reports a model's own classes (contempt too).

    Example:

    ```python
    from keras_fer import Recognizer
    faces = Recognizer().analyze("group_photo.jpg")
    # [{"box": (x, y, w, h), "label": "happy", "scores": {"angry": 0.01, ...}}, ...]
    ```
    """

    def __init__(
        self,
        classifier: Classifier | None = None,
        detector: str | object | None = None,
        margin: float = 0.1,
        batch_size: int = 64,
        flip: bool = False,
        shift: int = 0,
        model: str | Path | None = None,
        basic_classes: bool | None = None,
        min_score: float | None = None,
        align: bool = True,
        runtime: str | None = None,
        num_threads: int | None = None,
    ) -> None:
        if not is_number(margin, 0, 1):
            raise ValueError(f"`margin` must be a number in [0, 1] (a fraction of the face box). Received: margin={margin!r}")
        if not is_int(batch_size, minimum=1, numpy=True):
            raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
        for name, value in (("flip", flip), ("align", align)):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"`{name}` must be True or False. Received: {name}={value!r}")
        resolve_threads(num_threads)  # a bad value is named as such, whatever runs on LiteRT
        litert_classifier = classifier is None and runs_on_litert(model, runtime)
        if num_threads is not None and not litert_classifier and not makes_blazeface(detector):
            raise ValueError(
                "`num_threads` sets LiteRT's threads of the BlazeFace detector and of the twin or .tflite model that Recognizer "
                "loads; here it loads neither (a classifier or detector you pass keeps its own threads, TensorFlow and OpenCV "
                f"theirs). Received: num_threads={num_threads!r}"
            )
        self.detector = make_detector(detector, min_score, num_threads if makes_blazeface(detector) else None)
        self.min_score = min_score
        self.align = bool(align)
        if classifier is not None and (model is not None or runtime is not None):
            given = " and ".join(f"{name}={value!r}" for name, value in (("model", model), ("runtime", runtime)) if value is not None)
            raise ValueError(f"Pass `classifier` or `model` (with `runtime`), not both. Received: {given} and a classifier")
        self.classifier = classifier or load_classifier(model, runtime, num_threads if litert_classifier else None)
        if basic_classes is not None and not isinstance(basic_classes, (bool, np.bool_)):
            raise ValueError(f"`basic_classes` must be True, False or None. Received: basic_classes={basic_classes!r}")
        names = self.classifier.class_names
        if basic_classes is None:
            basic_classes = len(names) > len(EXPRESSIONS) and set(EXPRESSIONS) <= set(names)
        if basic_classes:
            to_basic_classes(np.zeros((0, len(names))), names)  # fails now, not at the first face
        self.basic_classes = bool(basic_classes)
        check_shift(shift, self.classifier.input_shape[:2])
        self.margin = margin
        self.batch_size = batch_size
        self.flip = flip
        self.shift = shift
        self._explainer = None

    @classmethod
    def from_file(cls, path: str | Path, **kwargs) -> "Recognizer":
        """A `Recognizer` for a `.keras` file, SavedModel folder or `.tflite` file (other keyword arguments as `Recognizer`'s)."""
        return cls(model=path, **kwargs)

    @property
    def class_names(self) -> tuple:
        return EXPRESSIONS if self.basic_classes else self.classifier.class_names

    def predict_faces(self, faces: np.ndarray | list) -> np.ndarray:
        """Class probabilities `(n, num_classes)` of face crops of any size, gray or color.

        Args:
            faces: one crop `(height, width[, 1|3|4 channels])` or PIL
                image, at least `MIN_CROP_SIZE` pixels a side, or a
                list/array of crops;
                uint8 pixels, or other numbers in `[0, 255]`. Floats in
                `[0, 1]`, NaN, bools and values outside `[0, 255]` (16-bit
                images) are refused with a `ValueError`.

        Raises:
            ValueError: for such pixels, for `faces` that are not crops,
                and when the classifier returns NaN or infinite scores (a
                model whose weights diverged), never a silent label.
        """
        if isinstance(faces, (str, bytes, Path)):
            raise ValueError(
                f"`faces` must be pixel arrays of face crops; for an image file use `analyze` (or read its pixels). Received: faces={faces!r}"
            )
        if faces is None or np.isscalar(faces) or isinstance(faces, np.ndarray) and faces.ndim == 1:
            raise ValueError(
                f"`faces` must be a face crop (height, width[, 1|3|4]) or a list of them; a flat or scalar value has no height "
                f"and width (reshape it, e.g. to (48, 48)). Received: faces of shape {np.shape(faces)}"
            )
        single = _is_single(faces)
        crops = [faces] if single else list(faces)
        inputs = np.stack([self._prepare(crop, "faces" if single else f"faces[{i}]") for i, crop in enumerate(crops)]) if crops else None
        if inputs is None:
            return np.zeros((0, len(self.class_names)), "float32")

        def predict(batch):
            return np.concatenate([self._scores(batch[i : i + self.batch_size]) for i in range(0, len(batch), self.batch_size)])

        return average_over_views(predict, inputs, self.flip, self.shift)

    def _scores(self, faces):
        """The classifier's scores of a batch, or a `ValueError` when they are not one finite row per face."""
        scores = np.asarray(self.classifier(faces), "float32")
        scores = checked_scores(scores, len(faces), len(self.classifier.class_names), getattr(self.classifier, "path", None))
        return to_basic_classes(scores, self.classifier.class_names) if self.basic_classes else scores

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        """The faces of an RGB uint8 array as `keras_fer.inference.Detection`s (box, score, landmarks), left to right."""
        return detected_faces(self.detector, rgb, self.min_score)

    def face_crop(self, rgb: np.ndarray, face: Detection) -> np.ndarray:
        """The crop of one detected face that the classifier sees (before resizing to its input).

        Eyes level and framed as `FER2013_CROP` when the detection has
        landmarks and `align` is on; BlazeFace's box in that framing without
        `align`; the box grown by `margin` for detectors without landmarks.
        """
        if face.landmarks is None:
            return margin_crop(rgb, face.box, self.margin)
        return aligned_crop(rgb, face.eyes, FER2013_CROP) if self.align else box_crop(rgb, face.box, FER2013_CROP)

    def analyze(self, image: str | Path | Image.Image | np.ndarray) -> list[dict]:
        """The faces of a photo, left to right: `[{box, face_score, label, scores, landmarks}]` (empty without faces).

        `face_score` is the detector's confidence (`None` for Haar);
        `landmarks` maps `keras_fer.inference.faces.LANDMARKS` to `[x, y]`
        (`None` without landmarks).

        Args:
            image: a file path, a PIL image, or a uint8 array (RGB or gray).
        """
        rgb = read_rgb(image)
        faces = self.detect(rgb)
        crops = [self.face_crop(rgb, face) for face in faces]
        probabilities = self.predict_faces(crops) if crops else []
        return [face_record(face, scores, self.class_names) for face, scores in zip(faces, probabilities)]

    def stream(
        self,
        source: int | str | Path | Iterable[np.ndarray],
        every: int = 1,
        batch_frames: int = 8,
        smoothing: float = 0.0,
        keep_frames: bool = False,
    ) -> Iterator[dict]:
        """Yields `{frame_index, time, faces}` for every `every`-th frame of a camera, a video or frames in memory.

        See `keras_fer.inference.stream.stream`: `source` is a camera index,
        a video path or URL, or an iterable of uint8 frames; faces of
        `batch_frames` frames are classified together; each face carries a
        `track` number kept while its box overlaps from frame to frame, and
        `smoothing` averages its scores along the track; `keep_frames`
        adds each frame's RGB array to its result.

        Example:

        ```python
        for result in Recognizer().stream(0, every=2, batch_frames=1, smoothing=0.5):
            print(result["time"], [face["label"] for face in result["faces"]])
        ```
        """
        from keras_fer.inference.stream import stream

        return stream(self, source, every, batch_frames, smoothing, keep_frames)

    def explain(self, image: str | Path | Image.Image | np.ndarray, boxes: list | None = None) -> list[dict]:
        """The faces of a photo with heatmaps of where the model looked, left to right.

        Each face is `analyze`'s dict plus `face` (the RGB crop), `attention`
        (the last CBAM block's spatial attention, `None` without CBAM) and
        `gradcam` (Grad-CAM of the predicted class), both float maps in
        `[0, 1]` at the crop's size. Needs a `.keras` model: for a shipped
        model run by its TFLite twin (the default), its `.keras` file is read
        at the first call and gives these faces' labels and scores, which
        may differ from `analyze`'s on a close call (0.35-0.7% of faces;
        `runtime="keras"` makes them the same).

        Args:
            image: a file path, a PIL image, or a uint8 array (RGB or gray).
            boxes: the faces' `Detection`s or boxes `(x, y, width, height)`
                if `detect` has already found them (as `keras-fer predict
                --explain` has); detected when `None`. A box without a
                pixel in the image is no face.
        """
        if self.classifier.model is None:
            raise ValueError(f"Explanations need a .keras model; {self.classifier.path} is not one.")
        if self._explainer is None:
            self._explainer = Explainer(self.classifier.model)
        rgb = read_rgb(image)
        faces = self.detect(rgb) if boxes is None else ordered_faces(boxes, shape=rgb.shape[:2])
        crops = [self.face_crop(rgb, face) for face in faces]
        if not crops:
            return []
        probabilities, attention, gradcam = self._explainer(np.stack([self._prepare(face, f"face {index + 1}") for index, face in enumerate(crops)]))
        checked_scores(probabilities, len(crops), len(self.classifier.class_names), self.classifier.path)
        if self.basic_classes:
            probabilities = to_basic_classes(probabilities, self.classifier.class_names)
        records = []
        for index, (found, face) in enumerate(zip(faces, crops)):
            size = (face.shape[1], face.shape[0])
            maps = {
                "face": face,
                "attention": None if attention is None else resize_map(attention[index], size),
                "gradcam": resize_map(gradcam[index], size),
            }
            records.append({**face_record(found, probabilities[index], self.class_names), **maps})
        return records

    def _prepare(self, face, name="faces"):
        import cv2

        height, width, channels = self.classifier.input_shape
        received = type(face).__name__
        if isinstance(face, Image.Image):
            face = upright_rgb(face)
        face = np.asarray(face) if face is not None else np.zeros(())
        if face.ndim == 3 and face.shape[-1] == 1:
            face = face[..., 0]
        if face.ndim not in (2, 3) or (face.ndim == 3 and face.shape[-1] not in (3, 4)):
            raise ValueError(
                f"A face crop must be an array (height, width) or (height, width, 1|3|4). Received: {name}, a {received} of shape {face.shape}"
            )
        if min(face.shape[:2]) < MIN_CROP_SIZE:
            raise ValueError(f"A face crop must be at least {MIN_CROP_SIZE}x{MIN_CROP_SIZE} pixels. Received: {name} of shape {face.shape}")
        face = checked_pixels(face, "A face crop")
        if channels == 1 and face.ndim == 3:
            # OpenCV's luma is PIL's "L" (ITU-R 601-2) within one level on 0.13% of colours, in a third of the time (0.02 ms for
            # a 330 px crop); the resize stays PIL's antialiased bilinear, as the training images were resized.
            face = cv2.cvtColor(np.ascontiguousarray(face[..., :3]), cv2.COLOR_RGB2GRAY)
        picture = Image.fromarray(face).convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
        return np.asarray(picture, "uint8").reshape(height, width, channels)


def read_rgb(image: str | Path | Image.Image | np.ndarray) -> np.ndarray:
    """An RGB uint8 array from a path, a PIL image (upright by its EXIF orientation) or an array, with at least one pixel."""
    if isinstance(image, (str, Path)):
        try:
            return upright_rgb(decode_image(image))
        except DataError as error:
            raise ValueError(f"{image} is not a readable image: {error.problem}") from None
    rgb = upright_rgb(image) if isinstance(image, Image.Image) else _array_rgb(image)
    if 0 in rgb.shape[:2]:
        received = f"a PIL image of {image.width}x{image.height} pixels" if isinstance(image, Image.Image) else f"image of shape {np.shape(image)}"
        raise ValueError(f"`image` must have at least one pixel (a height and width of 1 or more). Received: {received}")
    return rgb


def _array_rgb(image):
    array = np.asarray(image)
    if array.ndim == 2:
        return np.repeat(checked_pixels(array, "An image")[..., None], 3, axis=-1)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        return checked_pixels(array[..., :3], "An image")
    received = "image=None" if image is None else f"image of shape {array.shape}"
    raise ValueError(f"`image` must be a path, a PIL image or an array (height, width[, 3|4]) of pixels. Received: {received}")


def checked_pixels(array, what):
    """`array` as uint8 pixels, or a `ValueError` saying why it does not hold `[0, 255]` pixel values.

    uint8 passes as it is; other integers and floats pass when all of them
    are finite and in `[0, 255]`, except floats that all lie in `[0, 1]`:
    those are an image scaled to `[0, 1]`, which read as `[0, 255]` would be
    black and silently misclassified.
    """
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"{what} must hold uint8 pixels or numbers in [0, 255]. Received dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"{what} holds NaN or infinite values; pixels must be numbers in [0, 255]")
    low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
    if low < 0 or high > 255:
        raise ValueError(f"{what} must hold pixel values in [0, 255]. Received {array.dtype} values from {low:g} to {high:g}")
    if np.issubdtype(array.dtype, np.floating) and 0 < high <= 1:
        raise ValueError(f"{what} holds floats in [0, 1]; keras-fer takes pixel values in [0, 255] (multiply by 255)")
    return array.astype("uint8")


def checked_scores(scores, count, num_classes, path=None):
    """`scores` when they are one finite row of `num_classes` per face, else a `ValueError` naming the model."""
    scores = np.asarray(scores)
    model = f"the model {path}" if path is not None else "the classifier"
    if scores.shape != (count, num_classes):
        raise ValueError(f"{model} returned scores of shape {scores.shape} for {count} faces; expected ({count}, {num_classes}), one per class")
    bad = ~np.isfinite(scores).all(axis=1)
    if bad.any():
        raise ValueError(
            f"{model} returned NaN or infinite scores for {int(bad.sum())} of {count} faces; expected finite class probabilities "
            "(its weights may be NaN: a diverged training run)"
        )
    return scores


def _is_single(faces):
    """One crop: a PIL image, a 2-D array, or a 3-D array whose last axis is 1-4 channels (2 is then refused as a crop)."""
    if isinstance(faces, Image.Image):
        return True
    return isinstance(faces, np.ndarray) and (faces.ndim <= 2 or (faces.ndim == 3 and faces.shape[-1] in (1, 2, 3, 4)))


def face_record(face, scores, class_names):
    """`{box, face_score, label, scores, landmarks}` of one `Detection`, as `Recognizer.analyze` returns it."""
    record = face.record()
    return {
        "box": record["box"],
        "face_score": record["face_score"],
        "label": class_names[int(np.argmax(scores))],
        "scores": {name: round(float(score), 4) for name, score in zip(class_names, scores)},
        "landmarks": record["landmarks"],
    }
