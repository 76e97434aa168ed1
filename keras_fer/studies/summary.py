"""A study's summary, made from its result files only: `README.md` with tables and paired tests, and plots."""

import collections
from pathlib import Path

import numpy as np

from keras_fer.studies.runner import read_predictions, read_results
from keras_fer.studies.statistics import bootstrap_difference, holm, mcnemar, mean_and_std
from keras_fer.training.report import new_figure, save_figure

METRICS = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro-F1"))
SIGNIFICANCE = 0.05
SUMMARY_FILE = "README.md"


def write_summary(study, results_dir):
    """Writes `README.md` and its plots into `results_dir` from `results.csv`, `predictions.csv`, `labels.csv`.

    Returns:
        The path of the README.
    """
    results_dir = Path(results_dir)
    rows = read_results(results_dir / "results.csv")
    predictions, labels, class_names = read_predictions(results_dir)
    sections = [_header(study, rows), _recipe(study, rows)]
    for label_set in study.evaluate:
        sections.append(_results_section(study, rows, label_set, results_dir))
    if study.comparisons:
        sections.append(_comparisons_section(study, predictions, labels, class_names))
    if len(study.noise) > 1:
        sections.append(_noise_section(study, rows, results_dir))
    path = results_dir / SUMMARY_FILE
    path.write_text("\n\n".join(section.strip("\n") for section in sections) + "\n")
    return path


def variant_table(study, rows, label_set, noise):
    """`{variant: {"seeds": n, metric: (mean, std), "recall_<class>": (mean, std)}}` for one label set and noise level."""
    table = {}
    for variant in study.variants:
        cells = [row for row in rows if _matches(row, variant, label_set, noise)]
        if not cells:
            continue
        columns = [column for column in cells[0] if column in dict(METRICS) or column.startswith("recall_")]
        table[variant] = {"seeds": len(cells), **{c: mean_and_std([float(row[c]) for row in cells]) for c in columns}}
    return table


def paired_comparison(predictions, labels, study, variant, baseline, label_set, noise, classes=None):
    """Pooled-seed McNemar test and bootstrap interval of `variant` against `baseline` on the same faces.

    Seed s of the variant is paired with seed s of the baseline; seeds
    that only one of them has are left out. `classes` restricts the faces
    to those whose true class is in it (a per-class recall comparison).

    Returns:
        A dict with `seeds`, `difference`, `low`, `high`, `wins`, `losses`
        and `p_value`, or `None` when no seed has both.
    """
    truth = labels[label_set]
    keep = np.ones(len(truth), bool) if classes is None else np.isin(truth, classes)
    ours, theirs, faces, seeds = [], [], [], 0
    for seed in study.seeds:
        a = predictions.get((variant, str(seed), f"{noise:g}", label_set))
        b = predictions.get((baseline, str(seed), f"{noise:g}", label_set))
        if a is None or b is None:
            continue
        seeds += 1
        ours.append((a == truth)[keep])
        theirs.append((b == truth)[keep])
        faces.append(np.flatnonzero(keep))
    if not seeds:
        return None
    ours, theirs, faces = np.concatenate(ours), np.concatenate(theirs), np.concatenate(faces)
    wins, losses, p_value = mcnemar(ours, theirs)
    difference, low, high = bootstrap_difference(ours, theirs, groups=faces)
    return {"seeds": seeds, "difference": difference, "low": low, "high": high, "wins": wins, "losses": losses, "p_value": p_value}


def _header(study, rows):
    cells = {(row["variant"], row["seed"], row["noise"]) for row in rows}
    return f"""
# Study `{study.name}`

{study.description}

Made by `keras-fer study {study.name} --summary-only` from `results.csv`
({len(cells)} of {len(study.cells())} cells finished, {len(rows)} rows); do not edit by hand.
"""


def _recipe(study, rows):
    lines = ["## Recipe", "", f"Every cell trains `{study.base}` with:", ""]
    lines += [f"- `{override}`" for override in study.overrides] or ["- (no shared overrides)"]
    lines += ["", "| variant | overrides |", "|---|---|"]
    lines += [f"| `{name}` | {', '.join(f'`{o}`' for o in overrides) or '(the base)'} |" for name, overrides in study.variants.items()]
    faces = {row["eval_labels"]: row["num_examples"] for row in rows}
    sets = ", ".join(f"`{name}` ({data['dataset']} {data['split']}, {faces.get(name, '?')} faces)" for name, data in study.evaluate.items())
    noise = ", ".join(f"{100 * n:g}%" for n in study.noise)
    lines += [
        "",
        f"Seeds {list(study.seeds)}; training labels `{study.train_labels}`; share of training labels flipped: {noise}; "
        f"evaluated against {sets}. Each cell is an ordinary `keras-fer train` run (its `config.yaml`, "
        "`history.csv` and `report.json` in the study's run folder).",
    ]
    return "\n".join(lines)


def _results_section(study, rows, label_set, results_dir):
    lines = [f"## Results against `{label_set}` labels"]
    for noise in study.noise:
        table = variant_table(study, rows, label_set, noise)
        if not table:
            continue
        several = len(study.noise) > 1
        heading = f"### {100 * noise:g}% of training labels flipped" if several else "Mean ± standard deviation over seeds, in %:"
        lines += ["", heading, ""]
        lines += ["| variant | seeds | " + " | ".join(name for _, name in METRICS) + " |", "|---|---:|" + "---:|" * len(METRICS)]
        for variant, scores in table.items():
            lines.append(f"| `{variant}` | {scores['seeds']} | " + " | ".join(percent_text(scores[m]) for m, _ in METRICS) + " |")
        recalls = [column for column in next(iter(table.values())) if column.startswith("recall_")]
        lines += ["", "Per-class recall, mean over seeds, in %:", ""]
        lines += ["| variant | " + " | ".join(c[len("recall_") :] for c in recalls) + " |", "|---|" + "---:|" * len(recalls)]
        for variant, scores in table.items():
            lines.append(f"| `{variant}` | " + " | ".join(f"{100 * scores[c][0]:.1f}" for c in recalls) + " |")
        plot = f"recall_{label_set}_noise{round(100 * noise)}.png"
        _plot_recall(table, recalls, results_dir / plot, f"{study.name}: recall against {label_set} labels")
        lines += ["", f"![per-class recall]({plot})"]
    return "\n".join(lines)


def _comparisons_section(study, predictions, labels, class_names):
    tests = []
    for variant, baseline in study.comparisons:
        for label_set in study.evaluate:
            if label_set not in labels:
                continue
            for noise in study.noise:
                result = paired_comparison(predictions, labels, study, variant, baseline, label_set, noise)
                if result:
                    tests.append(((variant, baseline, label_set, noise), result))
    adjusted = holm([result["p_value"] for _, result in tests])
    lines = [
        "## Paired comparisons",
        "",
        "Seed s of a variant is paired with seed s of its baseline on the same faces, seeds pooled. "
        "Difference: accuracy of the variant minus the baseline's, in points, with a 95% bootstrap interval "
        "(faces resampled, all seeds of a face together). Wins / losses: faces only the variant / only the "
        "baseline got right. p: exact two-sided McNemar test; Holm: p adjusted for all the comparisons of "
        f"this table. Significant: Holm-adjusted p < {SIGNIFICANCE}.",
        "",
        "| variant | baseline | labels | noise | seeds | difference | 95% interval | wins / losses | p | Holm p | significant |",
        "|---|---|---|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for ((variant, baseline, label_set, noise), result), p_holm in zip(tests, adjusted):
        lines.append(
            f"| `{variant}` | `{baseline}` | {label_set} | {100 * noise:g}% | {result['seeds']} | "
            f"{100 * result['difference']:+.2f} | [{100 * result['low']:+.2f}, {100 * result['high']:+.2f}] | "
            f"{result['wins']} / {result['losses']} | {p_text(result['p_value'])} | {p_text(p_holm)} | "
            f"{'yes' if p_holm < SIGNIFICANCE else 'no'} |"
        )
    lines += _per_class_comparisons(study, predictions, labels, class_names)
    return "\n".join(lines)


def _per_class_comparisons(study, predictions, labels, class_names):
    label_set = next((name for name in study.evaluate if name in labels), None)
    if label_set is None:
        return []
    class_names = class_names[label_set]
    lines = [
        "",
        f"### Per-class recall differences against `{label_set}` labels, {100 * study.noise[0]:g}% noise",
        "",
        "Recall of the variant minus the baseline's, in points, and the McNemar p over that class's faces (not adjusted; * where p < 0.05):",
        "",
        "| variant | baseline | " + " | ".join(class_names) + " |",
        "|---|---|" + "---:|" * len(class_names),
    ]
    for variant, baseline in study.comparisons:
        cells = []
        for index in range(len(class_names)):
            result = paired_comparison(predictions, labels, study, variant, baseline, label_set, study.noise[0], [index])
            if result is None:
                cells.append("")
                continue
            star = "*" if result["p_value"] < SIGNIFICANCE else ""
            cells.append(f"{100 * result['difference']:+.1f}{star} (p {p_text(result['p_value'])})")
        if any(cells):
            lines.append(f"| `{variant}` | `{baseline}` | " + " | ".join(cells) + " |")
    return lines


def _noise_section(study, rows, results_dir):
    lines = ["## Accuracy against label noise", ""]
    for label_set in study.evaluate:
        curves = collections.defaultdict(dict)
        for noise in study.noise:
            for variant, scores in variant_table(study, rows, label_set, noise).items():
                curves[variant][noise] = scores["accuracy"]
        header = " | ".join(f"{100 * n:g}%" for n in study.noise)
        lines += [f"Accuracy against `{label_set}` labels (mean ± std over seeds, %), by share of flipped training labels:", ""]
        lines += [f"| variant | {header} |", "|---|" + "---:|" * len(study.noise)]
        for variant, points in curves.items():
            lines.append(f"| `{variant}` | " + " | ".join(percent_text(points[n]) if n in points else "" for n in study.noise) + " |")
        plot = f"accuracy_vs_noise_{label_set}.png"
        _plot_noise(curves, results_dir / plot, f"{study.name}: accuracy against {label_set} labels")
        lines += ["", f"![accuracy against label noise]({plot})", ""]
    return "\n".join(lines)


def _matches(row, variant, label_set, noise):
    return row["variant"] == variant and row["eval_labels"] == label_set and float(row["noise"]) == noise


def p_text(p_value):
    return "<0.0001" if p_value < 1e-4 else f"{p_value:.4f}"


def percent_text(mean_std):
    """`"53.09 ± 0.40"`, or `"53.09 (1 seed)"` when there is no spread to show."""
    mean, std = mean_std
    return f"{100 * mean:.2f} (1 seed)" if np.isnan(std) else f"{100 * mean:.2f} ± {100 * std:.2f}"


def _plot_recall(table, recalls, path, title):
    figure, axes = new_figure(figsize=(1.2 * len(recalls) + 3, 3.6))
    width = 0.8 / len(table)
    positions = np.arange(len(recalls))
    for offset, (variant, scores) in enumerate(table.items()):
        axes.bar(positions + offset * width, [100 * scores[c][0] for c in recalls], width, yerr=[100 * scores[c][1] for c in recalls], label=variant)
    axes.set_xticks(positions + 0.4 - width / 2, [c[len("recall_") :] for c in recalls])
    axes.set_ylabel("recall (%)")
    axes.set_title(title)
    axes.legend(fontsize=7, ncol=2)
    axes.grid(axis="y", alpha=0.3)
    save_figure(figure, path)


def _plot_noise(curves, path, title):
    figure, axes = new_figure(figsize=(5, 3.6))
    for variant, points in curves.items():
        noise = sorted(points)
        axes.errorbar(
            [100 * n for n in noise],
            [100 * points[n][0] for n in noise],
            yerr=[100 * points[n][1] for n in noise],
            marker="o",
            capsize=3,
            label=variant,
        )
    axes.set_xlabel("training labels flipped (%)")
    axes.set_ylabel("accuracy (%)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    save_figure(figure, path)


def headline_table(study, results_dir, noise=0.0):
    """The markdown table README quotes: each variant's mean accuracy and balanced accuracy on every label set."""
    rows = read_results(Path(results_dir) / "results.csv")
    tables = {label_set: variant_table(study, rows, label_set, noise) for label_set in study.evaluate}
    header = " | ".join(f"{name} ({label_set})" for label_set in tables for _, name in METRICS[:2])
    lines = [f"| variant | seeds | {header} |", "|---|---:|" + "---:|" * (2 * len(tables))]
    for variant in study.variants:
        scores = [tables[label_set].get(variant) for label_set in tables]
        if not all(scores):
            continue
        figures = " | ".join(percent_text(score[metric]) for score in scores for metric, _ in METRICS[:2])
        lines.append(f"| `{variant}` | {min(score['seeds'] for score in scores)} | {figures} |")
    return "\n".join(lines)
