"""Soak test: many short `model.fit` calls in one process, reporting any abort.

Runs `--fits` short fits of a small ResNet18 (CBAM + mixing, the fer2013
preset's architecture at `--width`) in a child process and reports how many
finished, the seconds per fit and, when the child dies, the signal and the
last lines it printed. glibc heap corruption ("corrupted size vs.
prev_size") kills a process with SIGABRT, which the process itself cannot
report; see DEVELOPERS.md. Compare `--onednn on|off` and `--jit on|off`.

    python benchmarks/soak.py --fits 30
    python benchmarks/soak.py --fits 30 --jit off --onednn on
"""

import argparse
import os
import signal
import subprocess
import sys
import time

from machine import describe

CHILD = """
import sys, time
import numpy as np
import keras
from keras_fer.losses import ClassBalancedLoss
from keras_fer.models import from_preset

fits, width, jit = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "on"
rng = np.random.default_rng(0)
images = rng.uniform(0, 255, (256, 48, 48, 1)).astype("float32")
labels = rng.integers(0, 7, 256)
for index in range(fits):
    start = time.perf_counter()
    keras.utils.clear_session(free_memory=False)
    model = from_preset("fer2013", width=width, seed=index)
    model.compile("adam", ClassBalancedLoss([100] * 7), jit_compile=jit)
    model.fit(images, labels, batch_size=64, epochs=1, verbose=0)
    print(f"fit {index + 1}/{fits} {time.perf_counter() - start:.1f} s", flush=True)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fits", type=int, default=30)
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--jit", choices=("on", "off"), default="off")
    parser.add_argument("--onednn", choices=("on", "off", "default"), default="default")
    arguments = parser.parse_args()
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    if arguments.onednn != "default":
        environment["TF_ENABLE_ONEDNN_OPTS"] = "1" if arguments.onednn == "on" else "0"
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(arguments.fits), str(arguments.width), arguments.jit],
        env=environment,
        capture_output=True,
        text=True,
    )
    finished = sum(line.startswith("fit ") for line in result.stdout.splitlines())
    seconds = time.perf_counter() - start
    print(describe())
    print(f"jit {arguments.jit}, oneDNN {arguments.onednn}: {finished}/{arguments.fits} fits in {seconds:.0f} s")
    if result.returncode != 0:
        cause = f"signal {signal.Signals(-result.returncode).name}" if result.returncode < 0 else f"exit {result.returncode}"
        print(f"ABORTED ({cause}) after {finished} fits. Last output:")
        print("\n".join((result.stdout + result.stderr).splitlines()[-15:]))
        sys.exit(1)


if __name__ == "__main__":
    main()
