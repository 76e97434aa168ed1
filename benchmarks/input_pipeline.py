"""Input pipeline speed, in images per second.

- FER2013 image folders (48x48 gray, with augmentation): the first epoch
  includes decoding every PNG and tracing the augmentation; later epochs
  reuse both (their median is printed).
- 224x224 RGB JPEG face crops: JPEG files of synthetic faces written to a
  temporary AffectNet layout (300x300, face box 240x240), cropped and
  resized to 224x224, with augmentation.

    python benchmarks/input_pipeline.py --fer2013 ../shared/data/fer2013
"""

import argparse
import tempfile
import time
from pathlib import Path

from machine import describe
from PIL import Image

from keras_fer.data import load_affectnet, load_fer2013
from keras_fer.data.augment import augmentation
from keras_fer.data.synthetic import make_faces


def epoch_seconds(batches):
    start = time.perf_counter()
    for _ in batches:
        pass
    return time.perf_counter() - start


def report(name, load, batch_size, epochs):
    start = time.perf_counter()
    dataset = load()
    load_seconds = time.perf_counter() - start
    batches = dataset.batches(batch_size, shuffle=True, augmentation=augmentation(seed=0), seed=0)
    first = dataset.num_examples / (load_seconds + epoch_seconds(batches))
    cached = sorted(dataset.num_examples / epoch_seconds(batches) for _ in range(epochs))
    median = cached[len(cached) // 2]
    print(f"| {name} | {dataset.num_examples:,} | {load_seconds:.1f} | {first:,.0f} | {median:,.0f} |", flush=True)


def write_jpeg_faces(folder, count):
    class_names = ("happy", "sad", "angry", "fear", "disgust", "surprise", "neutral", "contempt")
    faces = make_faces(samples_per_class=count // 8, image_size=300, channels=3, seed=0, class_names=class_names)
    rows = ["subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"]
    for index, (image, label) in enumerate(zip(faces.images, faces.labels)):
        Image.fromarray(image).save(folder / f"{index}.jpg", quality=90)
        rows.append(f'{index}.jpg,30,30,240,240,"0;0",{label % 8},0,0')
    (folder / "training.csv").write_text("\n".join(rows) + "\n")
    return folder / "training.csv"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fer2013", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013")
    parser.add_argument("--jpeg-count", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3, help="cached epochs to time (their median is printed)")
    arguments = parser.parse_args()
    print(describe())
    print("| data | images | load + decode (s) | first epoch, with decode (img/s) | cached epochs, median (img/s) |")
    print("|---|---:|---:|---:|---:|")
    if (arguments.fer2013 / "train").is_dir():
        report("FER2013 train folders, 48x48 gray", lambda: load_fer2013(arguments.fer2013, "train"), arguments.batch_size, arguments.epochs)
    else:
        print(f"| FER2013: {arguments.fer2013}/train not found, skipped | | | | |")
    with tempfile.TemporaryDirectory() as folder:
        csv_path = write_jpeg_faces(Path(folder), arguments.jpeg_count)
        report(
            "JPEG face crops, 224x224 RGB",
            lambda: load_affectnet(csv_path, folder, image_size=(224, 224)),
            arguments.batch_size,
            arguments.epochs,
        )


if __name__ == "__main__":
    main()
