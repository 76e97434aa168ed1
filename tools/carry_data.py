"""Packs FER2013's image folders into one file that fits on the lent GPU machine, and unpacks it there.

The device tool carries the working tree and at most 64 MiB in all; `../shared`
does not travel. FER2013's 32,137 PNGs hold 78 MB, their pixels 74 MB. Each
pixel is stored as its difference from the median-edge prediction of its
left, upper and upper-left neighbours (JPEG-LS's predictor), and the whole
is xz-compressed: about 48 MB, lossless (`pack` checks the round trip).
`unpack` writes the same image folders back, for `keras-fer train --data`.
The packed file goes in a git-ignored folder, is carried, and is deleted
after the run: it is never committed.

    python tools/carry_data.py pack ../shared/data/fer2013 .carry/fer2013.xz
    python tools/carry_data.py unpack .carry/fer2013.xz /tmp/fer2013
"""

import argparse
import io
import lzma
from pathlib import Path

import numpy as np
from PIL import Image

SPLITS = ("train", "val")


def read_split(folder):
    """`(images (n, h, w) uint8, class indices, file names, class names)` of `folder/<class>/*.png`."""
    class_names = sorted(path.name for path in folder.iterdir() if path.is_dir())
    files = [(index, path) for index, name in enumerate(class_names) for path in sorted((folder / name).glob("*.png"))]
    images = np.stack([np.asarray(Image.open(path).convert("L")) for _, path in files])
    labels = np.array([index for index, _ in files], dtype="int16")
    return images, labels, np.array([path.name for _, path in files]), np.array(class_names)


def predictions(left, up, up_left):
    """The median-edge predictor: min or max of `left` and `up` at an edge, else the plane through the three."""
    low, high = np.minimum(left, up), np.maximum(left, up)
    return np.where(up_left >= high, low, np.where(up_left <= low, high, left + up - up_left))


def residuals(images):
    """Each pixel minus its prediction from the pixels before it, modulo 256."""
    pixels = images.astype("int16")
    left, up, up_left = (np.zeros_like(pixels) for _ in range(3))
    left[:, :, 1:], up[:, 1:, :], up_left[:, 1:, 1:] = pixels[:, :, :-1], pixels[:, :-1, :], pixels[:, :-1, :-1]
    predicted = predictions(left, up, up_left)
    predicted[:, 0, :], predicted[:, 1:, 0] = left[:, 0, :], up[:, 1:, 0]
    return ((pixels - predicted) % 256).astype("uint8")


def restore(differences):
    """The inverse of `residuals`, one pixel position at a time over all images."""
    count, height, width = differences.shape
    pixels = np.zeros((count, height + 1, width + 1), dtype="int16")  # a zero row and column before the image
    for row in range(1, height + 1):
        for column in range(1, width + 1):
            left, up, up_left = pixels[:, row, column - 1], pixels[:, row - 1, column], pixels[:, row - 1, column - 1]
            if row == 1:
                predicted = left
            elif column == 1:
                predicted = up
            else:
                predicted = predictions(left, up, up_left)
            pixels[:, row, column] = (predicted + differences[:, row - 1, column - 1]) % 256
    return pixels[:, 1:, 1:].astype("uint8")


def pack(source, destination):
    arrays = {}
    for split in SPLITS:
        images, labels, names, class_names = read_split(Path(source) / split)
        if not np.array_equal(restore(residuals(images)), images):
            raise RuntimeError(f"{split}: the packed pixels do not restore the images")
        arrays.update({f"{split}_residuals": residuals(images), f"{split}_labels": labels, f"{split}_names": names, f"{split}_classes": class_names})
        print(f"{split}: {len(images):,} images of {len(class_names)} classes")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    Path(destination).write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    print(f"{destination}: {Path(destination).stat().st_size / 2**20:.1f} MiB")


def unpack(source, destination):
    arrays = np.load(io.BytesIO(lzma.decompress(Path(source).read_bytes())))
    for split in SPLITS:
        images, classes = restore(arrays[f"{split}_residuals"]), arrays[f"{split}_classes"]
        for image, label, name in zip(images, arrays[f"{split}_labels"], arrays[f"{split}_names"]):
            folder = Path(destination) / split / str(classes[label])
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / str(name))
        print(f"{Path(destination) / split}: {len(images):,} images")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("pack", "unpack"))
    parser.add_argument("source", type=Path, help="pack: the FER2013 folder (train/, val/); unpack: the packed file")
    parser.add_argument("destination", type=Path, help="pack: the packed file; unpack: the folder to write")
    arguments = parser.parse_args()
    (pack if arguments.action == "pack" else unpack)(arguments.source, arguments.destination)


if __name__ == "__main__":
    main()
