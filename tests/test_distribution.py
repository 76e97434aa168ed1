"""Data parallelism on JAX: `training.distribute: mirrored` is a `keras.distribution.DataParallel` over the devices."""

import csv

import numpy as np
import pytest

from keras_fer.data import FERDataset
from keras_fer.data.dataset import _Batches, padded
from tests.testing import SMALL, WITHOUT_TENSORFLOW, run_on_jax


def test_padded_batches_weigh_the_padding_zero():
    images, labels, weights = padded(np.arange(5.0).reshape(5, 1, 1, 1), np.array([3, 1, 2, 0, 1]), 4)
    assert images[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4, 0, 0, 0]
    assert labels.tolist() == [3, 1, 2, 0, 1, 3, 3, 3] and weights.tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert len(padded(np.zeros((4, 1, 1, 1)), np.zeros(4), 2)) == 3  # whole batches get weights too, all 1
    dataset = FERDataset(np.zeros((5, 2, 2, 1), "uint8"), np.arange(5, dtype="int32") % 2, ("a", "b"))
    batches = _Batches(dataset, 4, False, None, None, False, pad_to_multiple=2)
    assert [weights.tolist() for _, _, weights in batches] == [[1, 1, 1, 1], [1, 0]]


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
