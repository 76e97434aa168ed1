"""Averages the weights of models of one architecture into one model (a uniform "model soup", Wortsman et al. 2022).

Runs fine-tuned from the same weights with different seeds usually stay in one basin of the loss, and the mean of
their weights is often as accurate as their ensemble at the cost of one model. Every floating-point weight is the
plain mean over the models, batch-norm moving statistics included; other weights (random-number seed states,
counters) are the first model's, as are the architecture and the file's metadata. With
`--recalibrate CONFIG` the batch-norm moving statistics are then re-estimated for the averaged weights over the
training split of the config's data section, as stochastic weight averaging does (the means of the models'
statistics are not the statistics of the mean model).

    python tools/average_weights.py seed0.keras seed1.keras soup.keras
    python tools/average_weights.py seed0.keras seed1.keras soup.keras --recalibrate runs/ferplus-64/config.yaml
"""

import argparse
from pathlib import Path

import keras
import numpy as np

from keras_fer.models.loading import load_model_file
from keras_fer.training import load_config, recalibrate_batch_norm
from keras_fer.training.splits import load_config_split


def average_weights(models):
    """A model of `models[0]`'s architecture whose weights are the mean of `models`' weights, weight by weight."""
    if len(models) < 2:
        raise ValueError(f"average_weights needs at least 2 models. Received: {len(models)}")
    first = models[0]
    for model in models[1:]:
        shapes = [(weight.path, tuple(weight.shape)) for weight in model.weights]
        if shapes != [(weight.path, tuple(weight.shape)) for weight in first.weights]:
            raise ValueError(f"{model.name} is not of {first.name}'s architecture: its weights' names or shapes differ")
    soup = keras.models.clone_model(first)
    for target, *weights in zip(soup.weights, *(model.weights for model in models)):
        values = [keras.ops.convert_to_numpy(weight) for weight in weights]
        mean = np.mean(values, axis=0, dtype="float64").astype(values[0].dtype) if np.issubdtype(values[0].dtype, np.floating) else values[0]
        target.assign(mean)
    return soup


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+", help="two or more .keras files of one architecture, then the .keras file to write")
    parser.add_argument("--recalibrate", metavar="CONFIG", help="re-estimate batch-norm statistics on this config's training split")
    arguments = parser.parse_args()
    *sources, out = arguments.models
    if len(sources) < 2:
        parser.error(f"give at least 2 models to average and the file to write. Received: {len(arguments.models)} paths")
    if out.exists() or out.suffix != ".keras":
        parser.error(f"the last path must be a new .keras file. Received: {out}")
    try:
        soup = average_weights([load_model_file(path) for path in sources])
    except ValueError as error:
        parser.error(str(error))
    if arguments.recalibrate:
        try:
            data = load_config(arguments.recalibrate).data
            height, width, channels = soup.input_shape[1:]
            train = load_config_split(data, data.train_split, (height, width), channels)
        except ValueError as error:
            parser.error(f"--recalibrate {arguments.recalibrate}: {error}")
        count = recalibrate_batch_norm(soup, train.batches(64))
        print(f"batch-norm statistics re-estimated over {count} batches of {data.dataset} {data.train_split} ({train.num_examples} faces)")
    soup.save(out)
    print(f"{out}: the mean of the weights of {', '.join(map(str, sources))}")


if __name__ == "__main__":
    main()
