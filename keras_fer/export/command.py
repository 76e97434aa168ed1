"""`keras-fer export`: a saved model to SavedModel or TFLite."""

import numpy as np

from keras_fer.data.synthetic import make_faces
from keras_fer.export.exporters import export_saved_model, export_tflite
from keras_fer.models.loading import load_model_file
from keras_fer.training.run_directory import resolve_model_file

REPRESENTATIVE_IMAGES = 300


def export_model(model, format="tflite", out=None, quantize="none", representative=None, overrides=()):
    """Exports a `.keras` file or a run directory's model.

    Args:
        model: a `.keras` file, or a run directory holding `model.keras`.
        format: `"savedmodel"` or `"tflite"`.
        out: the SavedModel folder or `.tflite` file to create.
        quantize: TFLite quantisation, one of `QUANTIZATIONS` (see
            `export_tflite`).
        representative: int8 calibration images: `"synthetic"` (drawn faces,
            the default) or a config (preset or YAML) whose training split
            is sampled. Only with `quantize="int8"`.
        overrides: `"section.key=value"` for that config (`--set`,
            `--data`). Only with a `representative` config.

    Returns:
        The path written.
    """
    _check_calibration(quantize, representative, overrides)
    path, _ = resolve_model_file(model)
    if out is None:
        raise ValueError("--out is required: the SavedModel folder or .tflite file to create.")
    loaded = load_model_file(path)
    if format == "savedmodel":
        if quantize != "none":
            raise ValueError(f"--quantize applies to TFLite only. Received: --quantize {quantize} with --format savedmodel")
        return export_saved_model(loaded, out, source=path)
    if format != "tflite":
        raise ValueError(f"--format must be savedmodel or tflite. Received: {format!r}")
    images = representative_images(loaded, representative or "synthetic", overrides) if quantize == "int8" else None
    return export_tflite(loaded, out, quantize, images, source=path)


def _check_calibration(quantize, representative, overrides):
    """Refuses calibration options that would be ignored: they choose int8 calibration faces, `--set` and `--data` from a config."""
    if quantize != "int8" and (representative is not None or overrides):
        raise ValueError(
            f"--representative, --data and --set choose int8 calibration faces: they apply only with --quantize int8. Received: --quantize {quantize}"
        )
    if representative in (None, "synthetic") and overrides:
        raise ValueError(f"--data and --set apply to the config of --representative CONFIG, not to synthetic faces. Received: {', '.join(overrides)}")


def representative_images(model, source="synthetic", overrides=(), count=REPRESENTATIVE_IMAGES, seed=0):
    """`count` uint8 faces at the model's input size for int8 calibration."""
    height, width, channels = model.input_shape[1:]
    if source == "synthetic":
        if height != width:
            raise ValueError(f"Synthetic faces are square; the model takes {height}x{width}. Pass --representative CONFIG.")
        return make_faces(count // 7 + 1, image_size=height, channels=channels, seed=seed).images[:count]
    from keras_fer.training.config import load_config
    from keras_fer.training.splits import load_config_split

    data = load_config(source, overrides).data
    train = load_config_split(data, data.train_split, (height, width), channels, seed)
    picks = np.random.default_rng(seed).permutation(train.num_examples)[:count]
    return train.images[np.sort(picks)]
