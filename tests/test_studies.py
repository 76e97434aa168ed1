import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from keras_fer.cli import main
from keras_fer.studies import load_study, read_predictions, read_results, run_study, runner, shipped_studies, write_summary
from keras_fer.studies.statistics import binomial_two_sided, bootstrap_difference, holm, mcnemar, mean_and_std
from keras_fer.studies.summary import headline_table, paired_comparison, variant_table

SHIPPED_RESULTS = Path(__file__).resolve().parents[1] / "saved_models" / "studies"
TINY = [
    "model.input_shape=[16, 16, 1]",
    "data.options={train_samples_per_class: [8, 4, 8, 8, 8, 8, 8], validation_samples_per_class: 3}",
    "training.epochs=1",
    "training.batch_size=16",
    "training.monitor=last",
    "training.jit_compile=false",  # compiling, not training, is most of a tiny cell's time
]


def _write_study(tmp_path, **changes):
    study = {
        "description": "two variants on synthetic faces",
        "base": "synthetic",
        "set": TINY,
        "variants": {"plain": ["model.attention=null", "model.uncertainty_mixing=false", "loss.weighting=none"], "full": []},
        "seeds": [0],
        "evaluate": {"synthetic": {"dataset": "synthetic", "split": "val"}},
        "comparisons": [["full", "plain"]],
        **changes,
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def test_cells_are_the_grid_seed_by_seed(tmp_path):
    study = load_study(_write_study(tmp_path, seeds=[0, 1], noise=[0, 0.2]))
    assert [cell.name for cell in study.cells()] == [
        "plain/seed0",
        "full/seed0",
        "plain/noise20/seed0",
        "full/noise20/seed0",
        "plain/seed1",
        "full/seed1",
        "plain/noise20/seed1",
        "full/noise20/seed1",
    ]
    config = study.config(study.cells()[2], tmp_path / "run")
    assert (config.data.label_noise, config.data.label_noise_seed, config.training.seed) == (0.2, 0, 0)
    assert config.model.attention is None and config.loss.weighting == "none" and config.output.path == str(tmp_path / "run")
    assert study.config(study.cells()[5]).model.attention == "cbam" and study.train_labels == "synthetic"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"variants": {"plain": ["model.attentoin=null"], "full": []}}, "variant `plain`: .*unknown key\\(s\\) \\['attentoin'\\]"),
        ({"variants": {"plain": ["modle.width=8"], "full": []}}, "variant `plain`: 'modle.width=8' does not start with a config section"),
        ({"variants": {"plain": ["model.width=zero"], "full": []}}, "variant `plain`: .*model.width"),
        ({"variants": {"bad name": [], "full": []}}, "variant names must be letters"),
        ({"variants": []}, "`variants` must map variant names"),
        ({"seeds": [0, 0]}, "`seeds` must be a list of distinct non-negative integers"),
        ({"seeds": [-1]}, "`seeds` must be a list of distinct"),
        ({"noise": [0, 1.0]}, "`noise` must be a list of distinct shares in \\[0, 1\\)"),
        ({"evaluate": {"x": {"dataset": "synthetic"}}}, "evaluate `x` needs `dataset` and `split`"),
        ({"evaluate": {"x": {"dataset": "synthetic", "split": "val", "colour": 1}}}, "evaluate `x`: unknown key\\(s\\) \\['colour'\\]"),
        ({"comparisons": [["full", "nothing"]]}, "each comparison must be \\[variant, baseline\\]"),
        ({"epochs": 3}, "unknown key\\(s\\) \\['epochs'\\]"),
        ({"evaluate": {"x": {"dataset": "imagenet", "split": "val"}}}, "study.yaml: evaluate `x`: unknown dataset. Valid datasets: \\['affectnet'"),
        ({"evaluate": {"x": {"dataset": "synthetic", "split": "val", "options": {"label_mode": "x"}}}}, "evaluate `x`: `options` must map options"),
        ({"evaluate": {"x": {"dataset": "synthetic", "split": "val", "on_error": "ignore"}}}, "evaluate `x`: `on_error` must be one of"),
    ],
)
def test_bad_studies_are_clear_errors(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        load_study(_write_study(tmp_path, **changes))


def test_a_bad_variant_is_a_one_line_error_of_the_command(tmp_path, capsys):
    path = _write_study(tmp_path, variants={"plain": ["model.attentoin=null"], "full": []})
    assert main(["study", str(path), "--output", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("keras-fer study: error:") and "variant `plain`" in error and "attentoin" in error
    assert "\n" not in error and not (tmp_path / "out").exists()


def test_missing_study_and_bad_overrides_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="neither a YAML file nor a shipped study"):
        load_study(tmp_path / "nope.yaml")
    with pytest.raises(ValueError, match="evaluate.<label set>.<key>=value"):
        load_study(_write_study(tmp_path), ["evaluate.other.path=x"])
    with pytest.raises(ValueError, match="--set evaluate.synthetic.path=\\[1,: the value is not valid YAML: line 1"):
        load_study(_write_study(tmp_path), ["evaluate.synthetic.path=[1,"])
    with pytest.raises(ValueError, match="evaluate `synthetic`: unknown dataset"):
        load_study(_write_study(tmp_path), ["evaluate.synthetic.dataset=imagenet"])
    with pytest.raises(ValueError, match="evaluate `synthetic`: unknown dataset.* Received: dataset=\\['a'\\]"):
        load_study(_write_study(tmp_path), ["evaluate.synthetic.dataset=[a]"])  # a TypeError (unhashable) before
    (tmp_path / "twice.yaml").write_text(_write_study(tmp_path).read_text() + "seeds: [1]\n")
    with pytest.raises(ValueError, match="twice.yaml is not valid YAML: line \\d+, column 1: found the key 'seeds' a second time"):
        load_study(tmp_path / "twice.yaml")


def test_shipped_studies_resolve():
    assert {"ablation_fer2013", "label_noise_ferplus"} <= set(shipped_studies())
    ablation = load_study("ablation_fer2013")
    assert len(ablation.variants) == 8 and len(ablation.seeds) >= 3 and len(ablation.cells()) == 24
    assert set(ablation.evaluate) == {"fer2013", "ferplus"}
    noise = load_study("label_noise_ferplus")
    assert noise.noise == (0.0, 0.2, 0.4) and len(noise.seeds) >= 2 and set(noise.variants) == {"plain", "mixing", "full"}
    assert noise.config(noise.cells()[0]).data.options == {"label_mode": "majority", "num_classes": 7}
    long = load_study("ablation_fer2013_long")
    assert long.config(long.cells()[0]).training.epochs == 36 and long.seeds == (0,) and long.variants == ablation.variants


@pytest.mark.slow
def test_a_study_runs_skips_finished_cells_and_resumes(tmp_path, monkeypatch):
    study = load_study(_write_study(tmp_path, noise=[0, 0.25]))
    trained = []
    real_train = runner.train

    def interrupted_train(config, **kwargs):
        if len(trained) == 2:
            raise KeyboardInterrupt  # killed during the third cell
        trained.append(config.output.path)
        return real_train(config, **kwargs)

    monkeypatch.setattr(runner, "train", interrupted_train)
    with pytest.raises(KeyboardInterrupt):
        run_study(study, tmp_path / "runs", verbose=0)
    assert [row["variant"] for row in read_results(tmp_path / "runs" / "results.csv")] == ["plain", "full"]

    monkeypatch.setattr(runner, "train", lambda config, **kwargs: (trained.append(config.output.path), real_train(config, **kwargs)))
    run_study(study, tmp_path / "runs", verbose=0)
    assert [Path(path).relative_to(tmp_path / "runs").as_posix() for path in trained] == [
        "plain/seed0",
        "full/seed0",
        "plain/noise25/seed0",
        "full/noise25/seed0",
    ]
    rows = read_results(tmp_path / "runs" / "results.csv")
    assert [(row["variant"], row["noise"]) for row in rows] == [("plain", "0"), ("full", "0"), ("plain", "0.25"), ("full", "0.25")]
    assert (tmp_path / "runs" / "full" / "noise25" / "seed0" / "flipped_labels.csv").is_file()

    # Finished: nothing trains; results lost but runs kept: evaluated again, same figures.
    monkeypatch.setattr(runner, "train", _must_not_train)
    run_study(study, tmp_path / "runs", verbose=0)
    assert read_results(tmp_path / "runs" / "results.csv") == rows
    (tmp_path / "runs" / "results.csv").unlink()
    run_study(study, tmp_path / "runs", verbose=0)
    assert read_results(tmp_path / "runs" / "results.csv") == rows

    predictions, labels, class_names = read_predictions(tmp_path / "runs")
    assert class_names["synthetic"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    for row in rows:
        predicted = predictions[(row["variant"], row["seed"], row["noise"], "synthetic")]
        assert len(predicted) == int(row["num_examples"]) == len(labels["synthetic"])
        assert float(row["accuracy"]) == pytest.approx(np.mean(predicted == labels["synthetic"]), abs=5e-5)
        recall = np.mean(predicted[labels["synthetic"] == 1] == 1)
        assert float(row["recall_disgust"]) == pytest.approx(recall, abs=5e-5)

    summary = write_summary(study, tmp_path / "runs").read_text()
    assert "| `full` | `plain` | synthetic | 25% | 1 |" in summary and (tmp_path / "runs" / "accuracy_vs_noise_synthetic.png").is_file()


def _must_not_train(config, **kwargs):
    raise AssertionError(f"trained {config.output.path} again")


def test_statistics_against_hand_computed_values():
    assert mean_and_std([0.5, 0.6, 0.7]) == (0.6, 0.1)
    mean, std = mean_and_std([0.42])
    assert mean == 0.42 and np.isnan(std)
    # b = 1, c = 5 discordant faces: 2 * (C(6,0) + C(6,1)) / 2^6 = 14 / 64.
    assert mcnemar([1, 0, 0, 0, 0, 0, 1], [0, 1, 1, 1, 1, 1, 1]) == (1, 5, round(14 / 64, 6))
    assert mcnemar([1, 0], [1, 0]) == (0, 0, 1.0)
    assert binomial_two_sided(5, 10) == 1.0 and binomial_two_sided(1, 5) == pytest.approx(12 / 32)
    assert holm([0.04, 0.01, 0.5, 0.02]) == [0.08, 0.04, 0.5, 0.06]
    with pytest.raises(ValueError, match="one entry per face"):
        mcnemar([1, 0], [1])


def test_bootstrap_interval_of_a_difference():
    rng = np.random.default_rng(0)
    same = rng.random(500) < 0.6
    assert bootstrap_difference(same, same) == (0.0, 0.0, 0.0)
    better = same | (rng.random(500) < 0.2)
    difference, low, high = bootstrap_difference(better, same, resamples=4000)
    assert difference == pytest.approx(np.mean(better) - np.mean(same), abs=1e-4) and low < difference < high
    standard_error = np.std(better.astype(float) - same) / np.sqrt(500)
    assert high - low == pytest.approx(2 * 1.96 * standard_error, rel=0.15)
    # Two seeds of each face resampled together: the same point estimate.
    grouped = bootstrap_difference(np.tile(better, 2), np.tile(same, 2), groups=np.tile(np.arange(500), 2))
    assert grouped[0] == difference


def _results_folder(tmp_path):
    """A results folder written by hand: 4 faces, variants a and b, seeds 0 and 1."""
    labels = "0011"
    predicted = {("a", 0): "0011", ("a", 1): "0010", ("b", 0): "0101", ("b", 1): "1001"}
    rows = []
    for (variant, seed), text in predicted.items():
        guess, truth = np.array(list(text), int), np.array(list(labels), int)
        rows.append(
            {
                "study": "hand",
                "variant": variant,
                "seed": seed,
                "train_labels": "x",
                "eval_labels": "x",
                "noise": 0,
                "epochs": 1,
                "num_examples": 4,
                "accuracy": np.mean(guess == truth),
                "balanced_accuracy": 0,
                "macro_f1": 0,
                "recall_c0": np.mean(guess[:2] == 0),
                "recall_c1": np.mean(guess[2:] == 1),
            }
        )
    _csv(tmp_path / "results.csv", rows)
    _csv(tmp_path / "predictions.csv", [{"variant": v, "seed": s, "noise": 0, "eval_labels": "x", "predicted": t} for (v, s), t in predicted.items()])
    _csv(tmp_path / "labels.csv", [{"eval_labels": "x", "class_names": "c0 c1", "labels": labels}])
    study = {
        "base": "synthetic",
        "variants": {"a": [], "b": []},
        "seeds": [0, 1],
        "comparisons": [["a", "b"]],
        "evaluate": {"x": {"dataset": "synthetic", "split": "val"}},
    }
    (tmp_path / "hand.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    return load_study(tmp_path / "hand.yaml")


def _csv(path, rows):
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_summary_figures_are_the_hand_computed_ones(tmp_path):
    study = _results_folder(tmp_path)
    table = variant_table(study, read_results(tmp_path / "results.csv"), "x", 0.0)
    # a: accuracies 1.0 and 0.75; b: 0.5 and 0.5.
    assert table["a"]["accuracy"] == (0.875, round(np.std([1.0, 0.75], ddof=1), 4)) and table["b"]["accuracy"] == (0.5, 0.0)
    assert table["a"]["recall_c1"] == (0.75, round(np.std([1.0, 0.5], ddof=1), 4))
    predictions, labels, _ = read_predictions(tmp_path)
    result = paired_comparison(predictions, labels, study, "a", "b", "x", 0.0)
    # Seed 0: a right on 4, b on faces 0 and 3; seed 1: a on 0, 1, 2, b on 1 and 3. a alone: 1, 2, 0, 2; b alone: 3.
    assert (result["wins"], result["losses"], result["seeds"], result["difference"]) == (4, 1, 2, 0.375)
    assert result["p_value"] == round(binomial_two_sided(1, 5), 6)
    per_class = paired_comparison(predictions, labels, study, "a", "b", "x", 0.0, classes=[1])
    assert (per_class["wins"], per_class["losses"]) == (2, 1)
    summary = write_summary(study, tmp_path).read_text()
    assert "| `a` | 2 | 87.50 ± 17.68 |" in summary and "| `b` | 2 | 50.00 ± 0.00 |" in summary
    assert "| `a` | `b` | x | 0% | 2 | +37.50 |" in summary and "4 / 1 | 0.3750 | 0.3750 | no |" in summary


COMMITTED = sorted(path.name for path in SHIPPED_RESULTS.iterdir() if path.is_dir()) if SHIPPED_RESULTS.is_dir() else []


def test_the_ablation_results_are_committed():
    assert "ablation_fer2013" in COMMITTED and set(COMMITTED) <= set(shipped_studies())


@pytest.mark.parametrize("name", COMMITTED)
def test_committed_summaries_are_regenerated_from_their_results(name, tmp_path):
    folder = SHIPPED_RESULTS / name
    for file_name in ("results.csv", "predictions.csv", "labels.csv"):
        shutil.copy(folder / file_name, tmp_path / file_name)
    regenerated = write_summary(load_study(name), tmp_path).read_text()
    assert regenerated == (folder / "README.md").read_text()
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(p.name for p in folder.glob("*.png"))


def test_readme_quotes_the_generated_headline_table():
    readme = (SHIPPED_RESULTS.parents[1] / "README.md").read_text()
    quoted = readme.split("<!-- headline: ablation_fer2013 -->\n")[1].split("<!-- /headline -->")[0]
    assert quoted.strip() == headline_table(load_study("ablation_fer2013"), SHIPPED_RESULTS / "ablation_fer2013").strip()


def test_a_study_on_another_backend_starts_the_command_again(tmp_path, monkeypatch, capsys):
    import subprocess
    import sys

    started = []

    class Child:
        def __init__(self, command, env):
            started.append((command, env["KERAS_BACKEND"], env["KERAS_FER_BACKEND_SWITCHED"]))

        def wait(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", Child)
    path = _write_study(tmp_path, set=[*TINY, "training.backend=jax"])
    arguments = ["study", str(path), "--output", str(tmp_path / "out")]
    assert main(arguments) == 0
    assert "Keras runs on tensorflow here; training.backend is jax: starting keras-fer study again with KERAS_BACKEND=jax" in capsys.readouterr().out
    isolated = ["-P"] if sys.version_info >= (3, 11) else []
    assert started == [([sys.executable, *isolated, "-m", "keras_fer.cli", *arguments], "jax", "jax")] and not (tmp_path / "out").exists()
    mixed = _write_study(tmp_path, set=TINY, variants={"plain": ["training.backend=jax"], "full": ["training.backend=torch"]})
    assert main(["study", str(mixed), "--output", str(tmp_path / "out")]) == 2
    assert "A study trains all its cells on one backend; its cells ask for training.backend ['jax', 'torch']." in capsys.readouterr().err
