"""Inference latency and throughput of every export format, on one CPU thread.

Exports a model (a `.keras` file, or the `fer2013` preset with its initial
weights: speed does not depend on them) to SavedModel and TFLite float32 /
float16 / int8, then prints, per format, the median ms per face at batch 1,
images/second at batch 64 (TFLite runs a batch as 64 single-face calls: its
export has a batch of 1) and the file size.

    python benchmarks/inference.py                    # fer2013 preset
    python benchmarks/inference.py --model runs/fer2013/model.keras

`--photos` instead times `Recognizer.analyze` end to end on a real photo
(matplotlib's `grace_hopper.jpg`, one face, at 640x480 and 256x256):
detection, alignment and classification, ms per photo and where they go,
for the Keras model, the shipped TFLite twin that `Recognizer` runs by
default (when `--model` is a shipped name or absent) and each TFLite
variant, with BlazeFace and Haar, on `--threads` threads (TensorFlow's and
LiteRT's); then `predict_faces` on 64 crops at once (faces/s) and on one
(ms, split into resizing, the classifier and the rest); then, when
the `fer` package is installed, its `detect_emotions` and ours in turns
(`--rounds`), with the ratios.

    python benchmarks/inference.py --photos --threads 1

`--compare OTHER.keras` instead times the int8 TFLite exports of `--model`
and OTHER against each other: the two run in turns (`--rounds` rounds of
`--repeats` single-face calls each, the median round counts), so a machine
whose speed drifts by 20% within minutes still gives a fair ratio.

    python benchmarks/inference.py --model a.keras --compare b.keras
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

import keras  # noqa: E402
import numpy as np  # noqa: E402
from machine import describe  # noqa: E402

from keras_fer.data.synthetic import make_faces  # noqa: E402
from keras_fer.export import LiteRTModel, export_saved_model, export_tflite_variants  # noqa: E402
from keras_fer.models import WEIGHTS, from_preset  # noqa: E402


def median_seconds(function, repeats):
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def size_mb(path):
    path = Path(path)
    files = path.rglob("*") if path.is_dir() else [path]
    return sum(f.stat().st_size for f in files if f.is_file()) / 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help=".keras file (default: the fer2013 preset; with --photos a shipped name too, default ferplus)")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--compare", help="a second .keras file: time both int8 exports in turns")
    parser.add_argument("--rounds", type=int, help="rounds of --compare (default 15) and of --photos' comparison with fer (default 150)")
    parser.add_argument("--photos", action="store_true", help="time Recognizer.analyze on photos instead")
    parser.add_argument("--threads", type=int, default=1, help="threads of --photos")
    arguments = parser.parse_args()
    if arguments.photos:
        tf.config.threading.set_intra_op_parallelism_threads(arguments.threads)
        time_photos(arguments.model, arguments.threads, arguments.repeats, 150 if arguments.rounds is None else arguments.rounds)
        return
    if arguments.model:
        model = keras.models.load_model(WEIGHTS[arguments.model].path if arguments.model in WEIGHTS else arguments.model)
    else:
        model = from_preset("fer2013", seed=0)
    height, width, channels = model.input_shape[1:]
    faces = make_faces(40, image_size=height, channels=channels, seed=0).images
    if arguments.compare:
        rounds = 15 if arguments.rounds is None else arguments.rounds
        compare_int8(model, keras.models.load_model(arguments.compare), faces, rounds, arguments.repeats)
        return
    one, batch = faces[:1], faces[:64]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        keras_file = folder / "model.keras"
        model.save(keras_file)
        saved = tf.saved_model.load(str(export_saved_model(model, folder / "saved_model")))
        runners = {
            "keras": (lambda x: model.predict_on_batch(x.astype("float32")), keras_file),
            "savedmodel": (lambda x: saved.serve(tf.constant(x)).numpy(), folder / "saved_model"),
        }
        for quantize, path in export_tflite_variants(model, folder, representative_images=faces).items():
            runners[f"tflite {quantize}"] = (LiteRTModel(path, num_threads=1).predict, path)
        print(describe())
        print(f"model {model.name}, input {height}x{width}x{channels}, one CPU thread")
        print("| format | ms/face (batch 1) | img/s (batch 64) | size (MB) |")
        print("|---|---:|---:|---:|")
        for name, (run, path) in runners.items():
            latency = median_seconds(lambda run=run: run(one), arguments.repeats)
            throughput = 64 / median_seconds(lambda run=run: run(batch), max(arguments.repeats // 10, 3))
            print(f"| {name} | {latency * 1e3:.2f} | {throughput:.0f} | {size_mb(path):.2f} |", flush=True)


def time_photos(model_path, threads, repeats, rounds):
    """Prints ms per photo of `Recognizer.analyze`, split into its steps, and batched faces/s."""
    import cv2
    from matplotlib import cbook
    from PIL import Image

    from keras_fer.export.exporters import QUANTIZATIONS
    from keras_fer.inference import Recognizer
    from keras_fer.inference.blazeface import BlazeFaceDetector
    from keras_fer.inference.classifiers import Classifier, load_classifier
    from keras_fer.inference.detection import MIN_FACE_SIZE, HaarFaceDetector
    from keras_fer.inference.recognizer import read_rgb

    portrait = np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB"))[44:556, :512]
    wide = np.full((480, 640, 3), 128, "uint8")
    wide[:, 80:560] = np.asarray(Image.fromarray(portrait).resize((480, 480)))
    photos = {"640x480": wide, "256x256": np.asarray(Image.fromarray(portrait).resize((256, 256)))}
    cv2.setNumThreads(threads)  # Haar's
    shipped = model_path is None or model_path in WEIGHTS  # a shipped name: also time the TFLite twin Recognizer runs by default
    keras_model = load_classifier(model_path, "keras") if shipped else load_classifier(model_path)
    model = keras_model.model
    detectors = {
        "blazeface": BlazeFaceDetector(min_size=MIN_FACE_SIZE, num_threads=threads),
        "haar": HaarFaceDetector(),
        "haar, fer's settings": HaarFaceDetector(scale_factor=1.1, min_neighbors=5, min_size=50),
    }
    crops = None
    print(describe())
    print(f"Recognizer.analyze on grace_hopper.jpg (one face), {threads} thread(s), median of {repeats} calls, ms")
    print("| classifier | detector | photo | analyze | detect | crop + classify |\n|---|---|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        classifiers = {"keras": keras_model} | ({"shipped twin (default)": load_classifier(model_path, num_threads=threads)} if shipped else {})
        faces = make_faces(50, image_size=model.input_shape[1], channels=model.input_shape[3], seed=0).images
        for quantize, path in export_tflite_variants(model, folder, QUANTIZATIONS, representative_images=faces[:300]).items():
            runner = LiteRTModel(path, num_threads=threads)
            classifiers[f"tflite {quantize}"] = Classifier(runner.predict, runner.input_shape, keras_model.class_names, path)
        for name, classifier in classifiers.items():
            for detector_name, detector in detectors.items():
                recognizer = Recognizer(classifier, detector=detector)
                for size, photo in photos.items():
                    found = recognizer.detect(photo)
                    assert len(found) == 1, (name, detector_name, size, len(found))
                    total = median_seconds(lambda r=recognizer, p=photo: r.analyze(p), repeats)
                    detect = median_seconds(lambda r=recognizer, p=photo: r.detect(read_rgb(p)), repeats)
                    rest = median_seconds(lambda r=recognizer, p=photo, f=found[0]: r.predict_faces([r.face_crop(p, f)]), repeats)
                    print(f"| {name} | {detector_name} | {size} | {total * 1e3:.2f} | {detect * 1e3:.2f} | {rest * 1e3:.2f} |", flush=True)
            recognizer = Recognizer(classifier)
            crops = crops if crops is not None else [recognizer.face_crop(photos["640x480"], recognizer.detect(photos["640x480"])[0])] * 64
            seconds = median_seconds(lambda r=recognizer, c=crops: r.predict_faces(c), max(repeats // 10, 3))
            print(f"{name}: predict_faces of 64 crops {64 / seconds:.0f} faces/s", flush=True)
            crop = crops[0]
            prepare = median_seconds(lambda r=recognizer, c=crop: r._prepare(c), repeats * 10)
            prepared = recognizer._prepare(crop)[None]
            call = median_seconds(lambda k=classifier, x=prepared: k(x), repeats * 10)
            whole = median_seconds(lambda r=recognizer, c=crop: r.predict_faces([c]), repeats * 10)
            split = f"resize {prepare * 1e3:.3f}, classifier {call * 1e3:.3f}, the rest {(whole - prepare - call) * 1e3:.3f}"
            print(f"{name}: predict_faces of one crop {whole * 1e3:.3f} ms: {split}", flush=True)
    twin = classifiers.get("shipped twin (default)", keras_model)
    ours = {
        f"keras-fer: Recognizer({'' if shipped else 'MODEL'}).analyze (BlazeFace)": Recognizer(twin, detector=detectors["blazeface"]),
        "keras-fer: the same, Haar with fer's settings": Recognizer(twin, detector=detectors["haar, fer's settings"]),
    }
    time_fer(photos, ours, rounds)


def time_fer(photos, ours, rounds):
    """`fer`'s one-call API against `ours` ({name: Recognizer}) on the same photos, when `fer` is installed (`pip install --no-deps fer`).

    The calls run in turns, `rounds` times, so drift of the machine's speed
    falls on all alike; prints each one's median ms and its ratio to `fer`'s.
    """
    import sys
    import types

    try:
        import pkg_resources  # noqa: F401  fer imports it; setuptools 81 and later no longer ship it
    except ImportError:
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda package, path: str(Path(sys.modules[package].__file__).parent / path)
        sys.modules["pkg_resources"] = shim
    try:
        from fer.fer import FER
    except ImportError as error:
        print(f"fer not compared: {error} (pip install --no-deps fer)")
        return
    baseline = "fer: FER().detect_emotions (Haar, min 50 px)"
    fers = {baseline: FER(), "fer: FER(use_tflite=True).detect_emotions": FER(use_tflite=True)}
    print(f"\nAgainst fer, in turns ({rounds} rounds), median ms per call and the ratio to `{baseline}`")
    print("| call | photo | ms | ratio |\n|---|---|---:|---:|")
    for size, photo in photos.items():
        bgr = np.ascontiguousarray(photo[..., ::-1])  # fer takes OpenCV's BGR
        calls = {name: (lambda d=detector, b=bgr: d.detect_emotions(b)) for name, detector in fers.items()}
        calls |= {name: (lambda r=recognizer, p=photo: r.analyze(p)) for name, recognizer in ours.items()}
        assert all(len(call()) == 1 for call in calls.values()), size
        times = {name: [] for name in calls}
        names = list(calls)
        for turn in range(rounds):
            for name in names[turn % len(names) :] + names[: turn % len(names)]:  # each call follows each other in turn
                start = time.perf_counter()
                calls[name]()
                times[name].append(time.perf_counter() - start)
        medians = {name: float(np.median(seconds)) for name, seconds in times.items()}
        for name, seconds in medians.items():
            print(f"| {name} | {size} | {seconds * 1e3:.2f} | {seconds / medians[baseline]:.3f}x |", flush=True)


def compare_int8(model, other, faces, rounds, repeats):
    """Prints the int8 ms/face of `model` and `other`, timed in turns, and their ratio."""
    with tempfile.TemporaryDirectory() as folder:
        runners = []
        for index, candidate in enumerate((model, other)):
            paths = export_tflite_variants(candidate, Path(folder) / str(index), ("int8",), representative_images=faces)
            runners.append(LiteRTModel(paths["int8"], num_threads=1).predict)
        one = faces[:1]
        rounds_ms = [[], []]
        for _ in range(rounds):
            for index, run in enumerate(runners):
                rounds_ms[index].append(median_seconds(lambda run=run: run(one), repeats) * 1e3)
    first, second = (float(np.median(times)) for times in rounds_ms)
    print(f"int8 TFLite, one CPU thread, {rounds} rounds of {repeats} calls in turns, median round")
    print(f"| model | ms/face (batch 1) |\n|---|---:|\n| {model.name} (--model) | {first:.3f} |\n| {other.name} (--compare) | {second:.3f} |")
    print(f"--compare / --model: {second / first:.3f}x")


if __name__ == "__main__":
    main()
