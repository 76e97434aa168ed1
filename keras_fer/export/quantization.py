"""Int8 TFLite files that XNNPACK accepts: finding and repairing collapsed ranges.

A ReLU unit that stays at zero on every calibration face (often in CBAM's
two-unit channel MLP) gets the converter's floor range, a scale of about
7.8e-9. The layer that produces it then needs a requantisation scale
`input_scale * weight_scale / output_scale` in the thousands; XNNPACK
accepts less than 256, refuses the graph, and ai-edge-litert 2.3 aborts the
process with heap corruption while cleaning up. Such a tensor only ever
holds zeros, so any scale represents it exactly: `repair_collapsed_ranges`
gives it the natural one, `input_scale * weight_scale`, and requantises the
biases of the layers that read it.
"""

from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

XNNPACK_MAX_REQUANTIZATION_SCALE = 256.0
WEIGHTED = (schema.BuiltinOperator.FULLY_CONNECTED, schema.BuiltinOperator.CONV_2D, schema.BuiltinOperator.DEPTHWISE_CONV_2D)


def requantization_problems(path):
    """Names and scales of the weighted layers whose requantisation scale XNNPACK refuses."""
    model = _read(path)
    graph = model.subgraphs[0]
    return [
        (_name(graph.tensors[op.outputs[0]]), scale)
        for op in _weighted_ops(model)
        if (scale := _requantization_scale(graph, op)) >= XNNPACK_MAX_REQUANTIZATION_SCALE
    ]


def repair_collapsed_ranges(path):
    """Rescales collapsed outputs of weighted layers in an int8 `.tflite` file, in place.

    Returns:
        The names of the tensors repaired (empty when the file was fine).
    """
    model = _read(path)
    graph = model.subgraphs[0]
    repaired = []
    for op in _weighted_ops(model):
        if _requantization_scale(graph, op) < XNNPACK_MAX_REQUANTIZATION_SCALE:
            continue
        consumers = [other for other in graph.operators if op.outputs[0] in other.inputs]
        if not all(_opcode(model, other) in WEIGHTED and other.inputs[0] == op.outputs[0] for other in consumers):
            continue
        output = graph.tensors[op.outputs[0]]
        output.quantization.scale = np.array([_scale(graph, op.inputs[0]) * _scale(graph, op.inputs[1])], "float32")
        for consumer in consumers:
            _requantize_bias(model, consumer)
        repaired.append(_name(output))
    if repaired:
        _write(model, path)
    return repaired


def _requantize_bias(model, op):
    graph = model.subgraphs[0]
    if len(op.inputs) < 3 or op.inputs[2] < 0:
        return
    bias = graph.tensors[op.inputs[2]]
    values = np.frombuffer(bytes(model.buffers[bias.buffer].data), "<i4").astype("float64")
    real = values * bias.quantization.scale
    scales = _scale(graph, op.inputs[0]) * np.asarray(graph.tensors[op.inputs[1]].quantization.scale, "float64")
    integers = np.clip(np.round(real / scales), -(2**31), 2**31 - 1).astype("<i4")
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(integers.tobytes(), "uint8")
    model.buffers.append(buffer)
    bias.buffer = len(model.buffers) - 1
    bias.quantization.scale = scales.astype("float32")
    bias.quantization.zeroPoint = np.zeros(len(scales), "int64")


def _requantization_scale(graph, op):
    if len(op.inputs) < 2 or not all(_quantized(graph, i) for i in (op.inputs[0], op.inputs[1], op.outputs[0])):
        return 0.0
    return _scale(graph, op.inputs[0]) * _scale(graph, op.inputs[1]) / _scale(graph, op.outputs[0])


def _weighted_ops(model):
    return [op for op in model.subgraphs[0].operators if _opcode(model, op) in WEIGHTED]


def _opcode(model, op):
    code = model.operatorCodes[op.opcodeIndex]
    return max(code.builtinCode, code.deprecatedBuiltinCode)


def _quantized(graph, index):
    quantization = graph.tensors[index].quantization
    return index >= 0 and quantization is not None and quantization.scale is not None and len(quantization.scale) > 0


def _scale(graph, index):
    return float(np.max(graph.tensors[index].quantization.scale))


def _name(tensor):
    return tensor.name.decode() if isinstance(tensor.name, bytes) else str(tensor.name)


def _read(path):
    data = Path(path).read_bytes()
    return schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))


def _write(model, path):
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    Path(path).write_bytes(bytes(builder.Output()))
