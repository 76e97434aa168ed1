"""Exports for serving and mobile: SavedModel and TFLite (float32, float16, int8)."""

from keras_fer.export.exporters import (
    FORMATS,
    QUANTIZATIONS,
    export_saved_model,
    export_tflite,
    export_tflite_variants,
    write_metadata,
)
from keras_fer.export.litert import LiteRTModel

__all__ = ["FORMATS", "LiteRTModel", "QUANTIZATIONS", "export_saved_model", "export_tflite", "export_tflite_variants", "write_metadata"]
