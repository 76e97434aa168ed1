"""Stages 6 and 7 of the shipped FER2013 model: self-distillation.

Each training face's target is half its one-hot label and half the mean
prediction of the teacher models on the face and on its mirror image. The
student starts from a teacher's weights and trains with
`keras_fer.training.train(config, targets=...)` on stage 5's recipe: no
class weighting, AdamW 2e-4 cosine with weight decay 0.01, flip and affine augmentation,
batch-norm statistics re-estimated on 100 training batches before each
validation, best by validation accuracy. Validation labels stay the
dataset's. Writes the run directory of `keras-fer train` (config.yaml,
model.keras, history.csv, report.json and the plots) and distillation.json
(teachers, start, the teachers' accuracy on the training faces); killed, it
resumes when started again with the same arguments. See the model card, stages 6-7:

    python saved_models/fer2013/distill.py --teachers runs/fer2013-stage5.keras runs/fer2013-stage4.keras \\
        --start runs/fer2013-stage5.keras --data ../shared/data/fer2013 --output runs/fer2013-distill
    python saved_models/fer2013/distill.py \\
        --teachers runs/fer2013-distill/model.keras runs/fer2013-stage5.keras runs/fer2013-stage4.keras \\
        --start runs/fer2013-distill/model.keras --data ../shared/data/fer2013 --output runs/fer2013-distill2
"""

import argparse
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_fer.training import load_config, train  # noqa: E402
from keras_fer.training.report import predict_probabilities  # noqa: E402
from keras_fer.training.run import resolve_run_directory  # noqa: E402


def teacher_predictions(teachers, dataset, batch_size=256):
    """The mean prediction of `teachers` over a dataset's faces and their mirror images."""
    return sum(predict_probabilities(teacher, dataset, batch_size, flip=True) for teacher in teachers) / len(teachers)


def teacher_targets(predictions, labels, label_weight=0.5):
    """`label_weight * one_hot(labels) + (1 - label_weight) * predictions`."""
    return (label_weight * np.eye(predictions.shape[1])[labels] + (1 - label_weight) * predictions).astype("float32")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teachers", nargs="+", required=True, help=".keras models whose predictions are the soft targets")
    parser.add_argument("--start", required=True, help=".keras model the student starts from")
    parser.add_argument("--data", required=True, help="the FER2013 image folders (train/, val/)")
    parser.add_argument("--output", required=True, help="a new run directory, or the one of a killed run to resume")
    parser.add_argument("--epochs", type=int, default=7)
    arguments = parser.parse_args()
    config = load_config(
        "fer2013",
        [
            f"data.path={arguments.data}",
            f"model.weights={arguments.start}",
            "model.spatial_kernel_size=3",
            "loss.weighting=none",
            "optimizer.learning_rate=0.0002",
            "optimizer.weight_decay=0.01",
            f"training.epochs={arguments.epochs}",
            "training.monitor=val_accuracy",
            "training.augmentation={erasing_scale: null, noise_stddev: 0}",
            "training.recalibrate_batch_norm=100",
            f"output.path={arguments.output}",
        ],
    )
    try:
        run_dir = resolve_run_directory(config)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    record_path = run_dir / "distillation.json"
    record = {"teachers": arguments.teachers, "start": arguments.start}
    if record_path.is_file() and {key: json.loads(record_path.read_text())[key] for key in record} != record:
        raise SystemExit(f"{run_dir} holds a distillation from other teachers or another start: {record_path}")
    teachers = [keras.models.load_model(path) for path in arguments.teachers]

    def targets(train_split):
        predictions = teacher_predictions(teachers, train_split)
        # Of the predictions, not of the targets: half a one-hot label always wins their argmax.
        accuracy = float(np.mean(predictions.argmax(1) == train_split.labels))
        print(f"teachers' accuracy on the training faces: {accuracy:.4f}")
        record_path.write_text(json.dumps({**record, "teachers_train_accuracy": round(accuracy, 4)}, indent=2) + "\n")
        return teacher_targets(predictions, train_split.labels)

    train(config, run_dir, verbose=2, targets=targets)


if __name__ == "__main__":
    main()
