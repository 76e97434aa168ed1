"""Named models: architecture presets, and the trained weights that ship with keras-fer."""

import dataclasses
import inspect
import warnings
from importlib import resources
from pathlib import Path

from keras_fer.models.fer_model import FERModel
from keras_fer.models.loading import load_model_file
from keras_fer.models.resnet import resnet18


@dataclasses.dataclass(frozen=True)
class Preset:
    """A `resnet18` architecture under a name.

    Attributes:
        description: what it is for.
        arguments: its `resnet18` keyword arguments.
        parameters: its number of parameters (all variables, batch-norm
            statistics included), checked by the tests.
    """

    description: str
    arguments: dict
    parameters: int


# Each shipped `.keras` file has a TFLite twin exported with this quantisation (`keras-fer export --quantize`), beside it
# in keras_fer/assets/ with its metadata JSON (which records the .keras file's SHA-256); tools/build_twins.sh rebuilds them.
TWIN_QUANTIZATION = "dynamic_int8"


@dataclasses.dataclass(frozen=True)
class Weights:
    """Trained weights that ship inside the package (`keras_fer/assets/`).

    Attributes:
        preset: the preset they were trained on.
        file: the `.keras` file in `keras_fer/assets/`.
        arguments: `resnet18` keyword arguments that differ from the
            preset's (the shipped `fer2013` model has 3x3 spatial kernels).
        description: data, classes and validation figures (see its model card).
    """

    preset: str
    file: str
    arguments: dict
    description: str

    @property
    def path(self):
        """The installed `.keras` file."""
        return Path(str(resources.files("keras_fer") / "assets" / self.file))

    @property
    def twin(self):
        """The installed TFLite twin of the `.keras` file (`TWIN_QUANTIZATION`), which `Recognizer` runs by default."""
        return self.path.with_name(f"{self.path.stem}_{TWIN_QUANTIZATION}.tflite")


PRESETS = {
    "paper": Preset(
        "The paper's model: 224x224x3, ImageNet stem, width 64, CBAM, mixing, 7 classes.",
        {"input_shape": (224, 224, 3), "num_classes": 7, "attention": "cbam", "uncertainty_mixing": True, "stem": "imagenet", "width": 64},
        14_490_415,
    ),
    "fer2013": Preset(
        "48x48 gray, compact 3x3/2 stem, width 32, CBAM, mixing: FER2013-sized, trains on a CPU.",
        {"input_shape": (48, 48, 1), "num_classes": 7, "attention": "cbam", "uncertainty_mixing": True, "stem": "compact", "width": 32},
        3_119_891,
    ),
    "tiny": Preset(
        "32x32 gray, width 16, one block per stage: tests and demos.",
        {
            "input_shape": (32, 32, 1),
            "num_classes": 7,
            "attention": "cbam",
            "uncertainty_mixing": True,
            "stem": "compact",
            "width": 16,
            "blocks_per_stage": (1, 1, 1, 1),
            "feature_dim": 16,
        },
        329_246,
    ),
}

WEIGHTS = {
    "fer2013": Weights(
        "fer2013",
        "fer2013.keras",
        {"spatial_kernel_size": 3},
        "FER2013 train, 7 classes; 65.55% accuracy, 64.86% balanced on FER2013 PublicTest (saved_models/fer2013/README.md).",
    ),
    "ferplus": Weights(
        "fer2013",
        "ferplus.keras",
        {"spatial_kernel_size": 3, "num_classes": 8},
        "FER+ Training, majority labels, 8 classes (contempt included), fine-tuned from `fer2013`; "
        "81.53% accuracy, 64.02% balanced (contempt never predicted) on FER+ PublicTest (saved_models/ferplus/README.md).",
    ),
}


def list_presets() -> dict[str, dict]:
    """Every preset with its metadata: description, input shape, parameters and the weights that ship for it.

    Example:

    >>> presets = list_presets()
    >>> presets["fer2013"]["input_shape"], presets["fer2013"]["weights"]
    ((48, 48, 1), ['fer2013', 'ferplus'])
    """
    return {
        name: {
            "description": preset.description,
            "input_shape": preset.arguments["input_shape"],
            "num_classes": preset.arguments["num_classes"],
            "parameters": preset.parameters,
            "weights": sorted(key for key, weights in WEIGHTS.items() if weights.preset == name),
        }
        for name, preset in PRESETS.items()
    }


def from_preset(name: str, weights: str | None = None, skip_mismatch: bool = False, **overrides) -> FERModel:
    """Builds the `resnet18` of a named preset, untrained or with shipped weights.

    Presets (`list_presets()` gives their metadata):
    - `"paper"`: the paper's model, 224x224x3, CBAM, mixing, 7 classes.
    - `"fer2013"`: 48x48x1, compact stem (3x3/2 conv), width 32, for
      FER2013 on a CPU. Measured by `benchmarks/train_throughput.py` on 2 CPU
      cores (AVX2), batch 64, `jit_compile=True`: 116 and 149 img/s in two
      runs, so one FER2013 epoch (28,558 images) takes 3 to 4 minutes.
    - `"tiny"`: 32x32x1, compact stem, width 16, one block per stage: tests
      and demos. 666 img/s on the same machine (`train_throughput.py`; 812
      img/s without XLA).

    Args:
        name: one of `PRESETS`.
        weights: `None` for random initial weights, or the name of shipped
            weights of this preset (`WEIGHTS`, e.g. `"fer2013"`): the model
            then has the weights' architecture and starts from them, to
            predict or to fine-tune. With another `num_classes` the
            classifier is new and every other layer keeps its weights;
            overrides that change any other layer (`ARCHITECTURE`) are an
            error naming them.
        skip_mismatch: with `weights`, the layers that differ from the
            weights' (of another shape, as the mixing heads when
            `input_shape` changes, or held by one side only) start from
            new random weights or go unused, with a warning that names
            them, instead of being an error (`copy_weights`).
        **overrides: `resnet18` keyword arguments that replace the preset's.

    Returns:
        A `keras_fer.models.FERModel`.

    Example:

    >>> model = from_preset("tiny", num_classes=8)
    >>> model.output_shape
    (None, 8)
    """
    _check_preset_arguments(name, skip_mismatch, overrides)
    if weights is None:
        return resnet18(**{**PRESETS[name].arguments, **overrides, "name": f"resnet18_{name}"})
    valid = sorted(key for key, shipped in WEIGHTS.items() if shipped.preset == name)
    if weights not in valid:
        raise ValueError(f"Unknown weights for preset {name!r}. Valid weights: {valid}. Received: weights={weights!r}")
    shipped = WEIGHTS[weights]
    model = resnet18(**{**PRESETS[name].arguments, **shipped.arguments, **overrides, "name": f"resnet18_{name}"})
    source = load_model_file(shipped.path)
    try:
        copy_weights(source, model, f"weights {weights!r}", skip_mismatch)
    except ValueError as error:
        trained = {**_defaults(resnet18), **PRESETS[name].arguments, **shipped.arguments}
        changed = [key for key, value in overrides.items() if key in ARCHITECTURE and _normal(value) != _normal(trained.get(key))]
        if not changed:
            raise
        theirs = ", ".join(f"{key}={trained[key]!r}" for key in changed)
        raise ValueError(
            f"{error} The weights were trained with {theirs}: leave {'those' if len(changed) > 1 else 'that'} unset, set so, "
            "or skip the layers that differ (skip_mismatch=True, model.skip_mismatch) to train them from new weights."
        ) from None
    return model


def _check_preset_arguments(name, skip_mismatch, overrides):
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"Unknown preset. Valid presets: {sorted(PRESETS)}. Received: name={name!r}")
    if not isinstance(skip_mismatch, bool):
        raise ValueError(f"`skip_mismatch` must be a bool. Received: skip_mismatch={skip_mismatch!r}")
    valid = set(_defaults(resnet18)) - {"name"}
    if set(overrides) - valid:
        raise ValueError(f"`**overrides` must be `resnet18` arguments: {sorted(valid)}. Received: {sorted(set(overrides) - valid)}")


# resnet18 arguments that shape the weights (num_classes does not: another number of classes gets a new classifier).
ARCHITECTURE = (
    "input_shape",
    "internal_size",
    "attention",
    "spatial_kernel_size",
    "uncertainty_mixing",
    "stem",
    "width",
    "blocks_per_stage",
    "feature_dim",
)


def _defaults(function):
    return {name: parameter.default for name, parameter in inspect.signature(function).parameters.items()}


def _normal(value):
    return tuple(value) if isinstance(value, (list, tuple)) else value


def copy_weights(source, target, what="the source model", skip_mismatch=False):
    """Copies each layer's weights from `source` into the layer of the same name in `target`.

    The two must hold the same layers with weights, of the same shapes,
    except `target`'s `"classifier"` when only the number of classes
    differs (it keeps its new, random weights). A classifier of another
    input width, or a layer that only one of them holds, is another
    architecture (no mixing heads, no attention, other blocks): an error.

    Args:
        source, target: Keras models.
        what: how messages name `source`'s weights.
        skip_mismatch: the layers that differ are left out, with a warning
            that names them, instead of being an error, as in Keras's
            `load_weights(skip_mismatch=True)`: `target`'s layers of another
            shape (e.g. the mixing heads, whose input is the flattened last
            feature map, when the input size changes) or that `source` lacks
            keep their new weights; `source`'s that `target` lacks go unused.

    Returns:
        The names of `target`'s layers left with their new weights: those
        skipped, and the classifier when the number of classes differs.

    Raises:
        ValueError: naming the first layer that does not fit.

    Example:

    >>> import numpy as np
    >>> source, target = from_preset("tiny"), from_preset("tiny", num_classes=8)
    >>> copy_weights(source, target)
    ['classifier']
    >>> bool(np.array_equal(target.get_layer("stem_conv").kernel, source.get_layer("stem_conv").kernel))
    True
    """
    theirs = {layer.name: layer for layer in source.layers if layer.weights}
    mine = {layer.name: layer for layer in target.layers if layer.weights}
    problems = {name: _weights_problem(layer, theirs.get(name)) for name, layer in mine.items()}
    problems |= {name: f"they hold a layer {name!r} that the model lacks" for name in theirs if name not in mine}
    differing = {name: problem for name, problem in problems.items() if problem}
    if differing and not skip_mismatch:
        raise ValueError(f"{what} do not fit {target.name}: {next(iter(differing.values()))}.")
    _warn_skipped(what, differing, mine, theirs)
    for name, problem in problems.items():
        if problem is None:
            mine[name].set_weights(theirs[name].get_weights())
    return [name for name in mine if problems[name] is not None]


def _weights_problem(layer, source_layer):
    """`None` when `source_layer`'s weights fit `layer`, `""` when only the number of classes differs, else what differs."""
    if source_layer is None:
        return f"they have no layer {layer.name!r}"
    shapes = [tuple(weight.shape) for weight in source_layer.weights]
    expected = [tuple(weight.shape) for weight in layer.weights]
    if shapes == expected:
        return None
    other_classes = [shape[:-1] for shape in shapes] == [shape[:-1] for shape in expected]
    return "" if layer.name == "classifier" and other_classes else f"layer {layer.name!r} holds {shapes}, the model needs {expected}"


def _warn_skipped(what, differing, mine, theirs):
    groups = {
        "layers of another shape start from new weights": [name for name in differing if name in mine and name in theirs],
        "layers they lack start from new weights": [name for name in differing if name not in theirs],
        "of their layers are not in the model and go unused": [name for name in differing if name not in mine],
    }
    parts = [f"{len(names)} {kind}: {', '.join(names)}" for kind, names in groups.items() if names]
    if parts:
        warnings.warn(f"{what}: {'; '.join(parts)}", stacklevel=3)
