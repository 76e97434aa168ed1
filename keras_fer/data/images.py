"""Decoding image files into uint8 arrays of one size and channel count; the test-time views of such arrays."""

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class DataError(ValueError):
    """A data file or record that cannot be used, named with the problem."""

    def __init__(self, source, problem):
        super().__init__(f"{source}: {problem}")
        self.source = str(source)
        self.problem = problem


def check_image_format(image_size, channels):
    """Raises a `ValueError` unless `image_size` is `(height, width)` and `channels` 1 or 3."""
    valid_size = (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in image_size)
    )
    if not valid_size:
        raise ValueError(f"`image_size` must be (height, width), two positive integers. Received: image_size={image_size!r}")
    if channels not in (1, 3):
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
            image, truncated or corrupt, smaller than the crop box).
    """
    name, data = source if isinstance(source, tuple) else (source, None)
    try:
        if data is None:
            data = Path(name).read_bytes()
    except FileNotFoundError:
        raise DataError(name, "file not found") from None
    except OSError as error:
        raise DataError(name, f"cannot be read ({error.strerror})") from None
    if not data:
        raise DataError(name, "empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            image = _to_channels(image, channels)
    except UnidentifiedImageError:
        raise DataError(name, "not an image file PIL can decode") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise DataError(name, f"corrupt or truncated image ({error})") from None
    if crop_box is not None:
        image = _crop(image, crop_box, name)
    return _resized_array(image, image_size, channels)


def resize_pixels(pixels, image_size, channels):
    """Resizes a uint8 array `(height, width)` or `(height, width, 1|3)`."""
    pixels = np.asarray(pixels, dtype="uint8")
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    return _resized_array(_to_channels(Image.fromarray(pixels), channels), image_size, channels)


def _resized_array(image, image_size, channels):
    height, width = image_size
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    array = np.asarray(image, dtype="uint8")
    return array[..., None] if channels == 1 else array


def _to_channels(image, channels):
    if image.mode in SIXTEEN_BIT_MODES:
        values = np.asarray(image, dtype="float64")
        peak = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        image = Image.fromarray(np.round(values / peak * 255.0).astype("uint8"), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    return image.convert("L" if channels == 1 else "RGB")


def _crop(image, crop_box, name):
    x, y, width, height = crop_box
    if width <= 0 or height <= 0 or x < 0 or y < 0 or x + width > image.width or y + height > image.height:
        raise DataError(
            name,
            f"face box (x={x}, y={y}, width={width}, height={height}) does not fit in the "
            f"{image.width}x{image.height} image",
        )
    return image.crop((x, y, x + width, y + height))


def tta_views(images, flip=False, shift=0):
    """The views of a batch of images that test-time augmentation averages over.

    The first view is `images` itself; then the images moved by 1 to
    `shift` pixels right, left, down and up (the border pixels repeated
    into the gap); with `flip`, the same views of the mirror images
    follow. That makes `(1 + 4 * shift) * (2 if flip else 1)` views: 18
    with `flip=True, shift=2`.

    Args:
        images: an array `(n, height, width, channels)`.
        flip: add the horizontally mirrored views.
        shift: the largest move in pixels, an integer from 0 to less than
            half the images' smaller side.

    Returns:
        A list of arrays shaped and typed like `images`.

    Example:

    >>> len(tta_views(np.zeros((2, 48, 48, 1), "uint8"), flip=True, shift=2))
    18
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"`images` must be (n, height, width, channels). Received: shape {images.shape}")
    height, width = images.shape[1:3]
    check_shift(shift, (height, width))
    offsets = [(0, 0)] + [offset for step in range(1, shift + 1) for offset in ((0, step), (0, -step), (step, 0), (-step, 0))]
    bases = (images, images[:, :, ::-1]) if flip else (images,)
    if not shift:
        return list(bases)
    views = []
    for base in bases:
        padded = np.pad(base, ((0, 0), (shift, shift), (shift, shift), (0, 0)), mode="edge")
        # Cropping the padded array `shift - dy` rows down moves the content dy rows down.
        views.extend(padded[:, shift - dy : shift - dy + height, shift - dx : shift - dx + width] for dy, dx in offsets)
    return views


def check_shift(shift, image_size):
    """Raises a `ValueError` unless `shift` is an integer from 0 to less than half the smaller side of `image_size`."""
    limit = (min(image_size) + 1) // 2
    if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) or not 0 <= shift < limit:
        raise ValueError(
            f"`shift` must be an integer from 0 to {limit - 1} (pixels, less than half of {image_size[0]}x{image_size[1]} images). "
            f"Received: shift={shift!r}"
        )
