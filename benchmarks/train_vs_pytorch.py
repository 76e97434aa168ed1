"""Training speed of keras-fer against a PyTorch twin of the same network.

The twin has the same layers as `from_preset("fer2013")` (compact stem,
BasicBlocks with CBAM, RUL's `mu` / `log_var` heads, uncertainty mixing, the
class-weighted loss against the mixed target, Adam) and the same number of
trainable parameters, asserted. For each Keras backend installed (TensorFlow
with and without XLA, JAX, torch), one child process trains keras-fer's
model with `model.fit` and the twin eagerly, in NCHW and channels-last, of
each variant (`full`, the preset; `plain`, without CBAM and mixing), in
turns (`--rounds` rounds of `--steps` timed batches each, the first batch
of each turn not counted), on random 48x48x1 pixels, batch 64; the ratio is
keras-fer's median img/s over the twin's, from the same process. With both
variants, a second table gives what CBAM and mixing cost each framework:
its full step's time over its plain step's.

`--mixed-precision mixed_bfloat16` trains both in bfloat16 with float32
weights: keras-fer under that Keras dtype policy, the twin's forward pass
and loss under `torch.autocast("cpu", torch.bfloat16)`, its batch norms and
the mixing's `logsumexp` in float32 as Keras computes them. On CPUs with
AVX512-BF16 or AMX (`lscpu` flags) oneDNN computes bfloat16 natively for
TensorFlow without XLA and for PyTorch; elsewhere it is emulated, and
slower. XLA on CPU (TensorFlow with XLA, JAX) computes bfloat16
convolutions in float32 between conversions, so its rows time that.

    pip install -e ".[bench]"
    python benchmarks/train_vs_pytorch.py [--variants full plain] [--backends tensorflow jax torch] [--mixed-precision mixed_bfloat16]
"""

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
from machine import describe
from parameter_counts import trainable_parameters

BACKENDS = (("tensorflow", True), ("tensorflow", False), ("jax", True), ("torch", False))
VARIANTS = {"full": {}, "plain": {"attention": None, "uncertainty_mixing": False}}


def twin(attention=True, mixing=True, width=32, blocks=(2, 2, 2, 2), num_classes=7, feature_dim=64, dropout=0.4):
    """The PyTorch twin of `resnet18(input_shape=(48, 48, 1), stem="compact", ...)`."""
    import torch
    from torch import nn

    class Float32Norm(nn.Module):
        """A batch norm that computes in float32 under autocast, as Keras' BatchNormalization does under mixed precision."""

        def __init__(self, norm):
            super().__init__()
            self.norm = norm

        def forward(self, x):
            return self.norm(x.float()).to(x.dtype)

    def conv_norm(inputs, outputs, kernel, stride):
        norm = Float32Norm(nn.BatchNorm2d(outputs, momentum=0.1, eps=1e-5))
        return nn.Sequential(nn.Conv2d(inputs, outputs, kernel, stride, kernel // 2, bias=False), norm)

    class CBAM(nn.Module):
        def __init__(self, channels, reduction_ratio=16, kernel=7):
            super().__init__()
            hidden = max(channels // reduction_ratio, 1)
            self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels))
            norm = Float32Norm(nn.BatchNorm2d(1, momentum=0.1, eps=1e-5))
            self.spatial = nn.Sequential(nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False), norm)

        def forward(self, x):
            gate = torch.sigmoid(self.mlp(x.mean((2, 3))) + self.mlp(x.amax((2, 3))))
            x = x * gate[:, :, None, None]
            pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
            return x * torch.sigmoid(self.spatial(pooled))

    class Block(nn.Module):
        def __init__(self, inputs, outputs, stride):
            super().__init__()
            self.conv1, self.conv2 = conv_norm(inputs, outputs, 3, stride), conv_norm(outputs, outputs, 3, 1)
            self.cbam = CBAM(outputs) if attention else nn.Identity()
            self.shortcut = conv_norm(inputs, outputs, 1, stride) if stride != 1 or inputs != outputs else nn.Identity()

        def forward(self, x):
            out = self.cbam(self.conv2(torch.relu(self.conv1(x))))
            return torch.relu(out + self.shortcut(x))

    def head(features):
        return nn.Sequential(
            Float32Norm(nn.BatchNorm2d(features[0], eps=2e-5, affine=False)),
            nn.Dropout(dropout),
            nn.Flatten(),
            nn.Linear(int(np.prod(features)), feature_dim),
            Float32Norm(nn.BatchNorm1d(feature_dim, eps=2e-5)),
        )

    class Twin(nn.Module):
        def __init__(self):
            super().__init__()
            layers, channels = [conv_norm(1, width, 3, 2), nn.ReLU()], width
            for stage, count in enumerate(blocks):
                for block in range(count):
                    layers.append(Block(channels, width * 2**stage, 2 if stage > 0 and block == 0 else 1))
                    channels = width * 2**stage
            self.backbone = nn.Sequential(*layers)
            side = 24 // 2 ** (len(blocks) - 1)
            self.mu, self.log_var = (head((channels, side, side)), head((channels, side, side))) if mixing else (None, None)
            self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout))
            self.classifier = nn.Linear(feature_dim if mixing else channels, num_classes)

        def forward(self, images):
            x = self.backbone((images / 255.0 - 0.449) / 0.226)
            if not mixing:
                return self.classifier(self.pool(x)), None
            mu, log_var = self.mu(x), self.log_var(x)
            partner = torch.randperm(len(mu))
            log_u = torch.logsumexp(log_var.float(), 1) - np.log(log_var.shape[1])  # float32, as UncertaintyMixing
            weight = torch.sigmoid(log_u - log_u[partner])[:, None]
            return self.classifier(weight * mu + (1 - weight) * mu[partner]), partner

    return Twin()


def torch_step(model, optimizer, images, targets, bfloat16=False):
    """One training step: RUL's add-up loss (mixed target) with uniform class weights, Adam; forward and loss in bfloat16 if asked."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16) if bfloat16 else contextlib.nullcontext():
        logits, partner = model(images)
        if partner is not None:
            targets = 0.5 * targets + 0.5 * targets[partner]
        loss = -(targets * torch.log_softmax(logits.float(), -1)).sum(-1).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def child(variants, xla, rounds, steps, batch_size, precision=None):
    """Times keras-fer and the twin of each variant in turns in this process; prints one JSON line."""
    import keras

    if precision:
        keras.config.set_dtype_policy(precision)
    sys.path.insert(0, os.path.dirname(__file__))
    from train_throughput import BatchTimer, random_batches

    contenders = {variant: contestants(variant, xla) for variant in variants}
    batches = {variant: random_batches(model, batch_size) for variant, (model, _) in contenders.items()}
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (batch_size, 1, 48, 48)).astype("float32")
    labels = rng.integers(0, 7, batch_size)
    seconds = {variant: {"keras": [], "eager": [], "channels_last": []} for variant in variants}
    for _ in range(rounds):
        for variant, (model, twins) in contenders.items():
            timer = BatchTimer()
            model.fit(batches[variant], steps_per_epoch=steps + 1, epochs=1, verbose=0, callbacks=[timer], shuffle=False)
            seconds[variant]["keras"] += timer.seconds[1:]
            for layout, (network, optimizer, memory_format) in twins.items():
                seconds[variant][layout] += time_twin(network, optimizer, memory_format, images, labels, steps, precision == "mixed_bfloat16")
    speeds = {variant: {name: batch_size / float(np.median(values)) for name, values in times.items()} for variant, times in seconds.items()}
    for variant, (model, _) in contenders.items():
        speeds[variant]["parameters"] = trainable_parameters(model)
    import torch

    print(json.dumps({"torch": torch.__version__, **speeds}), flush=True)


def contestants(variant, xla):
    """keras-fer's model of `variant`, compiled, and its twins in NCHW and channels-last, each with its optimizer."""
    import torch

    from keras_fer.losses import ClassBalancedLoss
    from keras_fer.models import from_preset

    model = from_preset("fer2013", **VARIANTS[variant])
    model.compile("adam", ClassBalancedLoss([100] * 7), jit_compile=xla)
    twins = {}
    for layout in ("eager", "channels_last"):
        network = twin(attention=variant == "full", mixing=variant == "full")
        torch_parameters = sum(parameter.numel() for parameter in network.parameters())
        assert torch_parameters == trainable_parameters(model), (torch_parameters, trainable_parameters(model))
        memory_format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        twins[layout] = (network.to(memory_format=memory_format).train(), torch.optim.Adam(network.parameters(), 1e-3), memory_format)
    return model, twins


def time_twin(network, optimizer, memory_format, images, labels, steps, bfloat16):
    """Seconds of `steps` training steps of the twin, after one that is not counted."""
    import torch

    batch = torch.tensor(images).contiguous(memory_format=memory_format)
    targets = torch.nn.functional.one_hot(torch.tensor(labels), 7).float()
    seconds = []
    for step in range(steps + 1):
        start = time.perf_counter()
        torch_step(network, optimizer, batch, targets, bfloat16=bfloat16)
        if step:
            seconds.append(time.perf_counter() - start)
    return seconds


def failure(result):
    """Why a child failed: the signal that killed it, or its last line of error output."""
    if result.returncode < 0:  # killed: its last output line is some earlier log message, not the cause
        name = signal.Signals(-result.returncode).name
        hint = "; possibly torch's CUDA build, which crashed so beside TensorFlow on a CPU: try its CPU build (README)" if name == "SIGSEGV" else ""
        return f"killed by {name}{hint}"
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["full", "plain"], choices=sorted(VARIANTS))
    parser.add_argument("--backends", nargs="+", default=sorted({name for name, _ in BACKENDS}))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--mixed-precision", choices=("mixed_bfloat16",), help="train both in bfloat16 (default: float32)")
    parser.add_argument("--child", nargs=2, metavar=("VARIANTS", "XLA"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        variants, xla = arguments.child[0].split(","), arguments.child[1] == "on"
        return child(variants, xla, arguments.rounds, arguments.steps, arguments.batch_size, arguments.mixed_precision)
    precision = arguments.mixed_precision or "float32"
    print(f"{describe()}, batch {arguments.batch_size}, {precision}")
    print("| variant | keras-fer backend | XLA | params | keras-fer img/s | PyTorch eager img/s | ratio | PyTorch channels-last img/s | ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    costs = []
    for backend, xla in BACKENDS:
        if backend not in arguments.backends or importlib.util.find_spec(backend) is None:
            continue
        command = [sys.executable, __file__, "--child", ",".join(arguments.variants), "on" if xla else "off"]
        command += ["--rounds", str(arguments.rounds), "--steps", str(arguments.steps), "--batch-size", str(arguments.batch_size)]
        command += ["--mixed-precision", arguments.mixed_precision] if arguments.mixed_precision else []
        environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
        result = subprocess.run(command, capture_output=True, text=True, env=environment)
        if result.returncode != 0:
            print(f"| {', '.join(arguments.variants)} | {backend} | {'on' if xla else 'off'} | failed: {failure(result)} |", flush=True)
            continue
        speeds = json.loads(result.stdout.strip().splitlines()[-1])
        for variant in arguments.variants:
            print(row(variant, backend, xla, speeds[variant]), flush=True)
        if {"full", "plain"} <= set(arguments.variants):
            costs.append((backend, xla, speeds["full"], speeds["plain"]))
    if costs:
        print("\nCBAM + mixing: the full step's time over the plain step's, each framework against itself, from the same process")
        print("| keras-fer backend | XLA | keras-fer | PyTorch eager | PyTorch channels-last |")
        print("|---|---|---:|---:|---:|")
        for backend, xla, full, plain in costs:
            ratios = " | ".join(f"{plain[name] / full[name]:.2f}x" for name in ("keras", "eager", "channels_last"))
            print(f"| {backend} | {'on' if xla else 'off'} | {ratios} |")


def row(variant, backend, xla, speeds):
    """One line of the table: keras-fer's img/s and its ratio to each form of the twin."""
    return (
        f"| {variant} | {backend} | {'on' if xla else 'off'} | {speeds['parameters']:,} | {speeds['keras']:.1f} | "
        f"{speeds['eager']:.1f} | {speeds['keras'] / speeds['eager']:.2f}x | "
        f"{speeds['channels_last']:.1f} | {speeds['keras'] / speeds['channels_last']:.2f}x |"
    )


if __name__ == "__main__":
    main()
