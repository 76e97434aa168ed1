"""Running exported `.tflite` models with the LiteRT interpreter (`ai-edge-litert`)."""

import os
from pathlib import Path

import numpy as np

from keras_fer.export.quantization import requantization_problems
from keras_fer.validation import is_int

MAX_THREADS = 4  # LiteRT threads keras-fer takes by default: more do not pay on models this small
# The most LiteRT threads keras-fer accepts: more than the largest machines' cores, far fewer than the
# 100,000 with which `keras-fer predict --threads` ended in std::bad_alloc instead of a one-line error.
THREADS_LIMIT = 256


def default_threads():
    """The LiteRT threads keras-fer's detectors and classifiers use unless told: the cores this process may run on, at most `MAX_THREADS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return min(cores or 1, MAX_THREADS)


def resolve_threads(num_threads):
    """`num_threads` checked (`None` or an integer from 1 to `THREADS_LIMIT`, else a one-line `ValueError`), `None` as `default_threads()`."""
    if num_threads is None:
        return default_threads()
    if not is_int(num_threads, minimum=1):
        raise ValueError(f"`num_threads` must be None or a positive integer. Received: num_threads={num_threads!r}")
    if num_threads > THREADS_LIMIT:
        raise ValueError(f"`num_threads` (--threads) must be at most {THREADS_LIMIT} LiteRT threads. Received: num_threads={num_threads}")
    return num_threads


class LiteRTModel:
    """A `.tflite` face classifier run by `ai_edge_litert`'s interpreter.

    Models run with LiteRT's default CPU delegate (XNNPACK), except int8
    files with a layer whose requantisation scale XNNPACK refuses (see
    `keras_fer.export.quantization`; `export_tflite` repairs its own): on
    those ai-edge-litert 2.3 aborts the process with heap corruption, so
    they run on the builtin kernels (`delegate == "none"`).

    Args:
        path: the `.tflite` file from `keras_fer.export.export_tflite`.
        num_threads: interpreter threads, at most `THREADS_LIMIT` (1 here,
            for measurements; `None` and `keras_fer.inference.load_classifier`
            give `.tflite` models `default_threads()`).

    Example:

    ```python
    model = LiteRTModel("fer2013_int8.tflite", num_threads=1)
    probabilities = model.predict(faces)  # uint8 (n, 48, 48, 1) -> (n, 7)
    ```
    """

    def __init__(self, path, num_threads=1):
        self.path = Path(path)
        self.num_threads = resolve_threads(num_threads)
        if not self.path.is_file():
            raise ValueError(f"TFLite model {self.path} does not exist.")
        self.interpreter = self._interpreter(self.num_threads, default_delegates=False)
        self.quantized = any(tensor["dtype"] == np.int8 for tensor in self.interpreter.get_tensor_details())
        self.delegate = "none" if self.quantized and requantization_problems(self.path) else "xnnpack"
        if self.delegate == "xnnpack":
            self.interpreter = self._interpreter(self.num_threads, default_delegates=True)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self.input["shape"][1:])
        self.num_classes = int(self.output["shape"][-1])
        self.interpreter.allocate_tensors()

    def _interpreter(self, num_threads, default_delegates):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.AUTO if default_delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            return Interpreter(model_path=str(self.path), num_threads=num_threads, experimental_op_resolver_type=resolver)
        except ValueError as error:
            raise ValueError(f"{self.path} is not a TFLite model: {error}") from error

    def predict(self, images):
        """Class probabilities of uint8 face crops `(n, height, width, channels)`, one at a time."""
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[1:] != self.input_shape:
            raise ValueError(f"{self.path.name} takes images (n, {', '.join(map(str, self.input_shape))}). Received shape {images.shape}")
        return np.concatenate([self._predict_one(image) for image in images]) if len(images) else np.zeros((0, self.num_classes), "float32")

    def _predict_one(self, image):
        self.interpreter.set_tensor(self.input["index"], image[None].astype(self.input["dtype"]))
        self.interpreter.invoke()
        return self._dequantized(self.interpreter.get_tensor(self.output["index"]))

    def _dequantized(self, values):
        scale, zero_point = self.output["quantization"]
        if scale:
            return (values.astype("float32") - zero_point) * scale
        return values.astype("float32")
