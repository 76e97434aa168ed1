from keras_fer.models.resnet import resnet18

PRESETS = {
    "paper": {
        "input_shape": (224, 224, 3),
        "num_classes": 7,
        "attention": "cbam",
        "uncertainty_mixing": True,
        "stem": "imagenet",
        "width": 64,
    },
    "fer2013": {
        "input_shape": (48, 48, 1),
        "num_classes": 7,
        "attention": "cbam",
        "uncertainty_mixing": True,
        "stem": "compact",
        "width": 32,
    },
    "tiny": {
        "input_shape": (32, 32, 1),
        "num_classes": 7,
        "attention": "cbam",
        "uncertainty_mixing": True,
        "stem": "compact",
        "width": 16,
        "blocks_per_stage": (1, 1, 1, 1),
        "feature_dim": 16,
    },
}


def from_preset(name, **overrides):
    """Builds the `resnet18` of a named preset, with keyword overrides.

    Presets:
    - `"paper"`: the paper's model, 224x224x3, CBAM, mixing, 7 classes.
    - `"fer2013"`: 48x48x1, compact stem (3x3/2 conv), width 32, for
      FER2013 on a CPU. Measured by `benchmarks/train_throughput.py` on 2 CPU
      cores (AVX2), batch 64, `jit_compile=True`: 116 and 149 img/s in two
      runs, so one FER2013 epoch (28,558 images) takes 3 to 4 minutes.
    - `"tiny"`: 32x32x1, compact stem, width 16, one block per stage: tests
      and demos. 666 img/s on the same machine (`train_throughput.py`; 812
      img/s without XLA). Width 8 with the 1x `"small"` stem trained at 280
      img/s, though it has a quarter of the multiply-adds: at so few filters
      the cost is per pixel.

    Args:
        name: one of `PRESETS`.
        **overrides: `resnet18` keyword arguments that replace the preset's.

    Returns:
        A `keras_fer.models.FERModel`.

    Example:

    >>> model = from_preset("tiny", num_classes=8)
    >>> model.output_shape
    (None, 8)
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset. Valid presets: {sorted(PRESETS)}. Received: name={name!r}")
    return resnet18(**{**PRESETS[name], **overrides, "name": f"resnet18_{name}"})
