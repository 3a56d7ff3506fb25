"""Read and check a ``.tflite`` file before any interpreter sees it.

A bad file (missing, empty, cut short, not TFLite) must end in one clear line, not in a crash
inside the native runtime. Parsing uses the flatbuffer schema that ships with ai-edge-litert.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ai_edge_litert import schema_py_generated as schema
from flatbuffers import flexbuffers

from edgevision.errors import ModelError
from edgevision.inference.metadata import METADATA_BUFFER_NAME, ModelMetadata, read_metadata

log = logging.getLogger(__name__)

TFLITE_IDENTIFIER = b"TFL3"
CUSTOM = schema.BuiltinOperator.CUSTOM


@dataclass(frozen=True)
class ModelFile:
    """A checked model file: its bytes and what the runtime needs to know before running it."""

    path: Path
    content: bytes = field(repr=False)
    custom_ops: tuple[str, ...]
    # Custom op name -> output tensor indices in op order (first use of the op in subgraph 0).
    op_outputs: dict[str, tuple[int, ...]]
    metadata: ModelMetadata | None
    # Custom op name -> its options (a FlexBuffer map, e.g. the SSD op's num_classes).
    op_options: dict[str, dict] = field(default_factory=dict)


def _bad(path: Path, why: str) -> ModelError:
    return ModelError(
        f"model file {path} {why}; pass a .tflite model exported by edgevision or TFLite"
    )


def _buffer_bytes(model: schema.Model, index: int, size: int) -> tuple[int, int]:
    """(start, end) of a buffer's data in the file; raises ValueError past the end."""
    buffer = model.Buffers(index)
    if buffer.Offset() > 1:  # models over 2 GB keep data after the flatbuffer
        start, end = buffer.Offset(), buffer.Offset() + buffer.Size()
    else:
        o = buffer._tab.Offset(4)
        if not o:
            return 0, 0
        start = buffer._tab.Vector(o)
        end = start + buffer._tab.VectorLen(o)
    if end > size:
        raise ValueError(f"buffer {index} ends at byte {end}")
    return start, end


def _custom_ops(model: schema.Model) -> tuple[tuple[str, ...], dict[str, tuple[int, ...]], dict[str, dict]]:
    names: dict[int, str] = {}
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == CUSTOM and code.CustomCode():
            names[i] = code.CustomCode().decode("utf-8", "replace")
    op_outputs: dict[str, tuple[int, ...]] = {}
    op_options: dict[str, dict] = {}
    if names and model.SubgraphsLength():
        graph = model.Subgraphs(0)
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            name = names.get(op.OpcodeIndex())
            if name is not None and name not in op_outputs:
                op_outputs[name] = tuple(int(t) for t in op.OutputsAsNumpy())
                op_options[name] = _flexbuffer_map(op)
    return tuple(sorted(set(names.values()))), op_outputs, op_options


def _flexbuffer_map(op: schema.Operator) -> dict:
    """A custom op's options; empty when absent or not a FlexBuffer map (vendor ops)."""
    if not op.CustomOptionsLength():
        return {}
    try:
        options = flexbuffers.Loads(op.CustomOptionsAsNumpy().tobytes())
    except Exception:  # noqa: BLE001 - vendor ops may carry any bytes here
        return {}
    return options if isinstance(options, dict) else {}


def _metadata_buffer(model: schema.Model, content: bytes) -> bytes | None:
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == METADATA_BUFFER_NAME.encode():
            start, end = _buffer_bytes(model, entry.Buffer(), len(content))
            return content[start:end]
    return None


def parse_model(path: Path, content: bytes) -> ModelFile:
    """Check ``content`` is a whole TFLite flatbuffer and read what decoders need from it."""
    if not content:
        raise _bad(path, "is empty (0 bytes)")
    if len(content) < 8 or content[4:8] != TFLITE_IDENTIFIER:
        raise _bad(path, "is not a TFLite model (no TFL3 identifier)")
    try:
        model = schema.Model.GetRootAs(content, 0)
        if model.SubgraphsLength() < 1:
            raise ValueError("no subgraph")
        for i in range(model.BuffersLength()):
            _buffer_bytes(model, i, len(content))
        custom_ops, op_outputs, op_options = _custom_ops(model)
        metadata_buffer = _metadata_buffer(model, content)
    except (struct.error, IndexError, ValueError, TypeError) as exc:
        raise _bad(path, f"is truncated or corrupt ({exc})") from None
    metadata = read_metadata(content, metadata_buffer)
    log.debug("model %s: custom ops %s, metadata %s", path, custom_ops, metadata)
    return ModelFile(path, content, custom_ops, op_outputs, metadata, op_options)


def read_model_file(path: str | Path) -> ModelFile:
    """Read and check a model file; every failure is a ``ModelError`` naming the path."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"model file {path} not found; check the --model path")
    if path.is_dir():
        raise ModelError(f"model path {path} is a directory; pass the .tflite file inside it")
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ModelError(
            f"cannot read model file {path}: {exc.strerror}; check its permissions"
        ) from None
    return parse_model(path, content)
