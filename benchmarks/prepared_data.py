"""Prepared, streamed datasets against the in-memory path, on a generated AffectNet layout larger than memory.

Writes N synthetic faces (drawn at 56x56, scaled up) as 224x224 RGB JPEG files with an AffectNet-style
annotation CSV into a temporary folder (never into the repo), then prints:

1. `keras-fer prepare` at 224x224x3 (PNG shards): seconds, images/s, MiB on disk;
2. peak resident memory (`ru_maxrss`) of `keras-fer train` with the `paper`
   preset for `--steps` steps, streamed from the prepared folder, at two
   dataset sizes (the first quarter of the rows, and all), and its speed;
3. input-pipeline throughput with augmentation, streamed against
   `FERDataset.batches` on the same images decoded into memory, at 48x48x1
   and 224x224x3 (the in-memory side on a subset that fits).

    python benchmarks/prepared_data.py --images 60000 --work /tmp/fer-bench

Decoded, 60,000 faces at 224x224x3 are 9.0 GB as one NumPy array.
"""

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import describe
from PIL import Image

HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"


def generate(root, count, chunk=500):
    """Writes `count` synthetic 224x224 RGB faces as JPEG and `training.csv` / `validation.csv`; returns seconds."""
    from keras_fer.data.synthetic import make_faces

    if (root / "training.csv").is_file() and len((root / "training.csv").read_text().splitlines()) == count + 1:
        return 0.0
    start = time.perf_counter()
    rows = []
    for first in range(0, count, chunk):
        # Drawn at 56x56 and scaled up: `make_faces` at 224 takes 27 ms a face, which would make this part 27 minutes.
        faces = make_faces(chunk // 7 + 1, image_size=56, channels=3, seed=first)
        order = np.random.default_rng(first).permutation(len(faces.labels))[: min(chunk, count - first)]
        folder = root / "images" / f"{first // chunk:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        for offset, index in enumerate(order):
            name = f"{folder.name}/{first + offset:06d}.jpg"
            Image.fromarray(faces.images[index]).resize((224, 224), Image.BICUBIC).save(root / "images" / name, quality=90)
            # AffectNet's expression codes: 0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger.
            expression = (6, 5, 4, 1, 2, 3, 0)[int(faces.labels[index])]
            rows.append(f"{name},0,0,224,224,,{expression},0,0")
    (root / "training.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    (root / "quarter.csv").write_text("\n".join([HEADER, *rows[: count // 4]]) + "\n")
    (root / "validation.csv").write_text("\n".join([HEADER, *rows[:256]]) + "\n")
    return time.perf_counter() - start


def prepare_split(root, output, csv_name, size, channels):
    from keras_fer.data.prepared import prepare
    from keras_fer.training import load_config

    data = load_config("synthetic", ["data.dataset=affectnet", f"data.path={root / 'images'}", "data.options={num_classes: 7}"]).data
    start = time.perf_counter()
    manifest = prepare(data, output, size, channels, splits=[str(root / csv_name), str(root / "validation.csv")])
    seconds = time.perf_counter() - start
    entry = manifest["splits"][str(root / csv_name)]
    megabytes = sum(shard["bytes"] for shard in entry["shards"]) / 2**20
    return manifest, entry["examples"], seconds, megabytes


TRAIN = """
import sys, time, json
from keras_fer.cli import main
start = time.perf_counter()
code = main(sys.argv[1:])
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and exec.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"code": code, "seconds": time.perf_counter() - start, "peak_mib": peak / 1024}))
"""


def train_peak(prepared, csv_path, steps, batch_size, run_dir):
    """`keras-fer train` of the paper preset for `steps` steps in a fresh process: (peak MiB, seconds, images/s)."""
    shutil.rmtree(run_dir, ignore_errors=True)
    settings = {
        "data.prepared": prepared,
        "data.train_split": csv_path,
        "data.validation_split": str(Path(csv_path).with_name("validation.csv")),
        "training.steps_per_epoch": steps,
        "training.epochs": 1,
        "training.batch_size": batch_size,
        "training.mixed_precision": "null",  # float16 is emulated, slowly, on CPUs
    }
    arguments = ["train", "affectnet", "--output", str(run_dir), *[a for k, v in settings.items() for a in ("--set", f"{k}={v}")]]
    result = subprocess.run([sys.executable, "-c", TRAIN, *arguments], capture_output=True, text=True)
    if result.returncode != 0 or not result.stdout.strip():
        raise SystemExit(result.stderr[-3000:])
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    if outcome["code"] != 0:
        raise SystemExit(result.stderr[-3000:])
    history = (run_dir / "history.csv").read_text()
    return outcome["peak_mib"], outcome["seconds"], history


def pipeline_rate(dataset, batch_size, batches, augment):
    """Images per second of `dataset.batches` with augmentation over `batches` batches, after 5 warm-up batches."""
    iterator = iter(dataset.batches(batch_size, shuffle=True, augmentation=augment, seed=0, drop_remainder=True))
    for _ in range(5):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=60000, help="faces to generate (default 60000: 9.0 GB decoded)")
    parser.add_argument("--work", help="folder for the generated data (default: a new temporary folder, removed at the end)")
    parser.add_argument("--steps", type=int, default=24, help="training steps of the memory measurement")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--in-memory", type=int, default=20000, help="faces decoded into memory for the 48x48 baseline")
    parser.add_argument("--skip", nargs="*", default=(), choices=("train", "pipeline"), help="parts not to run")
    arguments = parser.parse_args()

    work = Path(arguments.work or tempfile.mkdtemp(prefix="keras-fer-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {describe()}; {arguments.images:,} faces in {work}", flush=True)
    seconds = generate(work, arguments.images)
    gigabytes = arguments.images * 224 * 224 * 3 / 1e9
    print(f"generated in {seconds:.0f} s; {gigabytes:.1f} GB decoded at 224x224x3", flush=True)

    print("\n| prepared | images | seconds | images/s | MiB on disk |\n|---|---:|---:|---:|---:|")
    prepared = {}
    for name, csv_name, size, channels in (("all 224x224x3", "training.csv", (224, 224), 3), ("quarter 224x224x3", "quarter.csv", (224, 224), 3)):
        output = work / f"prepared-{csv_name[:-4]}-{size[0]}"
        manifest, count, seconds, megabytes = prepare_split(work, output, csv_name, size, channels)
        prepared[csv_name] = output
        print(f"| {name} ({manifest['encoding']}) | {count:,} | {seconds:.0f} | {count / max(seconds, 1e-9):,.0f} | {megabytes:,.0f} |", flush=True)

    if "train" not in arguments.skip:
        print(f"\n| keras-fer train, paper preset, {arguments.steps} steps of {arguments.batch_size} | training images | peak RSS (MiB) | seconds |")
        print("|---|---:|---:|---:|")
        for csv_name in ("quarter.csv", "training.csv"):
            rows = len((work / csv_name).read_text().splitlines()) - 1
            peak, seconds, _ = train_peak(prepared[csv_name], str(work / csv_name), arguments.steps, arguments.batch_size, work / "run")
            print(f"| streamed from {prepared[csv_name].name} | {rows:,} | {peak:,.0f} | {seconds:.0f} |", flush=True)

    if "pipeline" not in arguments.skip:
        from keras_fer.data import load_affectnet, load_prepared
        from keras_fer.data.augment import augmentation

        print("\n| input pipeline with augmentation | images | in memory (img/s) | streamed (img/s) | ratio |\n|---|---:|---:|---:|---:|")
        subset = work / "subset.csv"
        lines = (work / "training.csv").read_text().splitlines()
        for size, channels, count in (((48, 48), 1, arguments.in_memory), ((224, 224), 3, 3000)):
            subset.write_text("\n".join(lines[: count + 1]) + "\n")
            in_memory = load_affectnet(subset, work / "images", num_classes=7, image_size=size, channels=channels)
            output = work / f"prepared-subset-{size[0]}-{count}"
            prepare_split(work, output, "subset.csv", size, channels)
            streamed = load_prepared(output, str(subset))
            batches = min(150, count // arguments.batch_size - 6)
            memory_rate = pipeline_rate(in_memory, arguments.batch_size, batches, augmentation(seed=0))
            stream_rate = pipeline_rate(streamed, arguments.batch_size, batches, augmentation(seed=0))
            print(
                f"| {size[0]}x{size[1]}x{channels} | {count:,} | {memory_rate:,.0f} | {stream_rate:,.0f} | {stream_rate / memory_rate:.2f} |",
                flush=True,
            )
            del in_memory
    print(f"\nbenchmark process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    if not arguments.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
