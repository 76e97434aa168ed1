"""Prints README's parameter table: every preset with and without CBAM and mixing.

python benchmarks/parameter_counts.py
"""

import numpy as np

from keras_fer.models import PRESETS, from_preset

VARIANTS = (
    ("plain", {"attention": None, "uncertainty_mixing": False}),
    ("CBAM", {"attention": "cbam", "uncertainty_mixing": False}),
    ("mixing", {"attention": None, "uncertainty_mixing": True}),
    ("CBAM + mixing", {"attention": "cbam", "uncertainty_mixing": True}),
)


def trainable_parameters(model):
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def markdown_table():
    header = "| preset | input | " + " | ".join(name for name, _ in VARIANTS) + " |"
    lines = [header, "|---|---|" + "---:|" * len(VARIANTS)]
    for preset in PRESETS:
        counts = [trainable_parameters(from_preset(preset, **overrides)) for _, overrides in VARIANTS]
        size = "x".join(str(n) for n in PRESETS[preset].arguments["input_shape"])
        lines.append(f"| `{preset}` | {size} | " + " | ".join(f"{n:,}" for n in counts) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
