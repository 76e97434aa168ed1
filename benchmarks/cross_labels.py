"""Shipped models scored against both label sets of the same PublicTest faces: FER2013's original labels and FER+'s.

FER+ re-labelled FER2013's images with about ten annotators each; its
majority labels disagree with FER2013's on about a third of the faces. A
model that learned FER2013's label noise scores lower against FER+'s labels
than one trained on them, and the other way round: how much tells which
generalises to cleaner labels. A 7-class model is scored on the FER+ faces
whose majority is one of the 7 basic expressions; an 8-class model is
reported over the 7 on FER2013 (contempt dropped, scores renormalised).

Then each model after the first is compared with the first on the same
faces, for each label set both are scored on: faces right only for it and
only for the first, the difference in points and its standard error as a
paired comparison, McNemar's z (right only for it minus only for the
first, over the square root of their sum) and its exact two-sided p-value
(`keras_fer.studies.statistics.mcnemar`, as the study summaries use). It measures how much the
sampling of faces could explain, not how much another training seed would
change; and the FER+ PublicTest faces are the split these models chose
their checkpoints on, which favours each model on its own labels.

    python benchmarks/cross_labels.py --models fer2013 ferplus
"""

import argparse

import numpy as np
from machine import describe

from keras_fer.data import load_fer2013, load_ferplus
from keras_fer.data.classes import EXPRESSIONS, to_basic_classes
from keras_fer.inference import load_classifier
from keras_fer.models import WEIGHTS
from keras_fer.studies.statistics import mcnemar
from keras_fer.training import classification_report


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["fer2013"], help="shipped model names or .keras paths")
    parser.add_argument("--fer2013", default="../shared/data/fer2013")
    parser.add_argument("--ferplus", default="../shared/data/ferplus")
    arguments = parser.parse_args()
    fer2013 = load_fer2013(arguments.fer2013, "val")
    ferplus = load_ferplus(arguments.ferplus, "PublicTest")
    print(f"{describe()}; FER2013 val: {fer2013.num_examples} faces; FER+ PublicTest: {ferplus.num_examples}")
    print("| model | classes | FER2013 labels: accuracy | balanced | FER+ labels, 7 basic: accuracy | balanced | FER+, 8: accuracy | balanced |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    basic_faces = ferplus.labels < len(EXPRESSIONS)
    right = {}  # model -> {label set: whether each face was right}
    for name in arguments.models:
        classifier = load_classifier(name, "keras" if name in WEIGHTS else None)  # the .keras model, as the cards quote it
        scored = {"FER2013": (fer2013.labels, basic(classifier, fer2013.images), EXPRESSIONS)}
        scored["FER+ 7 basic"] = (ferplus.labels[basic_faces], basic(classifier, ferplus.images[basic_faces]), EXPRESSIONS)
        if len(classifier.class_names) > len(EXPRESSIONS):
            scored["FER+ 8"] = (ferplus.labels, predicted(classifier, ferplus.images), classifier.class_names)
        row = f"| {name} | {len(classifier.class_names)} "
        for labels, scores, names in scored.values():
            report = classification_report(labels, scores, names)
            row += f"| {report['accuracy']:.2%} | {report['balanced_accuracy']:.2%} "
        print(row + ("| - | - |" if len(scored) == 2 else "|"))
        right[name] = {labels: scores.argmax(axis=1) == truth for labels, (truth, scores, _) in scored.items()}
    if len(right) > 1:
        print_paired(right, arguments.models[0])


def print_paired(right, baseline):
    """Each model against `baseline` on the same faces: a paired comparison of their accuracies per label set."""
    print(f"\nPaired with {baseline} on the same faces")
    print("| model | labels | faces | right only for it | only for the first | difference (points) | standard error | McNemar z | exact p |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, sets in right.items():
        for labels, correct in sets.items():
            if name == baseline or labels not in right[baseline]:
                continue
            only_it, only_first, p_value = mcnemar(correct, right[baseline][labels])
            count, discordant = len(correct), only_it + only_first
            difference = (only_it - only_first) / count
            error = np.sqrt(max(discordant - (only_it - only_first) ** 2 / count, 0.0)) / count
            row = f"| {name} | {labels} | {count} | {only_it} | {only_first} | {difference * 100:+.2f} | {error * 100:.2f} "
            print(row + f"| {(only_it - only_first) / np.sqrt(discordant) if discordant else 0.0:+.2f} | {p_value:.4f} |")


def predicted(classifier, images, batch_size=256):
    return np.concatenate([classifier(images[start : start + batch_size]) for start in range(0, len(images), batch_size)])


def basic(classifier, images):
    scores = predicted(classifier, images)
    return scores if len(classifier.class_names) == len(EXPRESSIONS) else to_basic_classes(scores, classifier.class_names)


if __name__ == "__main__":
    main()
