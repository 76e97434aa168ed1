import pytest
import yaml

from keras_fer.training import Config, config_to_dict, load_config, preset_names, write_config
from keras_fer.training.config import load_yaml


def test_shipped_presets_load_and_round_trip(tmp_path):
    assert preset_names() == ["affectnet", "fer2013", "ferplus", "rafdb", "synthetic"]
    for name in preset_names():
        config = load_config(name)
        assert config.name == name
        write_config(config, tmp_path / f"{name}.yaml")
        assert config_to_dict(load_config(tmp_path / f"{name}.yaml")) == config_to_dict(config)


def test_precedence_defaults_then_yaml_then_overrides(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("training:\n  epochs: 5\n  batch_size: 16\noptimizer:\n  learning_rate: 0.01\n")
    config = load_config(path, ["training.epochs=2", "model.input_shape=[40, 40, 1]"])
    assert config.training.epochs == 2
    assert config.training.batch_size == 16
    assert config.optimizer.learning_rate == 0.01
    assert config.optimizer.name == Config().optimizer.name == "adam"
    assert config.model.input_shape == (40, 40, 1)
    assert config.name == "mine"


def test_rafdb_preset_is_the_paper_recipe():
    config = load_config("rafdb")
    assert config.model.preset == "paper"
    assert (config.optimizer.name, config.optimizer.learning_rate, config.optimizer.weight_decay) == ("adam", 2e-4, 1e-4)
    assert (config.optimizer.schedule, config.optimizer.decay_rate) == ("exponential", 0.9)
    assert (config.training.epochs, config.training.batch_size) == (60, 64)


def test_augmentation_takes_a_switch_or_the_keyword_arguments_of_augmentation():
    assert load_config("synthetic", ["training.augmentation=false"]).training.augmentation is False
    config = load_config("synthetic", ["training.augmentation={erasing_scale: null, noise_stddev: 0, rotation: 5}"])
    assert config.training.augmentation == {"erasing_scale": None, "noise_stddev": 0, "rotation": 5}


def test_one_entry_of_a_mapping_can_be_set_keeping_the_others(tmp_path):
    config = load_config("fer2013", ["training.augmentation.noise_stddev=0"])
    assert config.training.augmentation == {"noise_stddev": 0}
    path = tmp_path / "mine.yaml"
    path.write_text("training:\n  augmentation:\n    erasing_scale: null\n    rotation: 5\n")
    config = load_config(path, ["training.augmentation.rotation=7", "training.augmentation.noise_stddev=0"])
    assert config.training.augmentation == {"erasing_scale": None, "rotation": 7, "noise_stddev": 0}
    options = load_config("synthetic").data.options
    config = load_config("synthetic", ["data.options.train_samples_per_class=60", "data.options.seed=3"])
    assert config.data.options == {**options, "train_samples_per_class": 60, "seed": 3}


def test_integers_are_accepted_for_floats():
    assert load_config("synthetic", ["optimizer.learning_rate=1"]).optimizer.learning_rate == 1.0


def test_floats_written_with_an_exponent_and_no_dot_are_numbers(tmp_path):
    assert load_config("synthetic", ["optimizer.learning_rate=1e-3"]).optimizer.learning_rate == 0.001  # PyYAML alone: the string '1e-3'
    (tmp_path / "recipe.yaml").write_text("optimizer:\n  learning_rate: 5E-4\n  weight_decay: 1e-2\ntraining:\n  epochs: 3\n")
    config = load_config(tmp_path / "recipe.yaml")
    assert (config.optimizer.learning_rate, config.optimizer.weight_decay, config.training.epochs) == (0.0005, 0.01, 3)
    with pytest.raises(ValueError, match="must be float. Received: '1e-3' \\(str\\)"):
        load_config("synthetic", ["optimizer.learning_rate='1e-3'"])  # quoted: a string, as YAML says
    with pytest.raises(ValueError, match="must be a finite number. Received: inf"):
        load_config("synthetic", ["optimizer.learning_rate=1e400"])


def test_a_string_that_reads_as_a_float_survives_the_written_config(tmp_path):
    config = load_config("synthetic", ["data.path='1e5'", "optimizer.learning_rate=.5e-3"])
    write_config(config, tmp_path / "config.yaml")  # safe_dump wrote 1e5 unquoted, which then read back as 100000.0
    assert load_config(tmp_path / "config.yaml").data.path == "1e5" and config.optimizer.learning_rate == 0.0005


def test_a_key_written_twice_is_an_error_naming_its_line(tmp_path):
    (tmp_path / "twice.yaml").write_text("training:\n  epochs: 3\n  batch_size: 16\ntraining:\n  seed: 7\n")
    with pytest.raises(ValueError, match="twice.yaml is not valid YAML: line 4, column 1: found the key 'training' a second time"):
        load_config(tmp_path / "twice.yaml")  # PyYAML alone keeps the second and drops epochs and batch_size
    (tmp_path / "entry.yaml").write_text("training:\n  epochs: 3\n  epochs: 4\n")
    with pytest.raises(ValueError, match="line 3, column 3: found the key 'epochs' a second time"):
        load_config(tmp_path / "entry.yaml")
    merged = load_yaml("defaults: &d {epochs: 3, seed: 1}\ntraining:\n  <<: *d\n  epochs: 4\n")
    assert merged["training"] == {"epochs": 4, "seed": 1}  # a merged key may still be overridden: not a duplicate


@pytest.mark.parametrize(
    "override, message",
    [
        ("training.epoch=3", r"unknown key\(s\) \['epoch'\]. Valid keys: \['augmentation', 'backend', 'batch_size', "),
        ("trainin.epochs=3", r"unknown key\(s\) \['trainin'\]. Valid keys: \['data', 'distillation', 'loss', 'model'"),
        ("training.epochs=three", r"`.*training.epochs` must be int. Received: 'three' \(str\)"),
        ("training.epochs=2.5", r"`.*training.epochs` must be int. Received: 2.5"),
        ("training.jit_compile=1", r"`.*training.jit_compile` must be bool. Received: 1"),
        ("training.epochs=0", r"`.*training.epochs` must lie in \[1, inf\]. Received: 0"),
        ("loss.beta=1.5", r"`.*loss.beta` must lie in \[0.0, 0.999999\]. Received: 1.5"),
        ("optimizer.schedule=linear", r"`.*optimizer.schedule` must be one of \['constant', 'exponential', 'cosine', 'step'\]"),
        ("model.spatial_kernel_size=4", r"`.*model.spatial_kernel_size` must be a positive odd integer. Received: 4"),
        ("model.blocks_per_stage=[2, two]", r"`.*model.blocks_per_stage` must be a list of integers"),
        ("distillation.teachers=teacher.keras", r"`.*distillation.teachers` must be a list of strings. Received: 'teacher.keras'"),
        ("distillation.teachers=[a.keras, 3]", r"`.*distillation.teachers` must be a list of strings"),
        ("distillation.label_weight=1.5", r"`.*distillation.label_weight` must lie in \[0.0, 1.0\]. Received: 1.5"),
        ("training.augmentation=3", r"`.*training.augmentation` must be bool or dict. Received: 3 \(int\)"),
        ("training.augmentation={rot: 5}", r"`.*training.augmentation`: unknown key\(s\) \['rot'\]. Valid keys: \['erasing_scale', "),
        ("training.augmentation={zoom: 1.5}", r"`.*training.augmentation`: `zoom` must be a number in \[0, 1\)"),
        ("training.epochs.max=3", r"--set training.epochs.max=3: `training.epochs` is 12, not a mapping, so it has no entries to set$"),
        ("training.epoch.max=3", r"--set training: unknown key\(s\) \['epoch'\]. Valid keys: \['augmentation', "),
        ("training.epochs", r"--set takes section.key=value"),
        ("epochs=3", r"--set takes section.key=value"),
        ("training.augmentation.erasing_scale.min=0.1", r"--set takes section.key=value, .* or section.key.entry=value"),
    ],
)
def test_bad_values_name_the_key_and_the_valid_ones(override, message):
    with pytest.raises(ValueError, match=message):
        load_config("synthetic", [override])


def test_an_unknown_entry_of_a_mapping_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"`--set training.augmentation`: unknown key\(s\) \['rot'\]. Valid keys: \['erasing_scale', "):
        load_config("fer2013", ["training.augmentation.rot=5"])


def test_an_entry_of_a_switched_off_mapping_is_an_error():
    with pytest.raises(ValueError, match=r"`training.augmentation` is False, not a mapping, .*: --set training.augmentation=\{noise_stddev: 0\}$"):
        load_config("synthetic", ["training.augmentation.noise_stddev=0"])


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="`source` must be a preset name \\['affectnet'.* or a YAML file's path. Received: source=None"):
        load_config(None)  # a TypeError from pathlib before
    with pytest.raises(ValueError, match="neither a YAML file nor a preset. Presets: \\['affectnet'"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must hold a mapping of sections"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("training: [1,\n")
    with pytest.raises(ValueError, match="is not valid YAML"):
        load_config(tmp_path / "broken.yaml")
    (tmp_path / "section.yaml").write_text("training: 3\n")
    with pytest.raises(ValueError, match="section `training` must be a mapping"):
        load_config(tmp_path / "section.yaml")


def test_written_config_is_plain_yaml(tmp_path):
    write_config(load_config("fer2013"), tmp_path / "config.yaml")
    values = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert values["model"]["preset"] == "fer2013"
    assert values["data"]["dataset"] == "fer2013"
    assert set(values) == {"data", "model", "loss", "optimizer", "training", "distillation", "output"}
