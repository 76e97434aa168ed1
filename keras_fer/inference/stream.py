"""Expressions in a stream of frames: a camera, a video file or URL, or frames held in memory."""

import time
from pathlib import Path

import numpy as np

from keras_fer.inference.faces import iou
from keras_fer.inference.recognizer import face_record, read_rgb
from keras_fer.validation import is_int, is_number

MIN_OVERLAP = 0.3  # intersection over union that makes a face in one frame the same face in the next
MAX_CAMERA_INDEX = 2**31 - 1  # OpenCV takes a C int


def stream(recognizer, source, every=1, batch_frames=8, smoothing=0.0, keep_frames=False):
    """Yields `{frame_index, time, faces}` for every `every`-th frame of `source`.

    Faces of `batch_frames` frames are classified in one batch, so results
    come in groups (use `batch_frames=1` for the lowest latency on a live
    camera). Each face is `Recognizer.analyze`'s dict plus `track`, a number
    that stays with a face from one processed frame to the next while its
    boxes overlap (intersection over union at least `MIN_OVERLAP`); with
    `smoothing > 0` its scores are an exponential moving average over its
    track, `smoothing * previous + (1 - smoothing) * current`.

    Args:
        recognizer: a `keras_fer.Recognizer`.
        source: a camera index (an int from 0 to `MAX_CAMERA_INDEX`), a
            video file path or a URL that OpenCV opens, or any iterable of
            frames (uint8 RGB or gray arrays).
        every: process every `every`-th frame.
        batch_frames: processed frames whose faces are classified together.
        smoothing: weight in `[0, 1)` of a track's previous scores.
        keep_frames: also give each result its RGB `frame` (to draw on).

    Yields:
        Dicts with `frame_index` (in the source), `time` (seconds from the
        video's frame rate, from the stream's start for a camera, `None` for
        frames in memory) and `faces`, left to right.
    """
    if not is_int(every, minimum=1):
        raise ValueError(f"`every` must be a positive integer. Received: every={every!r}")
    if not is_int(batch_frames, minimum=1):
        raise ValueError(f"`batch_frames` must be a positive integer. Received: batch_frames={batch_frames!r}")
    if not is_number(smoothing, 0, 0.999):
        raise ValueError(f"`smoothing` must be a number in [0, 1). Received: smoothing={smoothing!r}")
    tracker = _Tracker(smoothing)
    pending = []
    for index, seconds, frame in _frames(source):
        if index % every:
            continue
        pending.append((index, seconds, _rgb(frame, index)))
        if len(pending) == batch_frames:
            yield from _classified(recognizer, pending, tracker, keep_frames)
            pending = []
    yield from _classified(recognizer, pending, tracker, keep_frames)


def _classified(recognizer, pending, tracker, keep_frames):
    found = [recognizer.detect(rgb) for _, _, rgb in pending]
    crops = [recognizer.face_crop(rgb, face) for (_, _, rgb), frame_faces in zip(pending, found) for face in frame_faces]
    scores = iter(recognizer.predict_faces(crops) if crops else [])
    for (index, seconds, rgb), frame_faces in zip(pending, found):
        faces = tracker.update([(face, next(scores)) for face in frame_faces], recognizer.class_names)
        yield {"frame_index": index, "time": seconds, "faces": faces, **({"frame": rgb} if keep_frames else {})}


def _rgb(frame, index):
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame {index} must be a uint8 array (height, width[, 3]). Received: {type(frame).__name__}")
    try:
        return read_rgb(frame)
    except ValueError as error:
        raise ValueError(f"frame {index}: {error}") from None


def _frames(source):
    """`(index, seconds, frame)` of a camera, a video or an iterable of arrays."""
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool) or isinstance(source, (str, Path)):
        yield from _captured(source)
        return
    try:
        frames = iter(source)
    except TypeError:
        raise ValueError(
            f"`source` must be a camera index, a video path or URL, or an iterable of frames. Received: {type(source).__name__}"
        ) from None
    for index, frame in enumerate(frames):
        yield index, None, frame


def _captured(source):
    import cv2

    camera = not isinstance(source, (str, Path))
    if camera and not 0 <= source <= MAX_CAMERA_INDEX:
        raise ValueError(
            f"`source` must be a camera index from 0 to {MAX_CAMERA_INDEX}, a video path or URL, or an iterable of frames. "
            f"Received: source={source!r}"
        )
    capture = cv2.VideoCapture(int(source) if camera else str(source))
    if not capture.isOpened():
        what = f"camera {source}" if camera else f"video {source}"
        raise ValueError(f"{what} cannot be opened; expected a connected camera index, or a video file or URL that OpenCV reads")
    fps = capture.get(cv2.CAP_PROP_FPS)
    start = time.monotonic()
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            seconds = time.monotonic() - start if camera else (index / fps if fps > 0 else None)
            yield index, seconds, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()


class _Tracker:
    """Numbers faces across frames by box overlap and smooths their scores."""

    def __init__(self, smoothing):
        self.smoothing = smoothing
        self.previous = []  # (track, box, scores)
        self.next_track = 0

    def update(self, detections, class_names):
        faces, current, free = [], [], list(self.previous)
        for face, scores in detections:
            box = face.box
            match = max(free, key=lambda item: overlap(item[1], box), default=None)
            if match is not None and overlap(match[1], box) >= MIN_OVERLAP:
                free.remove(match)
                track, scores = match[0], self.smoothing * match[2] + (1 - self.smoothing) * scores
            else:
                track, self.next_track = self.next_track, self.next_track + 1
            current.append((track, box, scores))
            faces.append({**face_record(face, scores, class_names), "track": track})
        self.previous = current
        return faces


def overlap(first, second):
    """Intersection over union of two boxes `(x, y, width, height)`.

    >>> overlap((0, 0, 10, 10), (5, 0, 10, 10))
    0.3333333333333333
    """
    (x0, y0, width0, height0), (x1, y1, width1, height1) = first, second
    corners = np.array([[x0, y0, x0 + width0, y0 + height0], [x1, y1, x1 + width1, y1 + height1]], "float64")
    return float(iou(corners[0], corners[1:])[0])
