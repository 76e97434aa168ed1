"""Data parallelism on JAX: `training.distribute: mirrored` is a `keras.distribution.DataParallel` over the devices."""

import csv
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from keras_fer import files
from keras_fer.data import FERDataset
from keras_fer.data.dataset import _Batches, batch_part
from tests.testing import RUN_FILES, SMALL, WITHOUT_TENSORFLOW, run_on_jax


def test_batch_parts_pad_with_weight_zero_and_split_between_processes():
    indices, weights = batch_part(np.array([7, 3, 9, 1, 5]), pad_to_multiple=4)
    assert indices.tolist() == [7, 3, 9, 1, 5, 7, 7, 7] and weights.tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    indices, weights = batch_part(np.array([7, 3, 9, 1]), pad_to_multiple=2)
    assert weights.tolist() == [1, 1, 1, 1]  # whole batches get weights too, all 1
    assert batch_part(np.array([7, 3, 9, 1]), shard=(0, 2))[0].tolist() == [7, 9]
    assert batch_part(np.array([7, 3, 9, 1]))[1] is None
    dataset = FERDataset(np.arange(5, dtype="uint8").reshape(5, 1, 1, 1), np.arange(5, dtype="int32") % 2, ("a", "b"))
    batches = _Batches(dataset, 4, False, None, None, False, pad_to_multiple=2)
    assert [weights.tolist() for _, _, weights in batches] == [[1, 1, 1, 1], [1, 0]]
    second = _Batches(dataset, 4, False, None, None, False, pad_to_multiple=4, shard=(1, 2))
    assert [(images[:, 0, 0, 0].tolist(), weights.tolist()) for images, _, weights in second] == [([1, 3], [1, 1]), ([4, 4], [0, 0])]


ON_TWO_DEVICES = (
    WITHOUT_TENSORFLOW
    + """
import dataclasses, json, sys
from pathlib import Path
import keras, numpy as np
from keras_fer.training import distribution_strategy, load_config, train
from keras_fer.training.fit import fit
from keras_fer.training.run import build_model
from keras_fer.training.splits import load_splits
strategy = distribution_strategy("mirrored")
config = load_config("synthetic", sys.argv[2:] + ["training.distribute=mirrored", "output.path=" + sys.argv[1]])
train_split, validation = load_splits(**dataclasses.asdict(config.data), image_size=(32, 32), channels=1)
Path(sys.argv[1] + "-fit").mkdir()
with strategy.scope():
    model = build_model(config.model, num_classes=7, seed=0)
    fit(model, train_split, validation, sys.argv[1] + "-fit", epochs=1, batch_size=16, jit_compile=True, verbose=0)
copies = [[np.asarray(shard.data) for shard in weight.value.addressable_shards] for weight in model.weights]
devices = sorted({str(shard.device) for weight in model.weights for shard in weight.value.addressable_shards})
try:
    with strategy.scope():
        fit(build_model(config.model, num_classes=7, seed=0), train_split, validation, sys.argv[1] + "-fit", batch_size=15, verbose=0)
except ValueError as error:
    odd = str(error)
run_dir, report = train(config, verbose=0)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "devices": devices, "odd": odd,
                  "accuracy": report["accuracy"], "balanced_accuracy": report["balanced_accuracy"],
                  "identical": all(all(np.array_equal(c[0], other) for other in c[1:]) and len(c) == 2 for c in copies),
                  "validation": report["num_examples"], "tensorflow": "tensorflow" in sys.modules}))
"""
)


@pytest.mark.slow
def test_data_parallel_training_on_two_jax_devices(tmp_path):
    settings = [*SMALL, "training.jit_compile=true", "training.epochs=1"]  # 21 validation faces: the last batch of 16 is padded
    outcome = run_on_jax(ON_TWO_DEVICES, [tmp_path / "run", *settings], cwd=tmp_path, devices=2)
    assert outcome["replicas"] == 2 and outcome["devices"] == ["cpu:0", "cpu:1"] and not outcome["tensorflow"]
    assert outcome["identical"]  # every weight has one copy per device, and the copies are equal after training
    assert outcome["odd"].startswith("training.batch_size must be a multiple of the 2 devices") and "batch_size=15" in outcome["odd"]
    # The run directory is complete and written once; the padding weighed nothing in validation.
    run = tmp_path / "run"
    assert sorted(path.name for path in run.iterdir()) == [
        "config.yaml",
        "confusion_matrix.png",
        "history.csv",
        "model.keras",
        "report.json",
        "training_curves.png",
    ]
    with open(run / "history.csv", newline="") as file:
        (row,) = list(csv.DictReader(file))
    assert outcome["validation"] == 21
    # The same 21 faces and weights (the report rounds to 4 decimals): the padded validation batch counted only its 5 faces.
    assert float(row["val_accuracy"]) == pytest.approx(outcome["accuracy"], abs=5e-5)
    assert float(row["val_balanced_accuracy"]) == pytest.approx(outcome["balanced_accuracy"], abs=5e-5)


WORKER = """
import json, os, sys
import numpy as np
index, ports, run = int(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": index}})
import keras_fer.training.run as run_module
from keras_fer.training import load_config, train
fit = run_module.fit
def fit_and_keep_the_weights(model, *arguments, **keywords):
    history = fit(model, *arguments, **keywords)
    np.savez(f"{run}-weights-{index}.npz", **{weight.path: weight.numpy() for weight in model.weights})
    with open(f"{run}-epochs-{index}.json", "w") as file:
        json.dump(history.epoch, file)
    return history
run_module.fit = fit_and_keep_the_weights
config = load_config("synthetic", sys.argv[4:] + ["training.distribute=multi_worker", "output.path=" + run])
run_dir, report = train(config, verbose=0)
print(json.dumps({"report": report is not None}))
"""


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for each in sockets:
        each.bind(("localhost", 0))
    ports = [each.getsockname()[1] for each in sockets]
    for each in sockets:
        each.close()
    return ",".join(map(str, ports))


def start_workers(tmp_path, settings, pause=None):
    ports = free_ports(2)
    workers = []
    for index in range(2):
        environment = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        if pause and index == 0:
            environment[files.PAUSE_VARIABLE] = pause
        arguments = [sys.executable, "-c", WORKER, str(index), ports, str(tmp_path / "run"), *settings]
        workers.append(subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment, cwd=tmp_path))
    return workers


@pytest.mark.slow
def test_two_workers_train_in_step_and_resume_after_a_worker_is_killed(tmp_path):
    # `monitor: last` writes model.keras every epoch; the chief stops before its second write (epoch 2),
    # when the backup holds epoch 1, worker 1 waits for it in the next step; then worker 1 is killed, and
    # the chief with it, as a cluster manager restarts a job that lost a worker.
    settings = [*SMALL, "training.epochs=3", "training.monitor=last"]
    chief, worker = start_workers(tmp_path, settings, pause="model.keras:2")
    paused = tmp_path / "run" / "model.keras.paused"
    deadline = time.monotonic() + 400
    while not paused.exists() and time.monotonic() < deadline and chief.poll() is None:
        time.sleep(0.5)
    assert paused.exists(), chief.communicate()[1][-3000:]
    worker.kill()
    chief.kill()
    for process in (chief, worker):
        process.communicate()
    paused.unlink()
    assert json.loads((tmp_path / "run" / "backup" / "training_metadata.json").read_text())["epoch"] == 1  # one epoch done
    assert not (tmp_path / "run-weights-0.npz").exists()

    for process in start_workers(tmp_path, settings):
        output, errors = process.communicate(timeout=400)
        assert process.returncode == 0, errors[-3000:]
    # Both resumed after epoch 1, ran epochs 2 and 3 in step, and hold the same weights.
    assert [json.loads((tmp_path / f"run-epochs-{index}.json").read_text()) for index in range(2)] == [[1, 2], [1, 2]]
    chief, worker = (np.load(tmp_path / f"run-weights-{index}.npz") for index in range(2))
    different = sorted(name for name in chief.files if not np.array_equal(chief[name], worker[name]))
    # Every weight the optimizer trains is the same on both workers; batch normalization's moving
    # statistics are each worker's own average of its half of the batches (as with tf.keras), and
    # the chief's are saved.
    assert len(chief.files) == 114 and len(different) == 40
    assert all(name.endswith(("/moving_mean", "/moving_variance")) for name in different)
    # The chief wrote the run directory, once; worker 1 left nothing behind.
    run = tmp_path / "run"
    assert sorted(path.name for path in run.iterdir()) == RUN_FILES
    with open(run / "history.csv", newline="") as file:
        assert [row["epoch"] for row in csv.DictReader(file)] == ["0", "1", "2"]
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []


def test_multi_worker_needs_a_cluster_and_a_run_directory(monkeypatch):
    from keras_fer.training import load_config
    from keras_fer.training.run import WorkerTask, worker_task

    config = load_config("synthetic", ["training.distribute=multi_worker", "output.path=runs/x"])
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="multi_worker needs the cluster in the TF_CONFIG environment variable"):
        worker_task(config)
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}}')
    with pytest.raises(ValueError, match=r"TF_CONFIG is not a cluster with this task in it \(IndexError: 1\)"):
        worker_task(config)
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}')
    assert worker_task(config) == WorkerTask("worker", 1, chief=False)
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}')
    assert worker_task(config) == WorkerTask("worker", 0, chief=False)
    with pytest.raises(ValueError, match="multi_worker needs output.path: every worker must name the same run directory"):
        worker_task(load_config("synthetic", ["training.distribute=multi_worker"]))
    assert worker_task(load_config("synthetic")) is None


JAX_PROCESS = (
    WITHOUT_TENSORFLOW
    + """
import json, os, sys
import numpy as np
index, port, run = int(sys.argv[1]), sys.argv[2], sys.argv[3]
os.environ.update(KERAS_DISTRIBUTION_JOB_ADDRESSES=f"localhost:{port}", KERAS_DISTRIBUTION_NUM_PROCESSES="2")
os.environ["KERAS_DISTRIBUTION_PROCESS_ID"] = str(index)
import keras_fer.training.run as run_module
from keras_fer.training import load_config, train
fit = run_module.fit
def fit_and_keep_the_weights(model, *arguments, **keywords):
    history = fit(model, *arguments, **keywords)
    np.savez(f"{run}-weights-{index}.npz", **{w.path: np.asarray(w.value.addressable_shards[0].data) for w in model.weights})
    return history
run_module.fit = fit_and_keep_the_weights
config = load_config("synthetic", sys.argv[4:] + ["training.distribute=multi_worker", "output.path=" + run])
run_dir, report = train(config, verbose=0)
print(json.dumps({"report": report, "tensorflow": "tensorflow" in sys.modules}))
"""
)


@pytest.mark.slow
def test_two_jax_processes_train_one_model(tmp_path):
    port = free_ports(1)
    environment = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    settings = [*SMALL, "training.jit_compile=true", "training.epochs=2", "training.monitor=last"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", JAX_PROCESS, str(index), port, str(tmp_path / "run"), *settings],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
            cwd=tmp_path,
        )
        for index in range(2)
    ]
    outcomes = []
    for process in processes:
        output, errors = process.communicate(timeout=600)
        assert process.returncode == 0, errors[-3000:]
        outcomes.append(json.loads(output.strip().splitlines()[-1]))
    chief, worker = outcomes
    assert worker["report"] is None and chief["report"]["num_examples"] == 21 and not chief["tensorflow"]
    first, second = (np.load(tmp_path / f"run-weights-{index}.npz") for index in range(2))
    assert first.files == second.files and all(np.array_equal(first[name], second[name]) for name in first.files)
    run = tmp_path / "run"
    assert sorted(path.name for path in run.iterdir()) == RUN_FILES
    with open(run / "history.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 2 and float(rows[-1]["val_accuracy"]) == pytest.approx(chief["report"]["accuracy"], abs=5e-5)
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []
