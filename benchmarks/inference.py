"""Inference latency and throughput of every export format, on one CPU thread.

Exports a model (a `.keras` file, or the `fer2013` preset with its initial
weights: speed does not depend on them) to SavedModel and TFLite float32 /
float16 / int8, then prints, per format, the median ms per face at batch 1,
images/second at batch 64 (TFLite runs a batch as 64 single-face calls: its
export has a batch of 1) and the file size.

    python benchmarks/inference.py                    # fer2013 preset
    python benchmarks/inference.py --model runs/fer2013/model.keras

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

from keras_fer.data.synthetic import make_faces  # noqa: E402
from keras_fer.export import LiteRTModel, export_saved_model, export_tflite_variants  # noqa: E402
from keras_fer.models import from_preset  # noqa: E402


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
    parser.add_argument("--model", help=".keras file (default: the fer2013 preset)")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--compare", help="a second .keras file: time both int8 exports in turns")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of --compare")
    arguments = parser.parse_args()
    model = keras.models.load_model(arguments.model) if arguments.model else from_preset("fer2013", seed=0)
    height, width, channels = model.input_shape[1:]
    faces = make_faces(40, image_size=height, channels=channels, seed=0).images
    if arguments.compare:
        compare_int8(model, keras.models.load_model(arguments.compare), faces, arguments.rounds, arguments.repeats)
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
        print(f"model {model.name}, input {height}x{width}x{channels}, one CPU thread")
        print("| format | ms/face (batch 1) | img/s (batch 64) | size (MB) |")
        print("|---|---:|---:|---:|")
        for name, (run, path) in runners.items():
            latency = median_seconds(lambda run=run: run(one), arguments.repeats)
            throughput = 64 / median_seconds(lambda run=run: run(batch), max(arguments.repeats // 10, 3))
            print(f"| {name} | {latency * 1e3:.2f} | {throughput:.0f} | {size_mb(path):.2f} |", flush=True)


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
