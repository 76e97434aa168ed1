"""Training configs: YAML files loaded into dataclasses, one section per concern.

Each section holds the keyword arguments of one public function:

- `data`: `keras_fer.training.load_splits` (which dataset, where, which splits);
- `model`: `keras_fer.models.from_preset` (a preset and its overrides);
- `loss`: `keras_fer.losses.ClassBalancedLoss` (class counts come from the data);
- `optimizer`: `keras_fer.training.make_optimizer`;
- `training`: `keras_fer.training.fit`;
- `distillation`: `keras_fer.training.distillation_targets` (teachers whose
  predictions join the training labels; none by default);
- `output`: `keras_fer.training.prepare_run_directory`.

Precedence: dataclass defaults < YAML < `--set section.key=value` overrides
(`section.key.entry=value` sets one entry of a mapping such as `training.augmentation`).
Unknown keys, wrong types and impossible values raise a `ValueError` naming
the key and what it accepts.
"""

import contextlib
import dataclasses
import inspect
import math
import os
import re
import typing
from importlib import resources
from pathlib import Path

import yaml

from keras_fer.data import augment
from keras_fer.data.dataset import read_text
from keras_fer.data.registry import DATASETS
from keras_fer.files import atomic_write
from keras_fer.losses.class_balanced_loss import WEIGHTINGS
from keras_fer.models.presets import PRESETS
from keras_fer.models.resnet import ATTENTIONS, STEMS
from keras_fer.training.optimizers import OPTIMIZERS, SCHEDULES
from keras_fer.validation import is_int, is_number, is_odd_size

MIXED_PRECISION = (None, "mixed_float16", "mixed_bfloat16")
MAX_INPUT_SIDE = 1024  # pixels a side of model.input_shape: 4x the paper's 224 (a 100,000-pixel side ran out of memory, not into an error)
DISTRIBUTE = ("auto", "mirrored", "multi_worker", "none")
BACKENDS = (None, "tensorflow", "jax", "torch")
MONITORS = ("val_accuracy", "val_balanced_accuracy", "val_macro_f1", "val_loss", "last")


def _field(default, choices=None, minimum=None, maximum=None, keywords_of=None, length=None, rule=None):
    # `rule`: `(test, what)`, a test a non-null value must pass and what it expects.
    metadata = {
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "keywords_of": keywords_of,
        "length": length,
        "rule": rule,
    }
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass
class DataConfig:
    """Keyword arguments of `keras_fer.training.load_splits`.

    `prepared` names a folder written by `keras-fer prepare` from a data
    section like this one: the splits are then streamed from its shards,
    and `dataset`, `path`, `options` and `on_error` (applied when it was
    prepared) are not read again.
    """

    dataset: str = _field("synthetic", choices=tuple(DATASETS))
    path: typing.Optional[str] = _field(None)
    train_split: str = _field("train")
    validation_split: str = _field("val")
    on_error: str = _field("raise", choices=("raise", "skip"))
    options: dict = _field({})
    label_noise: float = _field(0.0, minimum=0.0, maximum=0.95)
    label_noise_seed: int = _field(0, minimum=0)
    prepared: typing.Optional[str] = _field(None)


@dataclasses.dataclass
class ModelConfig:
    """Keyword arguments of `keras_fer.models.from_preset`; `None` keeps the preset's value.

    `weights` is not one of them: it names weights shipped for the preset
    (`keras_fer.models.WEIGHTS`, e.g. `fer2013`) or a `.keras` or
    `.weights.h5` file of the same architecture, whose weights the model
    starts from. `skip_mismatch` lets layers whose shapes differ from those
    weights' (the mixing heads, when `input_shape` changes) start from new
    weights instead of being an error.
    """

    preset: str = _field("tiny", choices=tuple(PRESETS))
    input_shape: typing.Optional[typing.Tuple[int, ...]] = _field(
        None, length=3, rule=(lambda shape: _image_shape(shape), f"[height, width, channels]: sides 8 to {MAX_INPUT_SIDE}, channels 1 or 3")
    )
    internal_size: typing.Optional[typing.Tuple[int, ...]] = _field(
        None, length=2, rule=(lambda sides: all(side >= 8 for side in sides), "two integers >= 8, (height, width) the model resizes its input to")
    )
    attention: typing.Optional[str] = _field("cbam", choices=ATTENTIONS)
    spatial_kernel_size: typing.Optional[int] = _field(None, rule=(is_odd_size, "a positive odd integer"))
    uncertainty_mixing: bool = _field(True)
    stem: typing.Optional[str] = _field(None, choices=(None, *STEMS))
    width: typing.Optional[int] = _field(None, minimum=1)
    blocks_per_stage: typing.Optional[typing.Tuple[int, ...]] = _field(None)
    feature_dim: typing.Optional[int] = _field(None, minimum=1)
    dropout: typing.Optional[float] = _field(None, minimum=0.0, maximum=0.99)
    weights: typing.Optional[str] = _field(None)
    skip_mismatch: bool = _field(False)


@dataclasses.dataclass
class LossConfig:
    """Keyword arguments of `keras_fer.losses.ClassBalancedLoss` (counts come from the data)."""

    beta: float = _field(0.9999, minimum=0.0, maximum=0.999999)
    weighting: str = _field("effective_number", choices=WEIGHTINGS)
    gamma: float = _field(0.0, minimum=0.0)


@dataclasses.dataclass
class OptimizerConfig:
    """Keyword arguments of `keras_fer.training.make_optimizer`."""

    name: str = _field("adam", choices=OPTIMIZERS)
    learning_rate: float = _field(1e-3, minimum=1e-9)
    weight_decay: float = _field(0.0, minimum=0.0)
    momentum: float = _field(0.9, minimum=0.0, maximum=0.999)
    schedule: str = _field("constant", choices=SCHEDULES)
    decay_rate: float = _field(0.9, minimum=1e-6, maximum=1.0)
    decay_epochs: int = _field(1, minimum=1)
    warmup_epochs: int = _field(0, minimum=0)
    ema_momentum: typing.Optional[float] = _field(None, minimum=0.0, maximum=1.0)


@dataclasses.dataclass
class TrainingConfig:
    """Keyword arguments of `keras_fer.training.fit`."""

    epochs: int = _field(12, minimum=1)
    batch_size: int = _field(64, minimum=1)
    steps_per_epoch: typing.Optional[int] = _field(None, minimum=1)
    monitor: str = _field("val_balanced_accuracy", choices=MONITORS)
    augmentation: typing.Union[bool, dict] = _field(True, keywords_of=augment.augmentation)
    early_stopping_patience: typing.Optional[int] = _field(None, minimum=1)
    time_limit: typing.Optional[float] = _field(None, minimum=1)
    recalibrate_batch_norm: int = _field(0, minimum=0)
    tensorboard: bool = _field(False)
    jit_compile: typing.Optional[bool] = _field(None)
    mixed_precision: typing.Optional[str] = _field(None, choices=MIXED_PRECISION)
    distribute: str = _field("auto", choices=DISTRIBUTE)
    seed: int = _field(0, minimum=0)
    backend: typing.Optional[str] = _field(None, choices=BACKENDS)


@dataclasses.dataclass
class DistillationConfig:
    """Keyword arguments of `keras_fer.training.distillation_targets`; no teachers, no distillation."""

    teachers: typing.Tuple[str, ...] = _field(())
    label_weight: float = _field(0.5, minimum=0.0, maximum=1.0)
    flip: bool = _field(True)


@dataclasses.dataclass
class OutputConfig:
    """Keyword arguments of `keras_fer.training.prepare_run_directory`."""

    path: typing.Optional[str] = _field(None)
    overwrite: bool = _field(False)


@dataclasses.dataclass
class Config:
    """A whole training run: one dataclass per YAML section."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    distillation: DistillationConfig = dataclasses.field(default_factory=DistillationConfig)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)
    name: str = "custom"


def _image_shape(shape):
    height, width, channels = shape
    return all(8 <= side <= MAX_INPUT_SIDE for side in (height, width)) and channels in (1, 3)


def model_input_shape(model):
    """`(height, width, channels)` of the model a config's `model` section builds."""
    return tuple(model.input_shape or PRESETS[model.preset].arguments["input_shape"])


SECTIONS = {field.name: field.type for field in dataclasses.fields(Config) if field.name != "name"}


def preset_names():
    """Names of the YAML presets shipped in `keras_fer/configs/`."""
    folder = resources.files("keras_fer") / "configs"
    return sorted(entry.name[: -len(".yaml")] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def load_config(source="synthetic", overrides=()):
    """Resolves a config from a preset name or YAML file and `key=value` overrides.

    Args:
        source: a shipped preset name (`keras_fer.training.preset_names()`)
            or the path of a YAML file with any of the sections.
        overrides: strings `"section.key=value"`; values are parsed as YAML
            (`training.epochs=3`, `model.input_shape=[48,48,1]`).
            `"section.key.entry=value"` sets one entry of a mapping
            (`training.augmentation.noise_stddev=0`), keeping the others.

    Returns:
        A `Config`.

    Example:

    >>> config = load_config("synthetic", ["training.epochs=3"])
    >>> config.training.epochs, config.model.preset
    (3, 'tiny')
    """
    text, name = _read_source(source)
    try:
        values = load_yaml(text) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{source} is not valid YAML: {yaml_problem(error)}") from None
    if not isinstance(values, dict):
        raise ValueError(f"{source} must hold a mapping of sections {sorted(SECTIONS)}. Received: {values!r}")
    overridden = set()
    for override in overrides:
        overridden.add(_apply_override(values, override))
    return config_from_dict(values, name=name, source=str(source), overridden=overridden)


def config_from_dict(values, name="custom", source="config", overridden=()):
    """Builds a `Config` from nested dicts, validating every key and value.

    `overridden`: `(section, key)` pairs that came from `--set`, which
    errors then name instead of `source`.
    """
    _check_keys(values, SECTIONS, source)
    sections = {}
    for section, cls in SECTIONS.items():
        entries = values.get(section) or {}
        if not isinstance(entries, dict):
            raise ValueError(f"{source}: section `{section}` must be a mapping. Received: {entries!r}")
        keys = {key for overridden_section, key in overridden if overridden_section == section}
        sections[section] = _build_section(cls, entries, f"{source}: {section}", f"--set {section}", keys)
    return Config(**sections, name=name)


def config_to_dict(config):
    """The config as plain nested dicts and lists, ready for YAML or JSON."""
    values = dataclasses.asdict(config)
    values.pop("name")
    return _plain(values)


def write_config(config, path):
    """Writes the resolved config as YAML that `load_config` reads back."""
    with atomic_write(path) as file:
        file.write(yaml.dump(config_to_dict(config), Dumper=_Dumper, sort_keys=False))


def check_model_file(key, path, suffixes=(".keras",), alternative=""):
    """Fails early unless `path`, the value of config key `key`, is an existing file with one of `suffixes`.

    `alternative` says what else the key accepts, in the error.
    """
    if not str(path).endswith(tuple(suffixes)):
        raise ValueError(f"{key} must be a {' or '.join(suffixes)} file{' ' + alternative if alternative else ''}. Received: {path}")
    if not Path(path).is_file():
        raise ValueError(f"{key}: {path} does not exist")


def load_yaml(text):
    """The value of YAML `text`, as `yaml.safe_load` reads it but for two things people trip on.

    Floats are YAML 1.2's: `1e-3` is a number, where PyYAML (YAML 1.1) reads
    a string unless it is written `1.0e-3`. A mapping that names a key twice
    is an error (`yaml.YAMLError`), where PyYAML keeps the last and silently
    drops the first, a whole section of a config if it is written twice.

    Example:

    >>> load_yaml("learning_rate: 1e-3")
    {'learning_rate': 0.001}
    >>> try:
    ...     load_yaml("training:\\n  epochs: 3\\ntraining:\\n  seed: 7")
    ... except yaml.YAMLError as error:
    ...     print(yaml_problem(error))
    line 3, column 1: found the key 'training' a second time (while constructing a mapping)
    """
    return yaml.load(text, Loader=_Loader)  # noqa: S506  a SafeLoader


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            with contextlib.suppress(TypeError):  # an unhashable key: PyYAML's own error follows
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark, f"found the key {key!r} a second time", key_node.start_mark
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, quoting the strings `_Loader` would read as floats (a `data.path` named `1e5`)."""


# YAML 1.2's floats with an exponent and no dot (`1e-3`, `5E4`, `.5e3`); the others resolve as before, integers first.
_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
for _yaml_class in (_Loader, _Dumper):
    _yaml_class.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+.0123456789"))


def yaml_problem(error):
    """A `yaml.YAMLError` on one line: where (line and column) and what, as PyYAML spreads it over several.

    Example:

    >>> try:
    ...     yaml.safe_load("a: [1,")
    ... except yaml.YAMLError as error:
    ...     print(yaml_problem(error))
    line 1, column 7: expected the node content, but found '<stream end>' (while parsing a flow node)
    """
    mark, problem = getattr(error, "problem_mark", None), getattr(error, "problem", None)
    if problem is None:
        return " ".join(str(error).split())
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    context = getattr(error, "context", None)
    return f"{where}{' '.join(problem.split())}{f' ({context})' if context else ''}"


def _read_source(source):
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(f"`source` must be a preset name {preset_names()} or a YAML file's path. Received: source={source!r}")
    if str(source) in preset_names():
        return (resources.files("keras_fer") / "configs" / f"{source}.yaml").read_text(), str(source)
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"Config {source} is neither a YAML file nor a preset. Presets: {preset_names()}")
    return read_text(path), path.stem


def _apply_override(values, override):
    key, separator, text = override.partition("=")
    parts = key.strip().split(".")
    if not separator or len(parts) not in (2, 3) or not all(parts):
        raise ValueError(
            "--set takes section.key=value, e.g. training.epochs=3, or section.key.entry=value for a mapping, "
            f"e.g. training.augmentation.noise_stddev=0. Received: {override!r}"
        )
    section, name = parts[:2]
    _check_keys({section: None}, SECTIONS, "--set")
    _check_keys({name: None}, {field.name for field in dataclasses.fields(SECTIONS[section])}, f"--set {section}")
    try:
        value = load_yaml(text)
    except yaml.YAMLError as error:
        raise ValueError(f"--set {override}: the value is not valid YAML: {yaml_problem(error)}") from None
    entries = values.get(section) or {}
    if len(parts) == 3:
        value = {**_mapping_to_extend(values, section, name, override), parts[2]: value}
    values[section] = {**entries, name: value}
    return section, name


def _mapping_to_extend(values, section, name, override):
    """The mapping that `--set section.name.entry=value` adds an entry to: YAML's, else the default's."""
    cls = SECTIONS[section]
    fields = {field.name: field for field in dataclasses.fields(cls)}
    _check_keys({name: None}, fields, f"--set {section}")
    current = (values.get(section) or {}).get(name, getattr(cls(), name))
    if current is True or current is None:
        return {}
    if not isinstance(current, dict):
        entry, _, text = override.partition("=")
        hint = f"; to switch it on with that entry: --set {section}.{name}={{{entry.split('.')[2]}: {text}}}" if current is False else ""
        raise ValueError(f"--set {override}: `{section}.{name}` is {current!r}, not a mapping, so it has no entries to set{hint}")
    return current


def _check_keys(values, valid, where):
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}. Valid keys: {sorted(valid)}")


def _build_section(cls, entries, where, flag_where=None, from_flags=()):
    fields = {field.name: field for field in dataclasses.fields(cls)}
    _check_keys(entries, fields, where)
    hints = typing.get_type_hints(cls)
    checked = {
        name: _checked(value, hints[name], fields[name].metadata, f"{flag_where if name in from_flags else where}.{name}")
        for name, value in entries.items()
    }
    return cls(**checked)


def _checked(value, hint, metadata, key):
    value = _coerce(value, hint, key)
    length = metadata.get("length")
    if length is not None and value is not None and len(value) != length:
        sides = "(height, width, channels)" if length == 3 else "(height, width)"
        raise ValueError(f"`{key}` must be a list of {length} integers {sides}. Received: {list(value)!r}")
    rule = metadata.get("rule")
    if rule is not None and value is not None and not rule[0](value):
        raise ValueError(f"`{key}` must be {rule[1]}. Received: {value!r}")
    choices = metadata.get("choices")
    if choices is not None and value not in choices:
        raise ValueError(f"`{key}` must be one of {list(choices)}. Received: {value!r}")
    function = metadata.get("keywords_of")
    if function is not None and isinstance(value, dict):
        valid = set(inspect.signature(function).parameters) - {"seed"}
        _check_keys(value, valid, f"`{key}`")
        try:
            function(**value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"`{key}`: {error}") from error
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"`{key}` must be a finite number. Received: {value!r}")
    if is_number(value):  # non-finite numbers were refused above
        minimum, maximum = metadata.get("minimum"), metadata.get("maximum")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ValueError(f"`{key}` must lie in [{minimum}, {maximum if maximum is not None else 'inf'}]. Received: {value!r}")
    return value


def _coerce(value, hint, key):
    original = hint
    if typing.get_origin(hint) is typing.Union:
        options = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if value is None and len(options) < len(typing.get_args(hint)):
            return None
        for option in options[:-1]:
            with contextlib.suppress(ValueError):
                return _coerce(value, option, key)
        hint = options[-1]
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        if not isinstance(value, (list, tuple)) or not all(is_int(v) if item is int else isinstance(v, item) for v in value):
            raise ValueError(f"`{key}` must be a list of {'integers' if item is int else 'strings'}. Received: {value!r}")
        return tuple(value)
    if hint is float and is_int(value):
        return float(value)
    if hint is int and is_int(value) or hint is not int and isinstance(value, hint) and not (hint is float and isinstance(value, bool)):
        return value
    expected = " or ".join(arg.__name__ for arg in typing.get_args(original) if arg is not type(None)) or hint.__name__
    raise ValueError(f"`{key}` must be {expected}. Received: {value!r} ({type(value).__name__})")


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
