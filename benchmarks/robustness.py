"""Accuracy of a model on a validation split whose faces are changed in lighting, pose, framing and sharpness.

For each change of `keras_fer.data.perturbations` (two strengths each)
prints accuracy, balanced accuracy, the change from the clean faces, and
how many predictions stay what they were on the clean faces: the
robustness table of the model cards.

    python benchmarks/robustness.py --model keras_fer/assets/fer2013.keras \\
        --config fer2013 --data ../shared/data/fer2013
"""

import argparse

import numpy as np
from machine import describe

from keras_fer.data.perturbations import PERTURBATIONS
from keras_fer.models import load_model_file
from keras_fer.training.config import load_config
from keras_fer.training.scoring import classification_report
from keras_fer.training.splits import load_config_split

UNITS = {"brightness": "{:+g} levels", "contrast": "x{:g}", "rotation": "{:+g} degrees", "framing": "x{:g}", "blur": "sigma {:g} px"}
CHANGES = [
    ("brightness", -60),
    ("brightness", 60),
    ("contrast", 0.5),
    ("contrast", 1.5),
    ("rotation", 15),
    ("rotation", -30),
    ("framing", 0.85),
    ("framing", 1.2),
    ("blur", 1.0),
    ("blur", 2.0),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--config", default="fer2013", help="preset or YAML naming the data")
    parser.add_argument("--data", help="data.path of that config")
    parser.add_argument("--split", help="split to score (default: the config's validation split)")
    arguments = parser.parse_args()
    model = load_model_file(arguments.model)
    data = load_config(arguments.config, [f"data.path={arguments.data}"] if arguments.data else []).data
    height, width, channels = model.input_shape[1:]
    faces = load_config_split(data, arguments.split or data.validation_split, (height, width), channels)
    print(f"{arguments.model} on {faces.num_examples} faces of {data.dataset} {arguments.split or data.validation_split}")
    print(describe())
    clean = predict(model, faces.images)
    baseline = score(clean, faces)
    print("| change | accuracy | balanced accuracy | accuracy change | predictions kept |")
    print("|---|---:|---:|---:|---:|")
    print(f"| none | {baseline[0]:.2%} | {baseline[1]:.2%} | | |")
    for name, amount in CHANGES:
        predicted = predict(model, PERTURBATIONS[name](faces.images, amount))
        accuracy, balanced = score(predicted, faces)
        kept = np.mean(predicted.argmax(-1) == clean.argmax(-1))
        print(f"| {name} {UNITS[name].format(amount)} | {accuracy:.2%} | {balanced:.2%} | {100 * (accuracy - baseline[0]):+.2f} | {kept:.2%} |")


def predict(model, images):
    return model.predict(images.astype("float32"), batch_size=256, verbose=0)


def score(probabilities, faces):
    report = classification_report(faces.labels, probabilities, faces.class_names)
    return report["accuracy"], report["balanced_accuracy"]


if __name__ == "__main__":
    main()
