"""Training throughput of the ResNet18 presets, in images per second.

For each preset, compiles the same ResNet18 plain, with CBAM only, with
mixing only and with both (the preset as shipped), with XLA on and off, in
one process, and times the batches of `model.fit` on random pixels (batch 64
by default) with a callback. The variants take turns: `--rounds` rounds of
one short `fit` each, so that the machine's drift during the run (±20% on a
shared 2-core VM) falls on all of them alike. The first batch of every `fit`
is not counted. Prints the median images/second, the ratio of each median
step time to the plain model's and the seconds one FER2013 epoch (28,558
training images) would take.

    python benchmarks/train_throughput.py --presets fer2013 tiny --xla on
    KERAS_BACKEND=jax python benchmarks/train_throughput.py --presets fer2013 paper --xla on \
        --mixed-precision mixed_bfloat16 --variants cbam+mixing    # tools/gpu_bench.sh, on a GPU
"""

import argparse
import time

import keras
import numpy as np
from machine import describe
from parameter_counts import trainable_parameters

from keras_fer.losses import ClassBalancedLoss
from keras_fer.models import PRESETS, from_preset

FER2013_TRAIN_IMAGES = 28_558
VARIANTS = (
    ("plain", {"attention": None, "uncertainty_mixing": False}),
    ("cbam", {"uncertainty_mixing": False}),
    ("mixing", {"attention": None}),
    ("cbam+mixing", {}),
)


class BatchTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_train_batch_begin(self, batch, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


class RepeatedBatch(keras.utils.PyDataset):
    """One batch, forever, for backends without `tf.data`."""

    def __init__(self, batch):
        super().__init__()
        self.batch = batch

    @property
    def num_batches(self):
        return None

    def __getitem__(self, index):
        return self.batch


def random_batches(model, batch_size):
    height, width, channels = model.input_shape[1:]
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size, height, width, channels)).astype("float32")
    labels = rng.integers(0, model.output_shape[-1], batch_size)
    if keras.backend.backend() != "tensorflow":
        return RepeatedBatch((images, labels))
    import tensorflow as tf

    return tf.data.Dataset.from_tensors((images, labels)).repeat().prefetch(2)


def devices():
    if keras.backend.backend() != "tensorflow":
        return keras.distribution.list_devices()
    import tensorflow as tf

    return [device.device_type for device in tf.config.list_physical_devices()]


def step_seconds(models, dataset, rounds, steps):
    """Per model, the batch times of `rounds` fits of `steps + 1` batches, taken in turns."""
    seconds = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            timer = BatchTimer()
            model.fit(dataset, steps_per_epoch=steps + 1, epochs=1, verbose=0, callbacks=[timer], shuffle=False)
            seconds[name] += timer.seconds[1:]
    return seconds


def compiled_variants(preset, overrides, jit_compile, only=None):
    models = {}
    for variant, variant_overrides in VARIANTS:
        if only and variant != "plain" and variant not in only:
            continue
        model = from_preset(preset, **overrides, **variant_overrides)
        num_classes = model.output_shape[-1]
        model.compile("adam", ClassBalancedLoss([100] * num_classes), jit_compile=jit_compile)
        models[variant] = model
    return models


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["fer2013", "tiny"], choices=sorted(PRESETS))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=6, help="fits per variant, taken in turns")
    parser.add_argument("--steps", type=int, default=5, help="timed batches per fit")
    parser.add_argument("--xla", choices=("on", "off", "both"), default="both", help="jit_compile setting(s) to measure")
    parser.add_argument("--width", type=int, help="override the presets' width")
    parser.add_argument("--stem", choices=("imagenet", "compact", "small"), help="override the presets' stem")
    parser.add_argument(
        "--mixed-precision", choices=("mixed_float16", "mixed_bfloat16"), help="Keras dtype policy (as training.mixed_precision); default float32"
    )
    parser.add_argument("--variants", nargs="+", choices=[name for name, _ in VARIANTS], help="only these variants (plain is always timed)")
    arguments = parser.parse_args()
    if arguments.mixed_precision:
        keras.config.set_dtype_policy(arguments.mixed_precision)
    overrides = {key: value for key, value in (("width", arguments.width), ("stem", arguments.stem)) if value is not None}
    policy = keras.config.dtype_policy().name
    print(describe())
    print(f"backend: {keras.backend.backend()}, devices: {devices()}, batch {arguments.batch_size}, dtype policy {policy}")
    print("| preset | variant | XLA | params | img/s | step time vs plain | FER2013 epoch (s) |")
    print("|---|---|---|---:|---:|---:|---:|")
    for preset in arguments.presets:
        for jit_compile in {"on": [True], "off": [False], "both": [True, False]}[arguments.xla]:
            models = compiled_variants(preset, overrides, jit_compile, arguments.variants)
            dataset = random_batches(models["plain"], arguments.batch_size)
            seconds = step_seconds(models, dataset, arguments.rounds, arguments.steps)
            plain_seconds = float(np.median(seconds["plain"]))
            for variant, model in models.items():
                median = float(np.median(seconds[variant]))
                speed = arguments.batch_size / median
                print(
                    f"| {preset} | {variant} | {'on' if jit_compile else 'off'} | "
                    f"{trainable_parameters(model):,} | {speed:.1f} | {median / plain_seconds:.2f}x | "
                    f"{FER2013_TRAIN_IMAGES / speed:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
