"""`training.time_limit`: a run shortened to the epochs that fit, its cosine schedule with it, on a clock the tests control."""

import importlib
import json

import keras
import numpy as np
import pytest

from keras_fer.data import FERDataset
from keras_fer.training import fit, load_config, train
from keras_fer.training.callbacks import TimeLimit
from tests.testing import history_epochs, tiny_resnet

fit_module = importlib.import_module("keras_fer.training.fit")  # `keras_fer.training.fit` is also the function
CLASSES = ("a", "b", "c")


class FakeModel:
    stop_training = False


def drive(callback, times):
    """Calls `callback`'s hooks in `fit`'s order; `times` maps each hook of each epoch to the clock's reading then."""
    clock = iter(times)
    callback.clock = lambda: next(clock)
    callback.set_model(FakeModel())
    callback.on_train_begin()
    stopped_after = None
    for epoch, (train_batches, test_batches) in enumerate([(10, 3)] * 10):
        callback.on_epoch_begin(epoch)
        for batch in range(train_batches):
            callback.on_train_batch_end(batch)
        callback.on_test_begin()
        for batch in range(test_batches):
            callback.on_test_batch_end(batch)
        callback.on_epoch_end(epoch)
        if callback.model.stop_training:
            stopped_after = epoch + 1
            break
    return stopped_after


def epoch_times(start, first_batch, step, first_test_batch, test_step, saving):
    """Clock readings of one epoch: its begin, 10 training batch ends, validation's begin, 3 validation batch ends, its end."""
    times = [start, start + first_batch]
    times += [times[-1] + step * (i + 1) for i in range(9)]
    test_begin = times[-1]
    times += [test_begin, test_begin + first_test_batch, test_begin + first_test_batch + test_step, test_begin + first_test_batch + 2 * test_step]
    return times + [times[-1] + saving]


def test_the_first_epoch_less_compilation_sets_how_many_epochs_fit(capsys):
    # Epoch 1: the first training batch takes 20 s (compilation), the others 1 s; validation's first batch 5 s, the others
    # 1 s; saving 0.5 s. It ends at 20 + 9 + 5 + 2 + 0.5 = 36.5 s; less the two first batches' excess (19 s and 4 s): 13.5 s
    # an epoch. Left of 100 s: 63.5 s, less 19 s to compile the shortened step again: 44.5 s, 3 more epochs: 4 of the 10.
    times = [0.0, *epoch_times(0.0, 20, 1, 5, 1, 0.5)]
    times += epoch_times(times[-1], 20, 1, 1, 1, 0.5)  # the step traced again: 32.5 s, ends at 69 s
    for _ in range(2):  # then 13.5 s epochs: 82.5 s, 96 s
        times += epoch_times(times[-1], 1, 1, 1, 1, 0.5)
    shortened = []
    callback = TimeLimit(100, 10, shorten=lambda epochs: shortened.append(epochs) or True)
    assert drive(callback, times) == 4 and times[-1] == 96
    assert shortened == [4] and callback.epochs == 4
    out = capsys.readouterr().out
    assert "4 of the 10 epochs fit in 100 s at 13.5 s an epoch; the run now ends there, and its cosine schedule with it." in out
    assert "stopped" not in out


def test_an_epoch_that_would_end_past_the_limit_is_not_started(capsys):
    # As above to 36.5 s (4 epochs fit); then an epoch of 2 s batches: 21 + 18 + 2 + 4 + 4.5 = 49.5 s, 30.5 s less the 19 s
    # of compilation. At 86 s, 14 s are left: not enough for another 30.5 s epoch (though enough at the first epoch's pace).
    times = [0.0, *epoch_times(0.0, 20, 1, 5, 1, 0.5), *epoch_times(36.5, 21, 2, 2, 2, 4.5)]
    callback = TimeLimit(100, 10, shorten=lambda epochs: False)
    assert drive(callback, times) == 2 and times[-1] == 86
    out = capsys.readouterr().out
    assert "4 of the 10 epochs fit in 100 s at 13.5 s an epoch; the run now ends there." in out
    assert "stopped after epoch 2 of 4: another would end past 100 s" in out


def test_a_limit_that_leaves_room_for_every_epoch_changes_nothing(capsys):
    times = [0.0]
    for _ in range(3):
        times += epoch_times(times[-1], 1, 1, 1, 1, 0.5)
    shortened = []
    callback = TimeLimit(1000, 3, shorten=shortened.append)
    assert drive(callback, times) == 3 and not shortened and not capsys.readouterr().out


class OneSecondSteps(TimeLimit):
    """A `TimeLimit` whose clock moves 1 s per training step and stands still otherwise."""

    def __init__(self, *args, **kwargs):
        self.now = 0.0
        super().__init__(*args, **{**kwargs, "clock": lambda: self.now})

    def on_train_batch_end(self, batch, logs=None):
        self.now += 1.0
        super().on_train_batch_end(batch, logs)


class WeightSteps(keras.callbacks.Callback):
    """Records the largest change of any trainable weight in each training step."""

    def __init__(self):
        super().__init__()
        self.changes = []

    def on_train_batch_begin(self, batch, logs=None):
        self.before = [weight.numpy().copy() for weight in self.model.trainable_weights]

    def on_train_batch_end(self, batch, logs=None):
        after = [weight.numpy() for weight in self.model.trainable_weights]
        self.changes.append(max(float(np.abs(a - b).max()) for a, b in zip(after, self.before)))


def fit_tiny(run_dir, monkeypatch, epochs, time_limit, verbose=0):
    run_dir.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (24, 16, 16, 1), dtype="uint8"), np.arange(24) % 3
    steps = WeightSteps()
    callbacks = fit_module._callbacks
    monkeypatch.setattr(fit_module, "_callbacks", lambda *args, **kwargs: [*callbacks(*args, **kwargs), steps])
    monkeypatch.setattr(fit_module, "TimeLimit", OneSecondSteps)
    fit(
        tiny_resnet(),
        FERDataset(images, labels, CLASSES),
        FERDataset(images[:6], labels[:6], CLASSES),
        run_dir,
        optimizer={"schedule": "cosine", "learning_rate": 0.01},
        epochs=epochs,
        batch_size=8,
        augmentation=False,
        time_limit=time_limit,
        verbose=verbose,
    )
    return history_epochs(run_dir), steps.changes


def test_a_shortened_run_ends_its_cosine_schedule_in_the_compiled_step(tmp_path, monkeypatch, capsys):
    # 3 steps an epoch of 1 s each: after epoch 1, 7 s of 10 are left, 2 more epochs: 3 of the 6 planned.
    epochs, changes = fit_tiny(tmp_path / "limited", monkeypatch, 6, 10, verbose=1)
    assert epochs == [0, 1, 2] and len(changes) == 9
    assert "3 of the 6 epochs fit in 10 s" in capsys.readouterr().out
    assert json.loads((tmp_path / "limited" / "time_limit.json").read_text()) == {"epochs": 3, "planned_epochs": 6, "time_limit": 10}
    _, control = fit_tiny(tmp_path / "control", monkeypatch, 6, None)
    # Adam moves each weight by about the learning rate. The first epoch is the same in both runs (0.01 down the 6-epoch
    # cosine); at the 9th step the shortened schedule is at 0.03 of its peak, the planned one at 0.59: the step
    # that ran in the traced function used the new length.
    assert changes[:3] == pytest.approx(control[:3], rel=1e-4)
    assert changes[0] == pytest.approx(0.01, rel=0.01)
    assert changes[8] < 0.25 * control[8]
    assert changes[8] < 0.002 < control[8]


@pytest.mark.parametrize("time_limit", [1000, None], ids=["another_limit", "no_limit"])
def test_a_resumed_run_keeps_the_length_its_time_limit_set(tmp_path, monkeypatch, capsys, time_limit):
    tmp_path.joinpath("time_limit.json").write_text(json.dumps({"epochs": 2, "planned_epochs": 6, "time_limit": 10}))
    epochs, _ = fit_tiny(tmp_path, monkeypatch, 6, time_limit, verbose=1)
    assert epochs == [0, 1] and "epochs fit" not in capsys.readouterr().out
    assert json.loads(tmp_path.joinpath("time_limit.json").read_text())["epochs"] == 2


def test_a_killed_run_resumes_under_another_time_limit(tmp_path):
    from keras_fer.training.config import write_config
    from keras_fer.training.run_directory import is_resumable

    write_config(load_config("synthetic", ["training.time_limit=330"]), tmp_path / "config.yaml")
    assert is_resumable(tmp_path, load_config("synthetic", ["training.time_limit=600"]))
    assert is_resumable(tmp_path, load_config("synthetic"))
    assert not is_resumable(tmp_path, load_config("synthetic", ["training.epochs=7"]))


@pytest.mark.parametrize(
    "setting, message",
    [
        ("training.time_limit=0.5", r"`--set training.time_limit` must lie in \[1, inf\]. Received: 0.5"),
        ("training.time_limit=soon", r"`--set training.time_limit` must be float. Received: 'soon' \(str\)"),
    ],
)
def test_a_time_limit_must_be_seconds(setting, message):
    with pytest.raises(ValueError, match=message):
        load_config("synthetic", [setting])


def test_a_time_limit_is_refused_for_multi_worker_runs(tmp_path):
    config = load_config("synthetic", ["training.time_limit=60", "training.distribute=multi_worker", f"output.path={tmp_path / 'run'}"])
    with pytest.raises(ValueError, match="training.time_limit times each worker of a multi_worker run on its own clock"):
        train(config, verbose=0)
    assert not (tmp_path / "run").exists()


def test_keras_fer_train_time_limit(tmp_path, capsys):
    from keras_fer.cli import main
    from tests.testing import SMALL

    small = [argument for item in SMALL for argument in ("--set", item)]
    assert main(["train", "--output", str(tmp_path / "bad"), "--time-limit", "0.5", *small]) == 2
    assert "`--set training.time_limit` must lie in [1, inf]. Received: 0.5" in capsys.readouterr().err
    multi = ["--set", "training.distribute=multi_worker"]
    assert main(["train", "--output", str(tmp_path / "multi"), "--time-limit", "60", *multi, *small]) == 2
    assert "training.time_limit times each worker" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists() and not (tmp_path / "multi").exists()
    # Room for both epochs: the run is what it would be without the limit, and says nothing of it.
    assert main(["train", "--output", str(tmp_path / "run"), "--time-limit", "3600", "--epochs", "2", *small]) == 0
    assert "training.time_limit" not in capsys.readouterr().out
    assert (tmp_path / "run" / "report.json").is_file() and not (tmp_path / "run" / "time_limit.json").exists()
    assert load_config(str(tmp_path / "run" / "config.yaml")).training.time_limit == 3600
