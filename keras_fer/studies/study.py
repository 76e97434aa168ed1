"""Study files: a base training config, named variants, seeds, label-noise levels and evaluation label sets."""

import dataclasses
import typing
from importlib import resources
from pathlib import Path

import yaml

from keras_fer.data.dataset import ON_ERROR, read_text
from keras_fer.data.registry import DATASETS
from keras_fer.training.config import SECTIONS, load_config, load_yaml, yaml_problem
from keras_fer.validation import is_int, is_number

STUDY_KEYS = ("name", "description", "extends", "base", "set", "variants", "seeds", "noise", "train_labels", "evaluate", "comparisons")
EVALUATE_KEYS = ("dataset", "path", "split", "on_error", "options")


@dataclasses.dataclass(frozen=True)
class Cell:
    """One training run of a study: a variant at one label-noise level and seed."""

    variant: str
    seed: int
    noise: float
    overrides: typing.Tuple[str, ...]

    @property
    def name(self):
        noise = f"/noise{round(100 * self.noise)}" if self.noise else ""
        return f"{self.variant}{noise}/seed{self.seed}"


@dataclasses.dataclass(frozen=True)
class Study:
    """A study file, checked: see `load_study`."""

    name: str
    base: str
    overrides: typing.Tuple[str, ...]
    variants: typing.Dict[str, typing.Tuple[str, ...]]
    seeds: typing.Tuple[int, ...]
    noise: typing.Tuple[float, ...]
    train_labels: str
    evaluate: typing.Dict[str, dict]
    comparisons: typing.Tuple[typing.Tuple[str, str], ...]
    description: str = ""

    def cells(self):
        """Every cell, seed by seed, so that a study stopped early has every variant at its first seeds."""
        return [
            Cell(variant, seed, noise, self._cell_overrides(variant, seed, noise))
            for seed in self.seeds
            for noise in self.noise
            for variant in self.variants
        ]

    def config(self, cell, output_path=None):
        """The training `Config` of `cell`, writing to `output_path`."""
        overrides = list(cell.overrides)
        if output_path is not None:
            overrides.append(f"output.path={output_path}")
        return load_config(self.base, overrides)

    def _cell_overrides(self, variant, seed, noise):
        noise_overrides = (f"data.label_noise={noise}", f"data.label_noise_seed={seed}") if noise else ()
        return (*self.overrides, *self.variants[variant], f"training.seed={seed}", *noise_overrides)


def shipped_studies():
    """Names of the studies shipped in `keras_fer/configs/studies/`."""
    folder = resources.files("keras_fer") / "configs" / "studies"
    return sorted(entry.name[: -len(".yaml")] for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def load_study(source, overrides=(), variants=None, seeds=None):
    """Reads and checks a study file.

    A study is a YAML mapping:
    - `extends` (optional): another study (shipped name or path) whose keys
      this one keeps unless it sets them; its `set` list comes first, this
      one's after it, so a study can rerun another at another size;
    - `base`: the training config every cell starts from (preset or YAML);
    - `set`: `--set`-style overrides shared by every cell (the recipe);
    - `variants`: name -> list of overrides that make the variant;
    - `seeds`: list of `training.seed` values;
    - `noise` (optional): shares of the training labels to flip
      (`data.label_noise`, flipped with the cell's seed), default `[0]`;
    - `train_labels` (optional): name of the training label set in the
      results, default the base config's `data.dataset`;
    - `evaluate`: label set name -> a data section (`dataset`, `path`,
      `split`, `options`) whose split every cell's model is evaluated on;
      without `path`, the cells' `data.path`;
    - `comparisons` (optional): pairs `[variant, baseline]` to test.

    Every cell's config is resolved here, so a bad key in any variant fails
    before anything trains.

    Args:
        source: a shipped study name (`shipped_studies()`) or a YAML path.
        overrides: `section.key=value` strings applied to every cell after
            the study's own (e.g. `data.path=...`), or
            `evaluate.<label set>.<key>=value` for an evaluation set.
        variants, seeds: optional subsets of the study's variants and seeds
            to run (a partial grid, e.g. a dry run); comparisons keep the
            pairs whose two variants are both kept.

    Returns:
        A `Study`.
    """
    values, name = _read(source)
    where = str(source)
    values = _extended(values, where)
    for key in ("base", "variants", "seeds", "evaluate"):
        if key not in values:
            raise ValueError(f"{where}: `{key}` is required. A study has keys {list(STUDY_KEYS)}.")
    evaluate = _evaluate_sets(values["evaluate"], where)
    cell_overrides = []
    for override in overrides:
        if override.startswith("evaluate."):
            _override_evaluate(evaluate, override)
        else:
            cell_overrides.append(override)
    for label_set, data in evaluate.items():
        _check_evaluation_data(data, f"{where}: evaluate `{label_set}`")
    variants = _subset(_variants(values["variants"], where), variants, "variants", where)
    study = Study(
        name=str(values.get("name") or name),
        description=str(values.get("description") or ""),
        base=_base(values["base"], source),
        overrides=(*_strings(values.get("set") or [], f"{where}: set"), *cell_overrides),
        variants=variants,
        seeds=tuple(_subset(dict.fromkeys(_seeds(values["seeds"], where)), seeds, "seeds", where)),
        noise=_noise(values.get("noise", [0]), where),
        train_labels="",
        evaluate=evaluate,
        comparisons=tuple(pair for pair in _comparisons(values.get("comparisons") or [], values["variants"], where) if set(pair) <= set(variants)),
    )
    configs = {}
    for cell in study.cells():
        try:
            configs[cell.name] = study.config(cell)
        except ValueError as error:
            raise ValueError(f"{where}: variant `{cell.variant}`: {error}") from error
    train_labels = values.get("train_labels") or next(iter(configs.values())).data.dataset
    return dataclasses.replace(study, train_labels=str(train_labels))


def _extended(values, where, depth=0):
    _check_keys(values, STUDY_KEYS, where)
    if "extends" not in values:
        return values
    if depth > 8:
        raise ValueError(f"{where}: `extends` goes more than 8 studies deep (a loop?)")
    parent, _ = _read(values["extends"])
    parent = _extended(parent, str(values["extends"]), depth + 1)
    merged = {**parent, **{key: value for key, value in values.items() if key != "extends"}}
    merged["set"] = [*(parent.get("set") or []), *(values.get("set") or [])]
    if "name" not in values:
        merged.pop("name", None)  # named after its own file
    return merged


def _subset(chosen, names, what, where):
    """The entries of mapping `chosen` whose keys are in `names` (all when `names` is None)."""
    if names is None:
        return chosen
    unknown = [name for name in names if name not in chosen]
    if unknown:
        raise ValueError(f"{where}: {what} {unknown} are not in the study. It has {list(chosen)}")
    return {key: value for key, value in chosen.items() if key in names}


def _read(source):
    if str(source) in shipped_studies():
        text = (resources.files("keras_fer") / "configs" / "studies" / f"{source}.yaml").read_text()
        return _parse(text, source), str(source)
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"Study {source} is neither a YAML file nor a shipped study. Shipped studies: {shipped_studies()}")
    return _parse(read_text(path), source), path.stem


def _parse(text, source):
    try:
        values = load_yaml(text)
    except yaml.YAMLError as error:
        raise ValueError(f"Study {source} is not valid YAML: {yaml_problem(error)}") from None
    if not isinstance(values, dict):
        raise ValueError(f"Study {source} must be a mapping with keys {list(STUDY_KEYS)}. Received: {values!r}")
    return values


def _base(base, source):
    """A base YAML path is relative to the study file; preset names stay names."""
    if not isinstance(base, str):
        raise ValueError(f"{source}: `base` must be a preset name or a YAML path. Received: {base!r}")
    relative = Path(str(source)).parent / base
    return str(relative) if base.endswith((".yaml", ".yml")) and relative.is_file() else base


def _variants(variants, where):
    if not isinstance(variants, dict) or not variants:
        raise ValueError(f"{where}: `variants` must map variant names to lists of overrides. Received: {variants!r}")
    for name in variants:
        if not isinstance(name, str) or not name.replace("_", "").isalnum():
            raise ValueError(f"{where}: variant names must be letters, digits and underscores. Received: {name!r}")
    return {name: _strings(overrides or [], f"{where}: variant `{name}`") for name, overrides in variants.items()}


def _strings(values, where):
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise ValueError(f"{where} must be a list of 'section.key=value' strings. Received: {values!r}")
    for value in values:
        section = value.partition(".")[0]
        if section not in SECTIONS:
            raise ValueError(f"{where}: {value!r} does not start with a config section {sorted(SECTIONS)}")
    return tuple(values)


def _seeds(seeds, where):
    if not isinstance(seeds, list) or not seeds or not all(is_int(seed, minimum=0) for seed in seeds) or len(set(seeds)) < len(seeds):
        raise ValueError(f"{where}: `seeds` must be a list of distinct non-negative integers. Received: {seeds!r}")
    return tuple(seeds)


def _noise(noise, where):
    valid = isinstance(noise, list) and noise and len(set(noise)) == len(noise)
    if not valid or not all(is_number(n, 0) and n < 1 for n in noise):
        raise ValueError(f"{where}: `noise` must be a list of distinct shares in [0, 1). Received: {noise!r}")
    return tuple(float(n) for n in noise)


def _evaluate_sets(evaluate, where):
    if not isinstance(evaluate, dict) or not evaluate:
        raise ValueError(f"{where}: `evaluate` must map label-set names to data sections. Received: {evaluate!r}")
    sets = {}
    for name, entries in evaluate.items():
        if not isinstance(entries, dict):
            raise ValueError(f"{where}: evaluate `{name}` must be a mapping. Received: {entries!r}")
        _check_keys(entries, EVALUATE_KEYS, f"{where}: evaluate `{name}`")
        if "dataset" not in entries or "split" not in entries:
            raise ValueError(f"{where}: evaluate `{name}` needs `dataset` and `split`.")
        sets[str(name)] = dict(entries)
    return sets


def _check_evaluation_data(data, where):
    """Fails before anything trains unless `data` names a dataset keras-fer reads, with its options."""
    dataset = data["dataset"]
    if not isinstance(dataset, str) or dataset not in DATASETS:
        raise ValueError(f"{where}: unknown dataset. Valid datasets: {sorted(DATASETS)}. Received: dataset={dataset!r}")
    options = data.get("options") or {}
    unknown = sorted(set(options) - set(DATASETS[dataset].options)) if isinstance(options, dict) else options
    if unknown:
        raise ValueError(f"{where}: `options` must map options of dataset {dataset!r} ({DATASETS[dataset].options}). Received: {unknown!r}")
    if data.get("on_error", "raise") not in ON_ERROR:
        raise ValueError(f"{where}: `on_error` must be one of {ON_ERROR}. Received: {data['on_error']!r}")


def _override_evaluate(evaluate, override):
    key, separator, text = override.partition("=")
    parts = key.split(".")
    if not separator or len(parts) != 3 or parts[1] not in evaluate:
        raise ValueError(f"--set {override}: expected evaluate.<label set>.<key>=value with a label set of {sorted(evaluate)}")
    _check_keys({parts[2]: None}, EVALUATE_KEYS, f"--set evaluate.{parts[1]}")
    try:
        evaluate[parts[1]][parts[2]] = load_yaml(text)
    except yaml.YAMLError as error:
        raise ValueError(f"--set {override}: the value is not valid YAML: {yaml_problem(error)}") from None


def _comparisons(comparisons, variants, where):
    pairs = []
    for pair in comparisons:
        if not isinstance(pair, list) or len(pair) != 2 or not all(name in variants for name in pair):
            raise ValueError(f"{where}: each comparison must be [variant, baseline] of variants {list(variants)}. Received: {pair!r}")
        pairs.append(tuple(pair))
    return tuple(pairs)


def _check_keys(values, valid, where):
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}. Valid keys: {list(valid)}")
