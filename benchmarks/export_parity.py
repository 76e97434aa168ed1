"""Parity of every export format with `model.predict`, on a whole validation split.

Prints, for SavedModel and TFLite float32 / float16 / dynamic int8 / int8
(run with LiteRT), the largest absolute probability difference from
`model.predict`, the top-1 agreement on all faces and on those whose top
two float probabilities are more than 0.05 apart, file sizes and accuracy
against the faces' labels (the Keras model's own in the first row).
`--count N` takes N faces at random instead.

    python benchmarks/export_parity.py --model runs/fer2013/model.keras \\
        --config fer2013 --data ../shared/data/fer2013
"""

import argparse
import tempfile

import keras
import numpy as np
from machine import describe

from keras_fer.export.command import representative_images
from keras_fer.export.parity import compare_formats, format_comparison
from keras_fer.training.config import load_config
from keras_fer.training.splits import load_config_split


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--config", default="synthetic", help="preset or YAML naming the data")
    parser.add_argument("--data", help="data.path of that config")
    parser.add_argument("--count", type=int, help="faces drawn at random (default: the whole split)")
    arguments = parser.parse_args()
    model = keras.models.load_model(arguments.model)
    overrides = [f"data.path={arguments.data}"] if arguments.data else []
    config = load_config(arguments.config, overrides).data
    height, width, channels = model.input_shape[1:]
    validation = load_config_split(config, config.validation_split, (height, width), channels)
    chosen = np.sort(np.random.default_rng(0).permutation(validation.num_examples)[: arguments.count])
    calibration = representative_images(model, arguments.config, overrides)
    with tempfile.TemporaryDirectory() as folder:
        rows = compare_formats(model, validation.images[chosen], folder, calibration, labels=validation.labels[chosen])
    print(describe())
    print(f"{len(chosen)} faces from {config.dataset} {config.validation_split}; int8 calibrated on {len(calibration)} training faces")
    print(format_comparison(rows))


if __name__ == "__main__":
    main()
