"""Reading and writing a TFLite flatbuffer as LiteRT's object API (``schema_py_generated``), for
the edits our export makes after the converter: metadata, uint8 SSD inputs, stripped names."""

from __future__ import annotations

import flatbuffers
from ai_edge_litert import schema_py_generated as schema

TFLITE_IDENTIFIER = b"TFL3"


def unpack(tflite_model: bytes) -> schema.ModelT:
    return schema.ModelT.InitFromPackedBuf(bytearray(tflite_model), 0)


def pack(model: schema.ModelT, size_hint: int = 1024) -> bytes:
    builder = flatbuffers.Builder(size_hint)
    builder.Finish(model.Pack(builder), file_identifier=TFLITE_IDENTIFIER)
    return bytes(builder.Output())


def builtin_code(code: schema.OperatorCodeT) -> int:
    """The op's builtin code: opcodes past 127 live only in the newer field, older files only
    fill the deprecated one."""
    return max(code.builtinCode, code.deprecatedBuiltinCode)
