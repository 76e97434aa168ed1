"""The `keras-fer` command."""

import argparse
import json
import os
import sys
import time
from pathlib import Path

SYNTHETIC_TRAIN_COUNTS = (195, 21, 200, 352, 235, 155, 242)
SYNTHETIC_VALIDATION_PER_CLASS = 40


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.command is None:
        parser.print_help()
        return 2
    try:
        return arguments.run(arguments)
    except ValueError as error:
        if arguments.debug:
            raise
        print(f"keras-fer {arguments.command}: error: {error}", file=sys.stderr)
        return 2


def _parser():
    parser = argparse.ArgumentParser(prog="keras-fer", description="Facial expression recognition with Keras 3.")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = subcommands.add_parser(
        "train",
        help="train a model (without arguments: the tiny preset on the embedded synthetic faces)",
        description="Train the tiny ResNet18 preset on procedurally drawn faces with "
        "FER2013-like class imbalance, offline, and write the run directory.",
    )
    train.add_argument("--output", type=Path, help="run directory (default: runs/train-<date>-<time>)")
    train.add_argument("--epochs", type=_positive_int, default=12, help="training epochs (default: 12)")
    train.add_argument("--seed", type=int, default=0, help="seed of data and initialisation (default: 0)")
    train.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    train.add_argument("--debug", action="store_true", help="show tracebacks")
    train.set_defaults(run=_train)
    return parser


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _train(arguments):
    from keras_fer.training.fit import prepare_run_directory

    run_dir = arguments.output or Path("runs") / time.strftime("train-%Y%m%d-%H%M%S")
    run_dir = prepare_run_directory(run_dir, overwrite=arguments.overwrite)

    import keras

    from keras_fer.data.synthetic import make_faces
    from keras_fer.models import PRESETS, from_preset
    from keras_fer.training.fit import fit

    keras.utils.set_random_seed(arguments.seed)
    image_size = PRESETS["tiny"]["input_shape"][0]
    train = make_faces(SYNTHETIC_TRAIN_COUNTS, image_size=image_size, seed=arguments.seed)
    validation = make_faces(SYNTHETIC_VALIDATION_PER_CLASS, image_size=image_size, seed=arguments.seed + 1)
    settings = {
        "preset": "tiny",
        "data": "synthetic",
        "train_samples_per_class": list(SYNTHETIC_TRAIN_COUNTS),
        "validation_samples_per_class": SYNTHETIC_VALIDATION_PER_CLASS,
        "class_names": list(train.class_names),
        "epochs": arguments.epochs,
        "seed": arguments.seed,
    }
    (run_dir / "config.json").write_text(json.dumps(settings, indent=2) + "\n")
    summary = fit(
        from_preset("tiny", seed=arguments.seed),
        (train.images, train.labels),
        (validation.images, validation.labels),
        run_dir,
        epochs=arguments.epochs,
        verbose=2,
    )
    for name, recall in zip(train.class_names, summary["validation_per_class_recall"]):
        print(f"  {name:<9} recall {recall:.2f}")
    print(f"Balanced accuracy {summary['validation_balanced_accuracy']:.3f}. Run written to {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
