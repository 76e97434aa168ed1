"""Copies a study's result files from its results folder into saved_models/studies/, rewrites the summary
there and the headline table that README.md quotes.

    python tools/update_study_results.py ablation_fer2013 runs/studies/ablation_fer2013
    python tools/update_study_results.py ablation_fer2013 saved_models/studies/ablation_fer2013  # results written in place
"""

import argparse
import shutil
from pathlib import Path

from keras_fer.studies import load_study, write_summary
from keras_fer.studies.summary import headline_table

ROOT = Path(__file__).resolve().parents[1]
RESULT_FILES = ("results.csv", "predictions.csv", "labels.csv")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study")
    parser.add_argument("results", type=Path)
    arguments = parser.parse_args()
    target = ROOT / "saved_models" / "studies" / arguments.study
    target.mkdir(parents=True, exist_ok=True)
    if arguments.results.resolve() != target.resolve():
        for name in RESULT_FILES:
            shutil.copy(arguments.results / name, target / name)
    study = load_study(arguments.study)
    print(write_summary(study, target))
    marker = f"<!-- headline: {arguments.study} -->\n"
    readme = (ROOT / "README.md").read_text()
    if marker in readme:
        before, rest = readme.split(marker)
        after = rest[rest.index("<!-- /headline -->") :]
        (ROOT / "README.md").write_text(before + marker + headline_table(study, target) + "\n" + after)


if __name__ == "__main__":
    main()
