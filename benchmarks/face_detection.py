"""Face detectors on FER2013 faces pasted into larger pictures: recall, precision, speed, and expressions end to end.

FER2013's faces are 48x48 crops, so each scene pastes 1 to 4 PublicTest
faces into a 640x480 background, each at a random size (40 to 200 px, log-
uniform) and in-plane rotation (up to 30 degrees either way), never
overlapping. Backgrounds are real non-face data shipped with matplotlib
(two elevation maps, shaded, and an MRI slice), cut at
random places and sizes and tinted, and flat or noise textures. A face's
true box is the square its 48x48 crop covers, upright. Also the one real
photograph installed with a package (matplotlib's portrait of Grace Hopper).

For each detector: recall and precision at IoU 0.5 (one detection per face),
recall by rotation, ms per 640x480 scene on one core, and the expression
accuracy of `Recognizer.analyze`'s crops on the pasted faces (a face not
found counts as wrong) with and without alignment, against the fer2013
model on the original 48x48 crops. BlazeFace's recall is also given at the
score threshold that matches Haar's precision.

    python benchmarks/face_detection.py --data ../shared/data/fer2013 --scenes 300
"""

import argparse
import gzip
import time

import numpy as np
from machine import describe
from matplotlib import cbook

from keras_fer.data import load_fer2013
from keras_fer.inference import Recognizer
from keras_fer.inference.blazeface import BlazeFaceDetector
from keras_fer.inference.detection import MIN_FACE_SIZE, HaarFaceDetector, detected_faces, make_detector
from keras_fer.inference.stream import overlap

SIZE = (480, 640)
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/fer2013", help="the FER2013 folder")
    parser.add_argument("--scenes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    import cv2

    cv2.setNumThreads(1)
    faces = load_fer2013(arguments.data, "val")
    scenes = make_scenes(faces.images[..., 0], faces.labels, arguments.scenes, np.random.default_rng(arguments.seed))
    total = sum(len(scene["faces"]) for scene in scenes)
    print(f"{len(scenes)} scenes of 640x480, {total} pasted FER2013 PublicTest faces; {describe()}")
    recognizer = Recognizer(model="fer2013", runtime="keras", detector=HaarFaceDetector())  # the .keras model, as measured before the twins
    crops = np.stack([face["crop"] for scene in scenes for face in scene["faces"]])
    labels = np.array([face["label"] for scene in scenes for face in scene["faces"]])
    print(f"fer2013 model on the original 48x48 crops of these faces: {np.mean(recognizer.predict_faces(crops).argmax(-1) == labels):.2%}\n")
    detectors = {
        "haar": HaarFaceDetector(),
        "blazeface short, whole image": BlazeFaceDetector("short", 0.3, num_threads=1),
        f'"blazeface" (default): short, tiles to {MIN_FACE_SIZE} px': BlazeFaceDetector("short", 0.3, min_size=MIN_FACE_SIZE, num_threads=1),
        '"blazeface-full": full, whole image': BlazeFaceDetector("full", 0.3, num_threads=1),
    }
    defaults = {name: getattr(detector, "min_score", None) for name, detector in zip(detectors, make_default_detectors())}
    rows, found = [], {}
    for name, detector in detectors.items():
        seconds, found[name] = timed_detections(detector, scenes)
        rows.append((name, defaults[name], seconds))
    print("| detector | min_score | recall | precision | recall 0-10 deg | 10-20 deg | 20-30 deg | ms / scene, 1 core | accuracy aligned | not |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, threshold, seconds in rows:
        kept = [[face for face in faces if face.score is None or face.score >= (threshold or 0)] for faces in found[name]]
        recall, precision, by_angle, matches = matched(scenes, kept)
        accuracies = [expression_accuracy(recognizer, scenes, kept, matches, align) for align in (True, False)]
        aligned = f"{accuracies[0]:.2%}" if name != "haar" else "-"
        print(
            f"| {name} | {threshold or '-'} | {recall:.2%} | {precision:.2%} | {by_angle[0]:.2%} | {by_angle[1]:.2%} | {by_angle[2]:.2%} "
            f"| {seconds * 1000:.1f} | {aligned} | {accuracies[1]:.2%} |"
        )
    haar_precision = matched(scenes, found["haar"])[1]
    for name in list(detectors)[1:]:
        print(f"\n{name}, by min_score (Haar's precision: {haar_precision:.2%}):")
        for threshold in THRESHOLDS:
            kept = [[face for face in faces if face.score >= threshold] for faces in found[name]]
            recall, precision, _, _ = matched(scenes, kept)
            print(f"  {threshold:.1f}: recall {recall:.2%}, precision {precision:.2%}")
    portrait()


def make_default_detectors():
    """The detectors above with their own default `min_score` (`None` for Haar)."""
    return [None, BlazeFaceDetector("short"), make_detector("blazeface"), make_detector("blazeface-full")]


def make_scenes(images, labels, count, rng):
    backgrounds = real_backgrounds()
    return [scene(images, labels, backgrounds, rng) for _ in range(count)]


def scene(images, labels, backgrounds, rng):
    import cv2

    picture = background(backgrounds, rng)
    faces = []
    for _ in range(rng.integers(1, 5)):
        side = int(round(np.exp(rng.uniform(np.log(40), np.log(200)))))
        angle = float(rng.uniform(-30, 30))
        for _ in range(20):
            x, y = int(rng.integers(0, SIZE[1] - side)), int(rng.integers(0, SIZE[0] - side))
            if all(overlap((x, y, side, side), face["box"]) == 0 for face in faces):
                break
        else:
            continue
        index = int(rng.integers(len(images)))
        face = cv2.resize(images[index], (side, side), interpolation=cv2.INTER_LINEAR)
        paste(picture, face, x, y, angle)
        faces.append({"box": (x, y, side, side), "angle": angle, "label": int(labels[index]), "crop": images[index][..., None]})
    return {"image": picture, "faces": faces}


def paste(picture, face, x, y, angle):
    """Pastes the square gray `face` at `(x, y)`, turned by `angle` degrees about its centre."""
    import cv2

    side = face.shape[0]
    matrix = cv2.getRotationMatrix2D((side / 2, side / 2), angle, 1.0)
    turned = cv2.warpAffine(face, matrix, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mask = cv2.warpAffine(np.ones_like(face), matrix, (side, side), flags=cv2.INTER_NEAREST) > 0
    region = picture[y : y + side, x : x + side]
    region[mask] = turned[mask][:, None]


def real_backgrounds():
    """Gray uint8 pictures of real non-face data shipped with matplotlib."""
    pictures = []
    for name in ("jacksboro_fault_dem.npz", "topobathy.npz"):
        with np.load(cbook.get_sample_data(name, asfileobj=False)) as archive:
            pictures.append(shaded(archive[archive.files[0]].astype("float64")))
    with gzip.open(cbook.get_sample_data("s1045.ima.gz", asfileobj=False)) as file:
        pictures.append(stretched(np.frombuffer(file.read(), "<u2").reshape(256, 256).astype("float64")))
    return pictures


def shaded(elevation):
    """Hill shading of an elevation map, light from the north-west."""
    dy, dx = np.gradient(elevation)
    slope = np.pi / 2 - np.arctan(np.hypot(dx, dy) / max(np.ptp(elevation) / 100, 1e-6))
    aspect = np.arctan2(-dx, dy)
    light = np.sin(np.radians(45)) * np.sin(slope) + np.cos(np.radians(45)) * np.cos(slope) * np.cos(np.radians(315) - aspect)
    return stretched(light)


def stretched(values):
    low, high = np.percentile(values, [1, 99])
    return (np.clip((values - low) / max(high - low, 1e-9), 0, 1) * 255).astype("uint8")


def background(backgrounds, rng):
    import cv2

    kind = rng.integers(len(backgrounds) + 2)
    if kind == len(backgrounds):
        gray = np.full(SIZE, rng.integers(30, 220), "uint8")
    elif kind == len(backgrounds) + 1:
        noise = rng.normal(128, 40, (SIZE[0] // 8, SIZE[1] // 8)).clip(0, 255).astype("uint8")
        gray = cv2.resize(noise, SIZE[::-1], interpolation=cv2.INTER_CUBIC)
    else:
        source = backgrounds[kind]
        height, width = source.shape
        side = int(rng.integers(min(height, width) // 2, min(height, width) + 1))
        top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
        gray = cv2.resize(source[top : top + side, left : left + side], SIZE[::-1], interpolation=cv2.INTER_LINEAR)
    tint = rng.uniform(0.7, 1.0, 3)
    return (gray[..., None] * tint).astype("uint8")


def timed_detections(detector, scenes):
    """Median seconds per scene and each scene's detections."""
    found, seconds = [], []
    for item in scenes:
        start = time.perf_counter()
        found.append(detected_faces(detector, item["image"]))
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds)), found


def matched(scenes, found):
    """Recall, precision, recall by rotation (0-10, 10-20, 20-30 degrees) and `{(scene, face): detection}` at IoU 0.5."""
    matches, detections = {}, 0
    for number, (item, faces) in enumerate(zip(scenes, found)):
        detections += len(faces)
        free = list(faces)
        for index, truth in enumerate(item["faces"]):
            best = max(free, key=lambda face: overlap(face.box, truth["box"]), default=None)
            if best is not None and overlap(best.box, truth["box"]) >= 0.5:
                matches[number, index] = best
                free.remove(best)
    truths = [(number, index, abs(face["angle"])) for number, item in enumerate(scenes) for index, face in enumerate(item["faces"])]
    by_angle = []
    for low in (0, 10, 20):
        group = [(number, index) for number, index, angle in truths if low <= angle < low + 10]
        by_angle.append(np.mean([key in matches for key in group]) if group else float("nan"))
    return len(matches) / len(truths), len(matches) / max(detections, 1), by_angle, matches


def expression_accuracy(recognizer, scenes, found, matches, align):
    """Share of all pasted faces found and given their label, crops as `Recognizer.analyze` makes them."""
    recognizer.align = align
    keys = sorted(matches)
    crops = [recognizer.face_crop(scenes[number]["image"], matches[number, index]) for number, index in keys]
    predicted = recognizer.predict_faces(crops).argmax(-1) if crops else []
    right = sum(int(label == scenes[number]["faces"][index]["label"]) for (number, index), label in zip(keys, predicted))
    return right / sum(len(item["faces"]) for item in scenes)


def portrait():
    from PIL import Image

    image = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))
    print("\nmatplotlib's grace_hopper.jpg (one face):")
    for name, detector in (("haar", HaarFaceDetector()), ("blazeface", BlazeFaceDetector("short")), ("blazeface-full", BlazeFaceDetector("full"))):
        faces = detected_faces(detector, image)
        print(f"  {name}: {[(face.box, None if face.score is None else round(face.score, 3)) for face in faces]}")


if __name__ == "__main__":
    main()
