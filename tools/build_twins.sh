#!/usr/bin/env bash
# Rebuilds the TFLite twins of the shipped models, keras_fer/assets/<name>_dynamic_int8.tflite and .json, from their
# .keras files. Run it after replacing a shipped .keras file: tests/test_recognizer.py checks that each twin's JSON
# records the SHA-256 of the .keras file beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
quantize=$(python -c "from keras_fer.models.presets import TWIN_QUANTIZATION; print(TWIN_QUANTIZATION)")
for name in $(python -c "from keras_fer.models.presets import WEIGHTS; print(*WEIGHTS)"); do
    twin="${name}_${quantize}"
    python -m keras_fer.cli export "keras_fer/assets/$name.keras" --format tflite --quantize "$quantize" --out "$work/$name/$twin.tflite"
    cp "$work/$name/$twin.tflite" "$work/$name/$twin.json" keras_fer/assets/  # not labels.txt: the names follow from 7 or 8 outputs
done
