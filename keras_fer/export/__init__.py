"""Exports for serving and mobile: SavedModel and TFLite (float32, float16, dynamic int8, int8).

The exporters need TensorFlow and are imported on first use, so that
`LiteRTModel` (running a `.tflite` file) works where TensorFlow is not
installed.
"""

import importlib

from keras_fer.export.litert import LiteRTModel

_EXPORTERS = ("FORMATS", "QUANTIZATIONS", "export_saved_model", "export_tflite", "export_tflite_variants", "write_metadata")

__all__ = ["LiteRTModel", *_EXPORTERS]


def __getattr__(name):
    if name in _EXPORTERS:
        return getattr(importlib.import_module("keras_fer.export.exporters"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTERS))
