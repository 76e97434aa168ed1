"""Deterministic changes of lighting, pose, framing and sharpness, to measure how a model holds up.

Each function takes uint8 faces `(n, height, width, channels)` and returns
uint8 faces of the same shape. They are what `benchmarks/robustness.py`
applies to a validation split for the model cards: a model that generalises
keeps its accuracy when the faces are darker, flatter, tilted, framed
looser or tighter, or out of focus, as faces from other cameras are.
"""

import numpy as np
from PIL import Image, ImageFilter

from keras_fer.validation import is_number


def brightness(faces, delta):
    """Adds `delta` (in `[-255, 255]`) to every pixel, clipped to `[0, 255]`.

    >>> brightness(np.array([[[[10], [250]]]], "uint8"), 20)[..., 0].tolist()
    [[[30, 255]]]
    """
    _check(delta, "delta", -255, 255)
    return np.clip(_checked_faces(faces).astype("int16") + round(delta), 0, 255).astype("uint8")


def contrast(faces, factor):
    """Scales each face's pixels about its own mean by `factor` (< 1 flatter, > 1 harsher), clipped.

    >>> contrast(np.array([[[[100], [200]]]], "uint8"), 0.5)[..., 0].tolist()
    [[[125, 175]]]
    """
    _check(factor, "factor", 0, 10)
    faces = _checked_faces(faces)
    mean = faces.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(np.round(mean + factor * (faces - mean)), 0, 255).astype("uint8")


def rotation(faces, degrees):
    """Rotates each face by `degrees` counter-clockwise about its centre, bilinear, borders repeated."""
    _check(degrees, "degrees", -180, 180)
    return _per_face(faces, lambda image: _rotated(image, degrees))


def framing(faces, scale):
    """Frames each face tighter (`scale` < 1: the central `scale` of it, enlarged) or looser (> 1: shrunk, borders repeated).

    `scale=0.8` is a crop that cuts off the forehead and chin; `scale=1.2`
    one with 10% more context on each side than the training faces had.
    """
    _check(scale, "scale", 0.2, 3)
    return _per_face(faces, lambda image: _reframed(image, scale))


def blur(faces, sigma):
    """Gaussian blur of standard deviation `sigma` pixels (out of focus, or a face upscaled from a smaller one)."""
    _check(sigma, "sigma", 0, 20)
    return _per_face(faces, lambda image: image.filter(ImageFilter.GaussianBlur(sigma)))


PERTURBATIONS = {"brightness": brightness, "contrast": contrast, "rotation": rotation, "framing": framing, "blur": blur}


def _check(value, name, low, high):
    if not is_number(value, low, high):
        raise ValueError(f"`{name}` must be a number in [{low}, {high}]. Received: {name}={value!r}")


def _checked_faces(faces):
    faces = np.asarray(faces)
    if faces.ndim != 4 or faces.dtype != np.uint8 or faces.shape[-1] not in (1, 3):
        raise ValueError(f"`faces` must be uint8 (n, height, width, 1 or 3). Received: {faces.dtype} {faces.shape}")
    return faces


def _per_face(faces, change):
    faces = _checked_faces(faces)
    changed = np.empty_like(faces)
    for index, face in enumerate(faces):
        image = Image.fromarray(face[..., 0] if face.shape[-1] == 1 else face)
        result = np.asarray(change(image))
        changed[index] = result[..., None] if face.shape[-1] == 1 else result
    return changed


def _rotated(image, degrees):
    pad = max(image.size) // 2
    padded = _edge_padded(image, pad)
    turned = padded.rotate(degrees, resample=Image.BILINEAR)
    return turned.crop((pad, pad, pad + image.width, pad + image.height))


def _reframed(image, scale):
    width, height = image.size
    if scale < 1:
        left, top = width * (1 - scale) / 2, height * (1 - scale) / 2
        return image.resize((width, height), Image.BILINEAR, box=(left, top, width - left, height - top))
    pad = int(np.ceil(max(width, height) * (scale - 1) / 2))
    padded = _edge_padded(image, pad)
    box = (pad - width * (scale - 1) / 2, pad - height * (scale - 1) / 2)
    return padded.resize((width, height), Image.BILINEAR, box=(*box, box[0] + width * scale, box[1] + height * scale))


def _edge_padded(image, pad):
    array = np.asarray(image)
    widths = ((pad, pad), (pad, pad)) + (((0, 0),) if array.ndim == 3 else ())
    return Image.fromarray(np.pad(array, widths, mode="edge"))
