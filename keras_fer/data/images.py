"""Decoding image files into uint8 arrays of one size and channel count; the test-time views of such arrays."""

import io
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from keras_fer.validation import is_int

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
# The most pixels keras-fer decodes from one image file (8192 x 8192): larger
# files, such as a decompression bomb whose header claims 20000 x 20000 in a
# few kilobytes, are refused from their header, before any pixel is decoded.
MAX_IMAGE_PIXELS = 8192 * 8192
# The fewest pixels a side of a face keras-fer trains on or classifies: a
# smaller image holds no expression, and is more likely an icon or a mistake.
MIN_FACE_SIDE = 8


class DataError(ValueError):
    """A data file or record that cannot be used, named with the problem."""

    def __init__(self, source, problem):
        super().__init__(f"{source}: {problem}")
        self.source = str(source)
        self.problem = problem


def check_image_format(image_size, channels):
    """Raises a `ValueError` unless `image_size` is `(height, width)` and `channels` 1 or 3."""
    valid_size = isinstance(image_size, (tuple, list)) and len(image_size) == 2 and all(is_int(n, minimum=1) for n in image_size)
    if not valid_size:
        raise ValueError(f"`image_size` must be (height, width), two positive integers. Received: image_size={image_size!r}")
    if not is_int(channels) or channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3. Received: channels={channels!r}")


def read_image(source, image_size, channels, crop_box=None):
    """Decodes an image file into a uint8 array `(height, width, channels)`.

    Grayscale, RGB, RGBA (alpha dropped), palette and 16-bit images are
    converted to `channels` (1 or 3) and resized (antialiased bilinear) to
    `image_size`, after an optional face `crop_box` `(x, y, width, height)`.

    Args:
        source: a path, or `(name, bytes)` for data held in memory.
        image_size: `(height, width)`.
        channels: 1 or 3.
        crop_box: optional `(x, y, width, height)` in pixels.

    Raises:
        DataError: naming the file and the problem (missing, empty, not an
            image, truncated or corrupt, more than `MAX_IMAGE_PIXELS`,
            float pixels outside `[0, 255]` or all in `[0, 1]`, smaller
            than the crop box, or a face under `MIN_FACE_SIDE` pixels a
            side).
    """
    image = decode_image(source)
    name = source[0] if isinstance(source, tuple) else source
    image = to_channels(image, channels)
    if crop_box is not None:
        image = _crop(image, crop_box, name)
    if min(image.size) < MIN_FACE_SIDE:
        what = "face box" if crop_box is not None else "image"
        raise DataError(name, f"the {what} is {image.width}x{image.height} pixels; a face needs at least {MIN_FACE_SIDE} on each side")
    return _resized_array(image, image_size, channels)


def resize_pixels(pixels, image_size, channels):
    """Resizes a uint8 array `(height, width)` or `(height, width, 1|3)`."""
    pixels = np.asarray(pixels, dtype="uint8")
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    return _resized_array(to_channels(Image.fromarray(pixels), channels), image_size, channels)


def _resized_array(image, image_size, channels):
    height, width = image_size
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    array = np.asarray(image, dtype="uint8")
    return array[..., None] if channels == 1 else array


def decode_image(source, upright=False):
    """The decoded PIL image of a file: the one image reader of keras-fer, for training and inference.

    Args:
        source: a path, or `(name, bytes)` for data held in memory.
        upright: turn the image as its EXIF orientation says (phone photos),
            as inference does; the dataset loaders keep the stored pixels,
            which their face boxes refer to.

    Raises:
        DataError: naming the file and the problem: missing, a folder,
            empty, not an image, truncated or corrupt, more than
            `MAX_IMAGE_PIXELS` pixels (refused from the header, before
            decoding), or float pixels (a float32 TIFF) that are not
            pixel values: outside `[0, 255]`, or all in `[0, 1]`.
    """
    name, data = source if isinstance(source, tuple) else (source, None)
    try:
        if data is None:
            data = Path(name).read_bytes()
    except FileNotFoundError:
        raise DataError(name, "file not found") from None
    except IsADirectoryError:
        raise DataError(name, "is a folder; expected an image file") from None
    except OSError as error:
        raise DataError(name, f"cannot be read ({error.strerror})") from None
    if not data:
        raise DataError(name, "empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))  # in memory: nothing to close
        _check_pixel_count(image.width, image.height, name)
        image.load()
        _check_float_pixels(image, name)
        return ImageOps.exif_transpose(image) if upright else image
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(name, "not an image file PIL can decode") from None
    except Image.DecompressionBombError as error:  # so large that PIL refused it while reading the header
        claimed = re.search(r"\((\d+) pixels\)", str(error))
        raise _too_large(name, f"{int(claimed.group(1)) / 1e6:.0f} megapixels" if claimed else "its size") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(name, f"corrupt or truncated image ({error})") from None


def to_channels(image, channels):
    """A PIL image as mode `L` (`channels=1`) or `RGB` (3): 16-bit values scaled to 8 bits, not clipped; alpha dropped."""
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype="float64")
        peak = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.round(np.clip(values, 0, peak) / peak * 255.0).astype("uint8"), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    return image.convert("L" if channels == 1 else "RGB")


def _check_pixel_count(width, height, name):
    if width * height > MAX_IMAGE_PIXELS:
        raise _too_large(name, f"{width}x{height} pixels ({width * height / 1e6:.0f} megapixels)")


def _check_float_pixels(image, name):
    """Refuses a float image (mode `F`, e.g. a float32 TIFF) unless its values are pixel values: finite, in `[0, 255]`, not all in `[0, 1]`.

    The rule of `Recognizer.analyze` for float arrays: an image scaled to
    `[0, 1]`, read as `[0, 255]`, would be black and silently misclassified.
    """
    if image.mode != "F":
        return
    values = np.asarray(image)
    if not np.isfinite(values).all():
        raise DataError(name, "float image holds NaN or infinite values; pixels must be numbers in [0, 255]")
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if low < 0 or high > 255:
        raise DataError(name, f"float image holds values from {low:g} to {high:g}; pixels must be numbers in [0, 255]")
    if 0 < high <= 1:
        raise DataError(name, "float image holds values in [0, 1]; pixels must be numbers in [0, 255] (multiply by 255)")


def _too_large(name, size):
    return DataError(
        name,
        f"{size} is more than keras-fer decodes from one image; expected at most {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels "
        "(keras_fer.data.images.MAX_IMAGE_PIXELS)",
    )


def _crop(image, crop_box, name):
    x, y, width, height = crop_box
    if width <= 0 or height <= 0 or x < 0 or y < 0 or x + width > image.width or y + height > image.height:
        raise DataError(
            name,
            f"face box (x={x}, y={y}, width={width}, height={height}) does not fit in the {image.width}x{image.height} image",
        )
    return image.crop((x, y, x + width, y + height))
