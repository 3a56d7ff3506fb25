"""Feed ``TFLite_Detection_PostProcess`` uint8 inputs in a full-integer SSD, as quantized TF
Object Detection API (and Coral) models do.

The converter leaves the op float: it dequantizes the int8 box encodings and class scores to
float32 and keeps the anchors as a float32 constant ``[A, 4]``. The op also reads uint8 box
encodings, scores and anchors, dequantizing them itself with their own scale and zero point
(see its kernel, ``detection_postprocess.cc``). Requantizing int8 to uint8 is exact (same scale,
zero point + 128), so the only change in results is the anchors rounded to 8 bits: a quarter of
their bytes, which matters in a model this small. :class:`train.ssd.AnchorSpec` snaps its
anchors to that grid, so for our own detectors nothing changes at all.
"""

from __future__ import annotations

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from export.flatbuffer import builtin_code

POSTPROCESS_OP = "TFLite_Detection_PostProcess"
ANCHOR_SCALE = 1.0 / 255.0  # anchors are (ycenter, xcenter, h, w) in [0, 1]


def anchor_steps(anchors: np.ndarray) -> np.ndarray:
    """Anchors as the uint8 values the rewritten model stores."""
    return np.clip(np.round(anchors / ANCHOR_SCALE), 0, 255).astype(np.uint8)


def snap_anchors(anchors: np.ndarray) -> np.ndarray:
    """Anchors rounded to the uint8 grid the rewritten model stores them on."""
    return (anchor_steps(anchors) * ANCHOR_SCALE).astype(np.float32)


def uint8_postprocess_inputs(model: schema.ModelT) -> None:
    """Feeds ``model``'s post-processing op uint8 box encodings, scores and anchors (in place).

    Raises ``ValueError`` if the model does not end in the op fed by two DEQUANTIZE ops of int8
    tensors and a float32 anchor constant (the converter's layout for an int8 SSD).
    """
    graph = model.subgraphs[0]
    codes = model.operatorCodes
    boxes_in, scores_in, anchors_in = postprocess_op(model).inputs[:3]
    quantize_code = _opcode_index(model, schema.BuiltinOperator.QUANTIZE)
    for tensor_index in (boxes_in, scores_in):
        producer = next((op for op in graph.operators if tensor_index in op.outputs), None)
        if producer is None or builtin_code(codes[producer.opcodeIndex]) != schema.BuiltinOperator.DEQUANTIZE:
            raise ValueError(f"input {tensor_index} of {POSTPROCESS_OP} is not made by a DEQUANTIZE op")
        source = graph.tensors[producer.inputs[0]]
        if source.type != schema.TensorType.INT8:
            raise ValueError(f"input {tensor_index} of {POSTPROCESS_OP} is not dequantized from int8")
        producer.opcodeIndex = quantize_code  # int8 -> uint8: same scale, zero point + 128
        producer.builtinOptionsType, producer.builtinOptions = schema.BuiltinOptions.NONE, None
        target = graph.tensors[tensor_index]
        target.type = schema.TensorType.UINT8
        target.quantization = _quantization([float(source.quantization.scale[0])],
                                            [int(source.quantization.zeroPoint[0]) + 128])
    anchors = graph.tensors[anchors_in]
    if anchors.type != schema.TensorType.FLOAT32:
        raise ValueError(f"the anchors of {POSTPROCESS_OP} are not a float32 constant")
    buffer = model.buffers[anchors.buffer]
    values = np.frombuffer(bytes(bytearray(buffer.data)), np.float32)
    buffer.data = anchor_steps(values)
    anchors.type = schema.TensorType.UINT8
    anchors.quantization = _quantization([ANCHOR_SCALE], [0])


def _quantization(scale: list[float], zero_point: list[int]) -> schema.QuantizationParametersT:
    q = schema.QuantizationParametersT()
    q.scale, q.zeroPoint = scale, zero_point
    return q


def postprocess_op(model: schema.ModelT) -> schema.OperatorT:
    """The model's one ``TFLite_Detection_PostProcess`` op; ``ValueError`` if it has none or more."""
    codes = model.operatorCodes
    found = [op for op in model.subgraphs[0].operators if _custom_code(codes[op.opcodeIndex]) == POSTPROCESS_OP]
    if len(found) != 1:
        raise ValueError(f"expected one {POSTPROCESS_OP} op, found {len(found)}")
    return found[0]


def _custom_code(code) -> str | None:
    return code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode


def _opcode_index(model: schema.ModelT, builtin: int) -> int:
    """Index of ``builtin`` in the model's operator codes, added if missing."""
    for i, code in enumerate(model.operatorCodes):
        if builtin_code(code) == builtin:
            return i
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)
    code.version = 2
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1
