"""Where a training step's time goes, on TensorFlow, and what fusing batch norm saves.

Times `model.fit` of a preset (batch 64 of random pixels, Adam,
`ClassBalancedLoss`, XLA off as `keras-fer train` on a CPU) built as usual,
with `keras_fer.layers.BatchNormalization`, and the same network with every batch norm
on Keras' own ops, in turns (`--rounds` fits of `--timed-steps` batches
each, the first not counted), and prints img/s and the ratio. Then profiles
`--steps` steps of each with TensorFlow's profiler and sums the time of the
kernels they ran, per step, by the part of the network that each belongs to
(the layer in its name) and by forward pass, gradient and optimizer; then
by kernel. The kernels of the two inter-op threads overlap, so the sum
exceeds the step's wall time; the shares are what to read.

    python benchmarks/train_step_profile.py --preset fer2013
"""

import argparse
import collections
import re
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from machine import describe
from train_throughput import BatchTimer, random_batches

from keras_fer import layers
from keras_fer.losses import ClassBalancedLoss
from keras_fer.models import PRESETS, from_preset

LABELS = {"keras": "Keras' ops", "fused": "`keras_fer.layers.BatchNormalization`"}
PARTS = ("convolutions", "batch norm", "CBAM", "mixing heads", "rest of the network and the loss", "optimizer")


def compiled(preset, fused=True):
    keras.utils.set_random_seed(0)
    model = from_preset(preset)
    if not fused:
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, layers.BatchNormalization):
                layer._fused = lambda *arguments: False  # Keras' ops, read when the step is traced
    model.compile("adam", ClassBalancedLoss([100] * model.output_shape[-1]), jit_compile=False)
    return model


def part(scope, model_name):
    """The row of `PARTS` that a kernel's scope belongs to."""
    if re.search(r"/adam(_\d+)?/", scope):
        return "optimizer"
    match = re.search(re.escape(model_name) + r"(?:_\d+)?/([^/]+)", scope)
    layer = re.sub(r"_\d+$", "", match.group(1)) if match else ""
    if layer.endswith("_cbam"):
        return "CBAM"
    if layer.startswith(("mu_", "log_var_", "uncertainty_mixing")):
        return "mixing heads"
    if layer.endswith("_conv"):
        return "convolutions"
    if layer.endswith("_bn"):
        return "batch norm"
    return "rest of the network and the loss"


def kernel_times(model, dataset, steps):
    """Milliseconds per step of each (part, pass, kernel), from a profile of `steps` steps."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        model.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0)
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    times = collections.Counter()
    for plane in space.planes:
        names = plane.event_metadata
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = names[event.metadata_id].name
                scope, _, kernel = name.rpartition(":")
                if not scope or "::" in name:  # the executor's and thread pools' own events, not kernels
                    continue
                where = part(scope, model.name)
                phase = "optimizer" if where == "optimizer" else "gradient" if "gradient_tape/" in scope else "forward"
                times[where, phase, kernel] += event.duration_ps / 1e9 / steps
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="fer2013", choices=sorted(PRESETS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="profiled steps")
    parser.add_argument("--rounds", type=int, default=8, help="timed fits of each network, in turns")
    parser.add_argument("--timed-steps", type=int, default=5, help="timed batches per fit")
    arguments = parser.parse_args()
    print(f"{describe()}, TensorFlow {tf.__version__}, Keras {keras.__version__}")
    models = {"fused": compiled(arguments.preset), "keras": compiled(arguments.preset, fused=False)}
    dataset = random_batches(models["fused"], arguments.batch_size)
    for model in models.values():
        model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)  # traced, warm

    seconds = {name: [] for name in models}
    for _ in range(arguments.rounds):
        for name, model in models.items():
            timer = BatchTimer()
            model.fit(dataset, steps_per_epoch=arguments.timed_steps + 1, epochs=1, verbose=0, callbacks=[timer])
            seconds[name] += timer.seconds[1:]
    medians = {name: float(np.median(values)) for name, values in seconds.items()}
    print(f"\nIn turns, {arguments.rounds} rounds of {arguments.timed_steps} timed steps:\n")
    print("| batch norm | img/s | speed vs Keras' ops |\n|---|---:|---:|")
    for name, label in LABELS.items():
        print(f"| {label} | {arguments.batch_size / medians[name]:.1f} | {medians['keras'] / medians[name]:.3f}x |")

    for name, label in LABELS.items():
        print_profile(f"`{arguments.preset}` with {label}, batch {arguments.batch_size}", kernel_times(models[name], dataset, arguments.steps))


def print_profile(title, times):
    total = sum(times.values())
    print(f"\n{title}, kernel time per step (ms):\n")
    print("| part | forward | gradient | optimizer | all | share |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in PARTS:
        by_phase = {phase: sum(v for (p, f, _), v in times.items() if p == name and f == phase) for phase in ("forward", "gradient", "optimizer")}
        row = sum(by_phase.values())
        print(f"| {name} | {by_phase['forward']:.1f} | {by_phase['gradient']:.1f} | {by_phase['optimizer']:.1f} | {row:.1f} | {row / total:.1%} |")
    print(f"| all | | | | {total:.1f} | |")
    kernels = collections.Counter()
    for (_, _, kernel), value in times.items():
        kernels[kernel] += value
    print("\n| kernel | ms per step | share |\n|---|---:|---:|")
    for kernel, value in kernels.most_common(12):
        print(f"| `{kernel}` | {value:.1f} | {value / total:.1%} |")


if __name__ == "__main__":
    main()
