"""Images and videos on disk: which files to read, and their frames."""

import os
import typing
from pathlib import Path

import numpy as np
from PIL import ImageOps

from keras_fer.data.images import DataError, decode_image, to_channels

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".avi", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".webm", ".wmv")
MIN_IMAGE_SIZE = 24


class VideoFrame(typing.NamedTuple):
    index: int
    seconds: typing.Optional[float]
    rgb: np.ndarray
    sampled: bool
    fps: typing.Optional[float]


class MediaError(Exception):
    """A file that could not be read; the message says why."""


def collect_files(paths, root=None):
    """`(file, name)` pairs to read: each given file, and every file under each folder, sorted.

    `name` is the file's path relative to `root`, by default
    `common_folder(paths)`, so that two files never share a name: one
    folder `photos/` names `photos/sub/a.jpg` `sub/a.jpg`; folders `d1`
    and `d2` name theirs `d1/...` and `d2/...`. Hidden files and folders
    are left out. A path that does not exist is returned as is, so that
    reading it reports the problem per file.
    """
    root = common_folder(paths) if root is None else root
    files = []
    for path in map(Path, paths):
        found = sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p.relative_to(path))) if path.is_dir() else [path]
        files.extend((p, Path(os.path.relpath(os.path.abspath(p), root))) for p in found)
    return files


def common_folder(paths):
    """The deepest folder holding every one of `paths` that exists, a folder counting as itself and a file as the folder it is in.

    A path that does not exist (a typo, reported per file) does not move
    the other outputs.
    """
    folders = [os.path.abspath(p) if os.path.isdir(p) else os.path.dirname(os.path.abspath(p)) for p in paths if os.path.exists(p)]
    return os.path.commonpath(folders) if folders else os.getcwd()


def is_video(path):
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def read_image(path):
    """The RGB uint8 pixels of an image file, or a `MediaError` that says why not.

    Decoded by the training loaders' reader (`keras_fer.data.images.decode_image`):
    16-bit images are scaled to 8 bits as in training, and a file of more
    than `keras_fer.data.images.MAX_IMAGE_PIXELS` pixels is refused from
    its header; then turned upright as its EXIF orientation says.
    """
    path = Path(path)
    _check_supported(path)
    try:
        rgb = np.asarray(to_channels(decode_image(path, upright=True), 3))
    except DataError as error:
        raise MediaError(f"not a readable image: {error.problem}") from None
    _check_size(rgb)
    return rgb


def upright_rgb(picture):
    """RGB uint8 pixels of a PIL image, turned upright as its EXIF orientation says (phone photos), 16-bit values scaled."""
    return np.asarray(to_channels(ImageOps.exif_transpose(picture), 3))


def _quiet_opencv():
    """Keeps FFmpeg's own messages about broken files off the terminal; ours name the file."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    import cv2

    return cv2


def read_video(path, every=10):
    """Yields a `VideoFrame` for every frame of a video.

    `sampled` is true for every `every`-th frame, starting with the first;
    `seconds` and `fps` are `None` when the file does not give its frame rate.
    Raises `MediaError` if the file cannot be opened or holds no frame.
    """
    cv2 = _quiet_opencv()

    path = Path(path)
    _check_supported(path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise MediaError("not a readable video")
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps > 0 else None
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if index == 0:
                _check_size(frame)
            seconds = index / fps if fps else None
            yield VideoFrame(index, seconds, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB), index % every == 0, fps)
            index += 1
        if index == 0:
            raise MediaError("empty video: no frame could be read")
    finally:
        capture.release()


def _check_supported(path):
    if not path.exists():
        raise MediaError("no such file")
    if path.stat().st_size == 0:
        raise MediaError("empty file")
    if path.suffix.lower() not in IMAGE_SUFFIXES + VIDEO_SUFFIXES:
        kinds = " ".join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)
        raise MediaError(f"unsupported format {path.suffix or '(no suffix)'}; keras-fer reads {kinds}")


def _check_size(pixels):
    height, width = pixels.shape[:2]
    if min(height, width) < MIN_IMAGE_SIZE:
        raise MediaError(f"too small ({width}x{height} px); faces need at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} px")


def _hidden(relative):
    return any(part.startswith(".") for part in relative.parts)
