import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from keras_fer.export import LiteRTModel, exporters
from keras_fer.export.quantization import repair_collapsed_ranges, requantization_problems


def model_with_a_dead_unit():
    """A ReLU layer that is zero on every input, feeding a Dense layer, as CBAM's channel MLP can be."""
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", kernel_initializer=keras.initializers.RandomUniform(0, 1, seed=0))(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    dead = keras.layers.Dense(2, activation="relu", bias_initializer=keras.initializers.Constant(-100.0), name="dead")(x)
    after = keras.layers.Dense(4, bias_initializer=keras.initializers.Constant(0.3), name="after_dead")(dead)
    x = keras.layers.Concatenate()([x, after])
    return keras.Model(inputs, keras.layers.Activation("softmax")(keras.layers.Dense(7, name="classifier")(x)))


def builtin_outputs(path, images):
    interpreter = Interpreter(model_path=str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    outputs = []
    for image in images:
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image[None])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0])
    return np.array(outputs)


XNNPACK_CHILD = """
import sys, numpy as np
from keras_fer.export import LiteRTModel
model = LiteRTModel(sys.argv[1])
images = np.load(sys.argv[2])
np.save(sys.argv[3], model.predict(images))
print(model.delegate)
"""


@pytest.mark.slow
def test_collapsed_ranges_are_found_and_repaired_without_changing_outputs(tmp_path, monkeypatch):
    images = np.random.default_rng(0).integers(0, 255, (40, 16, 16, 1), dtype="uint8")
    monkeypatch.setattr(exporters, "repair_collapsed_ranges", lambda path: [])
    raw = exporters.export_tflite(model_with_a_dead_unit(), tmp_path / "raw.tflite", "int8", images)
    problems = requantization_problems(raw)
    # The tensor is "<model>/dead_1/MatMul"; the model's name depends on how many models the process made before.
    assert [name.split(";")[0].split("/", 1)[1] for name, _ in problems] == ["dead_1/MatMul"] and problems[0][1] > 256
    repaired = tmp_path / "repaired.tflite"
    shutil.copy(raw, repaired)
    assert [name.split(";")[0].split("/", 1)[1] for name in repair_collapsed_ranges(repaired)] == ["dead_1/MatMul"]
    assert requantization_problems(repaired) == [] and repair_collapsed_ranges(repaired) == []
    np.testing.assert_array_equal(builtin_outputs(repaired, images), builtin_outputs(raw, images))
    assert LiteRTModel(raw).delegate == "none"
    np.save(tmp_path / "images.npy", images)
    child = subprocess.run(
        [sys.executable, "-c", XNNPACK_CHILD, str(repaired), str(tmp_path / "images.npy"), str(tmp_path / "out.npy")],
        capture_output=True,
        text=True,
    )
    assert child.returncode == 0 and child.stdout.strip().splitlines()[-1] == "xnnpack", child.stderr[-500:]
    expected = LiteRTModel(raw).predict(images)
    assert np.abs(np.load(tmp_path / "out.npy") - expected).max() <= 0.02
