"""Moves the upsampling of a model trained on upsampled faces into the model: same weights, smaller input.

A run trained with `model.input_shape: [64, 64, 1]` on 48x48 faces (the loader upsamples them) becomes a model
that takes the 48x48 faces and resizes them inside (`model.internal_size: [64, 64]`, bilinear): what it sees of a
photo's face is then what it saw in training, and it keeps the input size of every other keras-fer model. The run's
config names the architecture; the weights are copied by layer name (the resize layer has none).

    python tools/internal_size.py runs/ferplus-64/config.yaml runs/ferplus-64/model.keras ferplus.keras --input-size 48
    python tools/internal_size.py CONFIG MODEL.keras OUT.keras --weights backup.weights.h5   # another epoch's weights
"""

import argparse
import dataclasses
from pathlib import Path

import keras
import numpy as np

from keras_fer.models.loading import load_model_file
from keras_fer.models.presets import WEIGHTS, copy_weights
from keras_fer.training import load_config
from keras_fer.training.run import build_model


def with_internal_size(config, source, input_size):
    """A model of `config`'s architecture taking `input_size` faces and resizing them to `source`'s input, with its weights."""
    height, width, channels = source.input_shape[1:]
    # A run that started from shipped weights took their architecture (e.g. 3x3 spatial kernels) where its config is null.
    shipped = WEIGHTS[config.model.weights].arguments if config.model.weights in WEIGHTS else {}
    inherited = {key: value for key, value in shipped.items() if key != "num_classes" and getattr(config.model, key) is None}
    model_config = dataclasses.replace(
        config.model, **inherited, input_shape=(input_size, input_size, channels), internal_size=(height, width), weights=None
    )
    model = build_model(model_config, source.output_shape[-1], config.training.seed)
    copy_weights(source, model, f"the weights of {source.name}")
    if len(model.weights) != len(source.weights):  # copy_weights fills the new model's layers: none of the source's may be left
        raise ValueError(f"{config.name}'s model section builds {len(model.weights)} weights, the model file holds {len(source.weights)}")
    faces = np.random.default_rng(0).integers(0, 256, (4, input_size, input_size, channels)).astype("float32")
    upsampled = keras.ops.image.resize(faces, (height, width), interpolation="bilinear")
    difference = float(np.abs(model.predict(faces, verbose=0) - source.predict(upsampled, verbose=0)).max())
    if difference > 1e-4:
        raise ValueError(f"the new model's predictions differ from the source's on upsampled faces by {difference:.2g}")
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="the run's config.yaml (its model section names the architecture)")
    parser.add_argument("model", type=Path, help="the run's .keras file")
    parser.add_argument("out", type=Path, help="the .keras file to write; must not exist")
    parser.add_argument("--input-size", type=int, default=48, help="side of the faces the new model takes (default: 48)")
    parser.add_argument("--weights", type=Path, help="a .weights.h5 file of the same model to use instead of its own (e.g. the last epoch's)")
    arguments = parser.parse_args()
    if arguments.out.exists() or arguments.out.suffix != ".keras":
        parser.error(f"--out must be a new .keras file. Received: {arguments.out}")
    if arguments.input_size < 8:
        parser.error(f"--input-size must be an integer >= 8. Received: {arguments.input_size}")
    source = load_model_file(arguments.model)
    if arguments.weights:
        source.load_weights(arguments.weights)
    model = with_internal_size(load_config(arguments.config), source, arguments.input_size)
    model.save(arguments.out)
    print(f"{arguments.out}: {model.input_shape[1:]} resized to {source.input_shape[1:3]} inside, weights of {arguments.weights or arguments.model}")


if __name__ == "__main__":
    main()
