import importlib
import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import PIL.Image
import pytest

from keras_fer.cli import main
from keras_fer.data import FERDataset
from keras_fer.layers import CBAMBlock
from keras_fer.models import crop_spatial_kernels
from keras_fer.training import fit, load_config, train
from keras_fer.training.run import build_model
from tests.testing import RUN_FILES, SMALL, history_epochs, training_split_of


def test_a_backup_cut_while_keras_rewrote_its_metadata_steps_back_one_epoch(tmp_path):
    from keras_fer.training.run_directory import completed_epochs, repair_backup

    backup = tmp_path / "run" / "backup"
    backup.mkdir(parents=True)
    (backup / "latest.weights.h5").write_bytes(b"epoch 3")
    (backup / "latest.weights.h5.bkp").write_bytes(b"epoch 2")
    (backup / "training_metadata.json.bkp").write_text('{"epoch": 2, "batch": -1}')
    (backup / "training_metadata.json").write_text("")  # killed between Keras's truncate and write
    assert completed_epochs(tmp_path / "run") == 2
    repair_backup(tmp_path / "run")
    assert (backup / "latest.weights.h5").read_bytes() == b"epoch 2"
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2
    repair_backup(tmp_path / "run")  # a sound backup is left alone
    assert (backup / "latest.weights.h5").read_bytes() == b"epoch 2" and completed_epochs(tmp_path / "run") == 2
    (backup / "training_metadata.json").write_text("")
    (backup / "latest.weights.h5.bkp").unlink()  # nothing to step back to: start over
    assert completed_epochs(tmp_path / "run") == 0
    repair_backup(tmp_path / "run")
    assert not backup.exists() and completed_epochs(tmp_path / "run") == 0


@pytest.mark.slow
@pytest.mark.parametrize("prepared", [False, True], ids=["in_memory", "prepared"])
def test_sigkilled_run_resumes_from_its_last_epoch(tmp_path, prepared):
    from keras_fer.training.run_directory import completed_epochs

    data = [
        *[argument for item in SMALL for argument in ("--set", item)],
        "--set",
        "data.options={train_samples_per_class: 60, validation_samples_per_class: 3}",
    ]
    if prepared:  # streamed from shards: the input restarts at the epoch boundary, the run where it was
        assert main(["prepare", "synthetic", *data, "--output", str(tmp_path / "prepared")]) == 0
        data += ["--set", f"data.prepared={tmp_path / 'prepared'}"]
    command = [str(Path(sys.executable).parent / "keras-fer"), "train", "--output", str(tmp_path / "run"), "--epochs", "6", *data]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    metadata = tmp_path / "run" / "backup" / "training_metadata.json"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if metadata.is_file() and json.loads(metadata.read_text() or '{"epoch": 0}')["epoch"] >= 2:
            time.sleep(0.5)
            break
        time.sleep(0.2)
    assert process.poll() is None, process.stdout.read()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = completed_epochs(tmp_path / "run")  # the kill may cut Keras's rewrite of the metadata: one epoch back then
    assert 1 <= done < 6 and not (tmp_path / "run" / "report.json").exists()

    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"resuming after epoch {done}" in result.stdout
    assert f"Epoch {done + 1}/6" in result.stdout and "Epoch 1/6" not in result.stdout
    assert history_epochs(tmp_path / "run") == list(range(6))
    assert not (tmp_path / "run" / "backup").exists()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == RUN_FILES
    assert sorted(p.name for p in tmp_path.iterdir()) == (["prepared", "run"] if prepared else ["run"])


def test_finished_run_is_not_overwritten(tmp_path, capsys):
    (tmp_path / "report.json").write_text("{}")
    (tmp_path / "config.yaml").write_text("training:\n  epochs: 2\n")
    assert main(["train", "--output", str(tmp_path)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (tmp_path / "report.json").read_text() == "{}"


def test_unfinished_run_of_another_config_is_not_resumed(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("training:\n  epochs: 99\n")
    assert main(["train", "--output", str(tmp_path)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def test_default_run_directories_count_up_past_finished_runs(tmp_path, monkeypatch):
    from keras_fer.training.run_directory import resolve_run_directory

    monkeypatch.chdir(tmp_path)
    config = load_config("synthetic")
    first = resolve_run_directory(config)
    assert first == Path("runs/synthetic")
    (first / "report.json").write_text("{}")
    assert resolve_run_directory(config) == Path("runs/synthetic-2")


def test_overwrite_deletes_only_run_files(tmp_path):
    from keras_fer.training import prepare_run_directory, write_config

    write_config(load_config("synthetic"), tmp_path / "config.yaml")
    (tmp_path / "report.json").write_text("{}")
    (tmp_path / "backup").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    prepare_run_directory(tmp_path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_overwrite_refuses_files_of_a_run_s_names_that_are_no_keras_fer_run(tmp_path):
    from keras_fer.training import prepare_run_directory

    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "thesis.docx").write_text("mine")
    (tmp_path / "history.csv").write_text("mine")
    (tmp_path / "config.yaml").write_text("a: [1,\n")  # another tool's, not a keras-fer config
    with pytest.raises(ValueError, match="holds config.yaml, history.csv, backup but no keras-fer run .* --overwrite would delete them"):
        prepare_run_directory(tmp_path, overwrite=True)
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["backup", "backup/thesis.docx", "config.yaml", "history.csv"]


@pytest.mark.slow
def test_overwrite_that_fails_its_checks_keeps_the_old_run_and_one_that_starts_from_its_model_replaces_it(tmp_path):
    run = tmp_path / "run"
    assert main(["train", *sum((["--set", item] for item in SMALL), []), "--epochs", "1", "--output", str(run)]) == 0
    before = {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()}
    missing = ["train", "fer2013", "--data", str(tmp_path / "typo.csv"), "--output", str(run), "--overwrite"]
    assert main(missing) == 2  # deleted the run before finding that the data were missing
    assert {path.name: path.read_bytes() for path in run.iterdir() if path.is_file()} == before
    own = ["--set", f"model.weights={run / 'model.keras'}", "--set", "training.seed=1"]  # its own model: was deleted, then not found
    assert main(["train", *sum((["--set", item] for item in SMALL), []), *own, "--epochs", "1", "--output", str(run), "--overwrite"]) == 0
    replaced = load_config(run / "config.yaml")
    assert (replaced.model.weights, replaced.training.seed) == (str(run / "model.keras"), 1) and (run / "report.json").is_file()


def test_a_directory_in_training_is_never_overwritten_and_default_paths_pass_it(tmp_path, monkeypatch):
    from keras_fer.training import prepare_run_directory
    from keras_fer.training.run_directory import lock_owner, resolve_run_directory, run_lock

    monkeypatch.chdir(tmp_path)
    busy = Path("runs/synthetic")
    busy.mkdir(parents=True)
    (busy / "training.log").write_text("epoch 1")  # not yet resumable: the running run has not written its config
    assert lock_owner(busy) is None
    with run_lock(busy):  # another open file description: flock conflicts as if another process held it
        assert lock_owner(busy) == str(os.getpid())
        with pytest.raises(ValueError) as error:
            prepare_run_directory(busy, overwrite=True)
        assert str(error.value) == (
            f"Run directory {busy} is in use by another keras-fer run (process {os.getpid()}); wait for it to finish or choose another --output."
        )
        assert (busy / "training.log").read_text() == "epoch 1"
        assert resolve_run_directory(load_config("synthetic")) == Path("runs/synthetic-2")
    assert lock_owner(busy) is None
    assert sorted(p.name for p in Path("runs").iterdir()) == ["synthetic", "synthetic-2"]


@pytest.mark.slow
def test_mixed_bfloat16_trains_and_saves_a_float32_model(tmp_path, monkeypatch):
    from keras_fer.training import run

    trained = []
    monkeypatch.setattr(run, "fit", lambda model, *rest, **keywords: trained.append(model) or fit(model, *rest, **keywords))
    config = load_config("synthetic", [*SMALL, "training.epochs=1", "training.mixed_precision=mixed_bfloat16", f"output.path={tmp_path}"])
    run_dir, report = train(config, verbose=0)
    assert trained[0].get_layer("stage1_block1_conv1_conv").compute_dtype == "bfloat16"
    assert trained[0].get_layer("probabilities").compute_dtype == "float32"
    model = keras.models.load_model(run_dir / "model.keras")  # the inference file: float32, as its exports
    assert {layer.compute_dtype for layer in model.layers} == {"float32"}
    assert model.get_layer("stage1_block1_cbam").spatial_conv.compute_dtype == "float32"  # and the layers inside layers
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), trained[0].get_weights()))
    assert keras.config.dtype_policy().name == "float32"
    assert 0 <= report["accuracy"] <= 1


DISTRIBUTED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from keras_fer.training import distribution_strategy, load_config, train
config = load_config("synthetic", sys.argv[2:] + ["training.epochs=2", "training.distribute=mirrored", "output.path=" + sys.argv[1]])
strategy = distribution_strategy("mirrored")
_, report = train(config, verbose=0)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "accuracy": report["accuracy"]}))
"""


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    result = subprocess.run(
        # Weight averaging and batch-norm recalibration swap and assign mirrored variables too,
        # the second epoch with the recalibration traced in the first.
        [sys.executable, "-c", DISTRIBUTED, str(tmp_path / "run"), *SMALL, "optimizer.ema_momentum=0.9", "training.recalibrate_batch_norm=2"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["replicas"] == 2 and 0 <= outcome["accuracy"] <= 1
    assert (tmp_path / "run" / "report.json").is_file()


def test_tensorboard_without_the_package_is_a_clear_error(monkeypatch):
    from keras_fer.training.fit import _check_tensorboard

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ValueError, match=r"needs the tensorboard package: pip install 'keras-fer\[tensorboard\]'"):
        _check_tensorboard()


def test_model_weights_start_the_model_from_a_saved_model(tmp_path):
    saved = build_model(load_config("synthetic").model, num_classes=7, seed=0)
    saved.save(tmp_path / "start.keras")
    config = load_config("synthetic", [f"model.weights={tmp_path / 'start.keras'}"])
    started = build_model(config.model, num_classes=7, seed=1)
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(started.predict(images, verbose=0), saved.predict(images, verbose=0), atol=1e-6)
    assert not np.allclose(build_model(load_config("synthetic").model, 7, seed=1).predict(images, verbose=0), saved.predict(images, verbose=0))
    wider = load_config("synthetic", [f"model.weights={tmp_path / 'start.keras'}", "model.width=4"])
    with pytest.raises(ValueError) as error:
        build_model(wider.model, num_classes=7, seed=0)
    assert str(error.value) == (  # one line: Keras's own message prints whole weight arrays
        f"model.weights: {tmp_path / 'start.keras'} does not fit the resnet18_tiny model of this config: "
        "36 layers differ, e.g. stem_conv/kernel is (3, 3, 1, 4) in this model and (3, 3, 1, 16) in the file."
    )


def test_spatial_kernel_size_of_the_config_reaches_cbam(tmp_path):
    model = build_model(load_config("synthetic", ["model.spatial_kernel_size=3"]).model, num_classes=7, seed=0)
    assert {layer.spatial_conv.kernel.shape for layer in model.layers if isinstance(layer, CBAMBlock)} == {(3, 3, 2, 1)}
    build_model(load_config("synthetic").model, num_classes=7, seed=0).save(tmp_path / "seven.keras")
    config = load_config("synthetic", ["model.spatial_kernel_size=3", f"model.weights={tmp_path / 'seven.keras'}"])
    with pytest.raises(ValueError) as error:
        build_model(config.model, num_classes=7, seed=0)
    assert str(error.value) == (
        f"model.weights: {tmp_path / 'seven.keras'} does not fit the resnet18_tiny model of this config: "
        "4 layers differ, e.g. stage1_block1_cbam/spatial_conv/kernel is (3, 3, 2, 1) in this model and (7, 7, 2, 1) in the file."
    )


def test_a_weights_file_with_other_variables_names_the_layer_not_kerass_preamble(tmp_path):
    from keras_fer.training.run import _weights_mismatch

    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")]).save(tmp_path / "bias.keras")
    without_bias = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, use_bias=False, name="d")])
    with pytest.raises(ValueError) as error:
        without_bias.load_weights(tmp_path / "bias.keras")
    assert _weights_mismatch(error.value) == "Layer 'd' expected 1 variables, but received 2 variables during loading. Expected: ['kernel']"
    torch_style = ValueError(
        "A total of 2 objects could not be loaded. Example error message for object <Conv2D name=c, built=True>:\n\n"
        "... variable.shape=torch.Size([3, 3, 1, 4]), Received: value.shape=torch.Size([3, 3, 1, 16]). "
        "Target variable: <Variable path=c/kernel, shape=(3, 3, 1, 4)>"
    )
    assert _weights_mismatch(torch_style) == (
        "2 layers differ, e.g. c/kernel is torch.Size([3, 3, 1, 4]) in this model and torch.Size([3, 3, 1, 16]) in the file."
    )


def test_cropped_spatial_kernels_keep_every_weight_and_the_centre_of_each_kernel(tmp_path):
    source = build_model(load_config("synthetic").model, num_classes=7, seed=0)
    cropped = crop_spatial_kernels(source, 3)
    assert type(cropped) is type(source) and sum(isinstance(layer, CBAMBlock) for layer in cropped.layers) == 4
    for layer in cropped.layers:
        weights = source.get_layer(layer.name).get_weights()
        assert len(layer.get_weights()) == len(weights)
        for new, old in zip(layer.get_weights(), weights):
            np.testing.assert_array_equal(new, old[2:5, 2:5] if old.shape[:2] == (7, 7) and isinstance(layer, CBAMBlock) else old)
    # The cropped model is what `model.spatial_kernel_size: 3` builds, so `model.weights` can start from it.
    cropped.save(tmp_path / "three.keras")
    config = load_config("synthetic", ["model.spatial_kernel_size=3", f"model.weights={tmp_path / 'three.keras'}"])
    started = build_model(config.model, num_classes=7, seed=1)
    for a, b in zip(started.get_weights(), cropped.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("size, message", [(9, "7x7 spatial kernel of .* to 9x9"), (4, "to 4x4"), (True, "positive odd integer")])
def test_spatial_kernels_crop_only_to_a_smaller_odd_size(size, message):
    source = build_model(load_config("synthetic").model, num_classes=7, seed=0)
    with pytest.raises(ValueError, match=message):
        crop_spatial_kernels(source, size)
    with pytest.raises(ValueError, match="holds no CBAMBlock"):
        crop_spatial_kernels(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), 3)


def test_missing_model_weights_fail_before_the_run_directory_is_made(tmp_path):
    config = load_config("synthetic", [f"model.weights={tmp_path / 'none.keras'}", f"output.path={tmp_path / 'run'}"])
    with pytest.raises(ValueError, match=r"model.weights: .*none.keras does not exist"):
        train(config)
    assert not (tmp_path / "run").exists()
    with pytest.raises(ValueError, match=r"model.weights must be a .keras or .weights.h5 file"):
        train(load_config("synthetic", [f"model.weights={tmp_path / 'model.h5'}"]))


def test_targets_replace_the_training_labels(tmp_path, monkeypatch):
    given = {}

    def soft(split):
        given["labels"] = split.labels
        return 0.5 * np.eye(7)[split.labels] + 0.5 / 7

    config = load_config("synthetic", [*SMALL, f"output.path={tmp_path}"])
    split = training_split_of(config, monkeypatch, soft)
    assert split.labels.dtype == np.float32 and len(given["labels"]) == 76
    np.testing.assert_allclose(split.labels, 0.5 * np.eye(7)[given["labels"]] + 0.5 / 7, rtol=1e-6)
    assert split.class_counts == pytest.approx(np.bincount(given["labels"], minlength=7) * 0.5 + 76 * 0.5 / 7)
    relabelled = training_split_of(config, monkeypatch, lambda split: np.zeros(split.num_examples, "int64"))
    assert relabelled.labels.dtype == np.int32 and relabelled.class_counts == [76, 0, 0, 0, 0, 0, 0]


@pytest.mark.parametrize(
    "targets, message",
    [
        (
            lambda split: np.full((split.num_examples, 6), 1 / 6),
            r"`targets` must return class indices \(76,\) or class probabilities \(76, 7\)\. Received: shape \(76, 6\)",
        ),
        (lambda split: np.zeros(75, "int32"), r"Received: 75 labels in 0\.\.0"),
        (lambda split: np.full(split.num_examples, 7), r"Received: 76 labels in 7\.\.7"),
        (
            lambda split: np.eye(7)[split.labels] * 2,
            r"`targets` rows must be probabilities .*; 76 are not\. Received: row 0 \(synthetic:0:0\) = \[2\.0, 0\.0",
        ),
        (lambda split: np.eye(7)[split.labels] + np.where(np.arange(split.num_examples) == 5, np.nan, 0)[:, None], r"1 are not\. Received: row 5 "),
        (lambda split: np.eye(7)[split.labels] * 1.5 - np.eye(7)[(split.labels + 1) % 7] * 0.5, r"76 are not\. Received: row 0 .*-0\.5"),
    ],
)
def test_bad_targets_name_what_was_expected_before_training(tmp_path, monkeypatch, targets, message):
    monkeypatch.setattr("keras_fer.training.run.fit", lambda *args, **kwargs: pytest.fail("trained on bad targets"))
    with pytest.raises(ValueError, match=message):
        train(load_config("synthetic", [*SMALL, f"output.path={tmp_path}"]), targets=targets)
    assert not (tmp_path / "config.yaml").exists()


def test_bad_target_rows_are_named_by_their_source_file():
    from keras_fer.training.run import _checked_targets

    faces = FERDataset(np.zeros((3, 2, 2, 1), "uint8"), np.array([0, 1, 1], "int32"), ("a", "b"), ("a/1.png", "b/2.png", "b/3.png"))
    with pytest.raises(ValueError, match=r"1 are not\. Received: row 2 \(b/3\.png\) = \[0\.5, 0\.4\]"):
        _checked_targets(np.array([[1, 0], [0, 1], [0.5, 0.4]]), faces)


def test_carried_fer2013_unpacks_to_the_same_files(tmp_path):
    script = runpy.run_path(str(Path(__file__).parents[1] / "tools" / "carry_data.py"))
    rng = np.random.default_rng(0)
    smooth = np.add.outer(np.arange(48), np.arange(48)).astype("uint8") * 2  # predicted exactly, residuals 0
    originals = {}
    for split, count in (("train", 3), ("val", 2)):
        for name in ("angry", "happy"):
            for index in range(count):
                image = smooth if index == 0 else rng.integers(0, 256, (48, 48), dtype="uint8")  # 0 and 255 wrap
                path = tmp_path / "source" / split / name / f"fer{index:07d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                PIL.Image.fromarray(image).save(path)
                originals[path.relative_to(tmp_path / "source")] = image
    script["pack"](tmp_path / "source", tmp_path / "carry" / "fer2013.xz")
    script["unpack"](tmp_path / "carry" / "fer2013.xz", tmp_path / "unpacked")
    unpacked = {path.relative_to(tmp_path / "unpacked"): path for path in (tmp_path / "unpacked").glob("*/*/*.png")}
    assert sorted(unpacked) == sorted(originals)
    for relative, image in originals.items():
        np.testing.assert_array_equal(np.asarray(PIL.Image.open(unpacked[relative])), image)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_non_finite_config_numbers_are_errors(value):
    with pytest.raises(ValueError, match="`--set optimizer.learning_rate` must be a finite number"):
        load_config("synthetic", [f"optimizer.learning_rate={value}"])


def test_a_non_finite_loss_stops_training_and_keeps_the_last_finite_epoch(tmp_path, monkeypatch):
    fit_module = importlib.import_module("keras_fer.training.fit")  # `keras_fer.training.fit` is also the function

    class DivergesInEpochTwo(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                weight = self.model.trainable_weights[0]
                weight.assign(np.full(weight.shape, np.nan, "float32"))

    callbacks = fit_module._callbacks
    monkeypatch.setattr(fit_module, "_callbacks", lambda *args, **kwargs: [DivergesInEpochTwo(), *callbacks(*args, **kwargs)])
    config = load_config("synthetic", [*SMALL, "training.epochs=3", "training.monitor=last", f"output.path={tmp_path}"])
    with pytest.raises(ValueError, match="The training loss became nan at epoch 2, batch 1; .*keeps its last finite epoch"):
        train(config, verbose=0)
    assert history_epochs(tmp_path) == [0]
    model = keras.models.load_model(tmp_path / "model.keras")
    assert all(np.isfinite(weight).all() for weight in model.get_weights())


def test_monitor_last_keeps_the_last_epoch(tmp_path):
    config = load_config("synthetic", [*SMALL, "training.epochs=2", "training.monitor=last", f"output.path={tmp_path}"])
    _, report = train(config, verbose=0)
    with open(tmp_path / "history.csv") as file:
        last = file.read().splitlines()[-1].split(",")
    header = (tmp_path / "history.csv").read_text().splitlines()[0].split(",")
    assert report["accuracy"] == pytest.approx(float(last[header.index("val_accuracy")]), abs=1e-4)
    with pytest.raises(ValueError, match="`monitor: last` has none"):
        train(
            load_config("synthetic", [*SMALL, "training.monitor=last", "training.early_stopping_patience=2", f"output.path={tmp_path / 'b'}"]),
            verbose=0,
        )


@pytest.mark.slow
def test_a_second_train_into_a_running_run_directory_stops_at_once(tmp_path, capsys):
    arguments = ["train", "--output", str(tmp_path / "run"), "--epochs", "2", *[a for item in SMALL for a in ("--set", item)]]
    process = subprocess.Popen(
        [sys.executable, "-m", "keras_fer.cli", *arguments], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lock = tmp_path / ".run.lock"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None and not (lock.is_file() and lock.read_text()):
        time.sleep(0.1)
    assert process.poll() is None, process.stdout.read()
    assert main(arguments) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"keras-fer train: error: Run directory {tmp_path / 'run'} is in use by another keras-fer run "
        f"(process {process.pid}); wait for it to finish or choose another --output."
    )
    assert process.wait(timeout=600) == 0, process.stdout.read()
    assert history_epochs(tmp_path / "run") == [0, 1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_a_run_that_fails_before_its_first_epoch_leaves_nothing(tmp_path, capsys):
    assert main(["train", "fer2013", "--data", str(tmp_path / "missing"), "--output", str(tmp_path / "run")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "faces" / "train").mkdir(parents=True)
    assert main(["train", "fer2013", "--data", str(tmp_path / "faces"), "--output", str(tmp_path / "run")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["faces"]


def test_a_run_whose_config_predates_a_new_key_still_resumes(tmp_path):
    import yaml

    from keras_fer.training import config_to_dict
    from keras_fer.training.run_directory import is_resumable

    config = load_config("synthetic")
    older = config_to_dict(config)
    del older["model"]["internal_size"]  # a key keras-fer added on 2026-12-05, with a default that keeps the old meaning
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(older))
    assert is_resumable(tmp_path, config)
    older["model"]["width"] = 99
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(older))
    assert not is_resumable(tmp_path, config)
    for text in ("model: [", "model: {nokey: 1}", "[1, 2]"):
        (tmp_path / "config.yaml").write_text(text)
        assert not is_resumable(tmp_path, config), text


def test_a_run_resumes_on_another_backend(tmp_path):
    import yaml

    from keras_fer.training import config_to_dict
    from keras_fer.training.run_directory import is_resumable

    started = config_to_dict(load_config("synthetic", ["training.backend=jax"]))  # started with --backend jax
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(started))
    assert is_resumable(tmp_path, load_config("synthetic")) and is_resumable(tmp_path, load_config("synthetic", ["training.backend=torch"]))
    assert not is_resumable(tmp_path, load_config("synthetic", ["training.backend=jax", "training.seed=1"]))


def test_overwriting_an_unfinished_run_of_another_config_says_so_and_a_failure_after_the_deletion_leaves_nothing(tmp_path, monkeypatch):
    from keras_fer.training import run, write_config
    from keras_fer.training.run_directory import describe_resume

    old = load_config("synthetic", [*SMALL, f"output.path={tmp_path / 'run'}"])
    (tmp_path / "run" / "backup").mkdir(parents=True)
    write_config(old, tmp_path / "run" / "config.yaml")
    (tmp_path / "run" / "backup" / "training_metadata.json").write_text('{"epoch": 1}')
    new = load_config("synthetic", [*SMALL, "training.seed=1", "output.overwrite=true", f"output.path={tmp_path / 'run'}"])
    assert describe_resume(tmp_path / "run", old) == "resuming after epoch 1"
    assert describe_resume(tmp_path / "run", new) == "replacing the run there"  # said "resuming after epoch 1" and started over

    def fails(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(run, "fit", fails)
    with pytest.raises(RuntimeError, match="out of memory"):
        train(new, verbose=0)
    assert not (tmp_path / "run").exists()  # held the new run's config.yaml alone, which resumed as nothing


def test_train_with_a_run_directory_refuses_to_overwrite_files_that_are_no_run(tmp_path):
    (tmp_path / "history.csv").write_text("mine")
    config = load_config("synthetic", [*SMALL, "output.overwrite=true"])
    with pytest.raises(ValueError, match="holds history.csv but no keras-fer run"):
        train(config, run_dir=tmp_path, verbose=0)  # the API's path past resolve_run_directory
    assert (tmp_path / "history.csv").read_text() == "mine"
