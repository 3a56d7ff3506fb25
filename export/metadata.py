"""Standard TFLite model metadata, written without tflite-support.

The metadata is the public ``metadata_schema.fbs`` (file identifier ``M001``) stored in a model
buffer named ``TFLITE_METADATA``; associated files (labels) go into a ZIP archive appended to the
``.tflite`` file, as tflite-support's ``MetadataPopulator`` packs them. Field slots below are
the public schema's; unions take two slots (type, then value).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from enum import IntEnum

import flatbuffers
import numpy as np

METADATA_NAME = "TFLITE_METADATA"
METADATA_IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.0.1"


class FileType(IntEnum):
    DESCRIPTIONS = 1
    TENSOR_AXIS_LABELS = 2
    TENSOR_VALUE_LABELS = 3


class ColorSpace(IntEnum):
    RGB = 1
    GRAYSCALE = 2


@dataclass(frozen=True)
class AssociatedFile:
    name: str
    content: bytes
    type: FileType
    description: str = ""


@dataclass(frozen=True)
class TensorInfo:
    """One input or output tensor's metadata.

    ``mean``/``std`` become a ``NormalizationOptions`` process unit (``(x - mean) / std``);
    ``color_space`` marks an image input; ``bounding_box`` marks SSD box output whose
    coordinates are ``ymin, xmin, ymax, xmax`` ratios; ``stats`` is the (min, max) of values.
    """

    name: str
    description: str = ""
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    color_space: ColorSpace | None = None
    bounding_box: bool = False
    value_range: tuple[int, int] | None = None  # dimension range, e.g. (2, 2) for SSD outputs
    stats: tuple[float, float] | None = None
    files: tuple[AssociatedFile, ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    name: str
    description: str
    version: str
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    author: str = "edgevision"
    license: str = "Apache-2.0"
    files: tuple[AssociatedFile, ...] = field(default=())

    def all_files(self) -> list[AssociatedFile]:
        files = list(self.files)
        for tensor in (*self.inputs, *self.outputs):
            files.extend(tensor.files)
        return files


# -- writing ----------------------------------------------------------------------------------

def _table(b: flatbuffers.Builder, num_slots: int, offsets: dict[int, int],
           bytes_: dict[int, int] | None = None) -> int:
    b.StartObject(num_slots)
    for slot, value in (bytes_ or {}).items():
        b.PrependUint8Slot(slot, value, 0)
    for slot, off in offsets.items():
        if off:
            b.PrependUOffsetTRelativeSlot(slot, off, 0)
    return b.EndObject()


def _offsets_vector(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _floats_vector(b: flatbuffers.Builder, values) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(list(values)):
        b.PrependFloat32(float(v))
    return b.EndVector()


def _uints_vector(b: flatbuffers.Builder, values) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(list(values)):
        b.PrependUint32(int(v))
    return b.EndVector()


def _string(b: flatbuffers.Builder, s: str) -> int:
    return b.CreateString(s) if s else 0


def _file(b: flatbuffers.Builder, f: AssociatedFile) -> int:
    # AssociatedFile{name:0, description:1, type:2, locale:3, version:4}
    name, description = _string(b, f.name), _string(b, f.description)
    return _table(b, 5, {0: name, 1: description}, {2: int(f.type)})


def _tensor(b: flatbuffers.Builder, t: TensorInfo) -> int:
    # TensorMetadata{name:0, description:1, dimension_names:2, content:3, process_units:4,
    #                stats:5, associated_files:6}
    name, description = _string(b, t.name), _string(b, t.description)
    content = 0
    if t.color_space is not None or t.bounding_box or t.value_range is not None:
        props_type, props = 0, 0
        if t.color_space is not None:  # ImageProperties{color_space:0, default_size:1}
            props_type, props = 2, _table(b, 2, {}, {0: int(t.color_space)})
        elif t.bounding_box:  # BoundingBoxProperties{index:0, type:1, coordinate_type:2}
            index = _uints_vector(b, (1, 0, 3, 2))
            props_type, props = 3, _table(b, 3, {0: index}, {1: 1, 2: 0})  # BOUNDARIES, RATIO
        value_range = 0
        if t.value_range is not None:  # ValueRange{min:0, max:1}
            b.StartObject(2)
            b.PrependInt32Slot(0, t.value_range[0], 0)
            b.PrependInt32Slot(1, t.value_range[1], 0)
            value_range = b.EndObject()
        # Content{content_properties_type:0, content_properties:1, range:2}
        content = _table(b, 3, {1: props, 2: value_range}, {0: props_type} if props_type else {})
    process_units = 0
    if t.mean is not None and t.std is not None:
        mean, std = _floats_vector(b, t.mean), _floats_vector(b, t.std)
        norm = _table(b, 2, {0: mean, 1: std})  # NormalizationOptions{mean:0, std:1}
        unit = _table(b, 2, {1: norm}, {0: 1})  # ProcessUnit{options_type:0, options:1}
        process_units = _offsets_vector(b, [unit])
    stats = 0
    if t.stats is not None:  # Stats{max:0, min:1}
        vmax, vmin = _floats_vector(b, [t.stats[1]]), _floats_vector(b, [t.stats[0]])
        stats = _table(b, 2, {0: vmax, 1: vmin})
    files = _offsets_vector(b, [_file(b, f) for f in t.files]) if t.files else 0
    return _table(b, 7, {0: name, 1: description, 3: content, 4: process_units, 5: stats, 6: files})


def metadata_buffer(info: ModelInfo) -> bytes:
    """The ``M001`` flatbuffer for ``info``."""
    b = flatbuffers.Builder(1024)
    inputs = _offsets_vector(b, [_tensor(b, t) for t in info.inputs])
    outputs = _offsets_vector(b, [_tensor(b, t) for t in info.outputs])
    # SubGraphMetadata{name:0, description:1, input_tensor_metadata:2, output_tensor_metadata:3}
    subgraph = _table(b, 5, {0: _string(b, info.name), 2: inputs, 3: outputs})
    subgraphs = _offsets_vector(b, [subgraph])
    files = _offsets_vector(b, [_file(b, f) for f in info.files]) if info.files else 0
    name, description = _string(b, info.name), _string(b, info.description)
    version, author = _string(b, info.version), _string(b, info.author)
    license_, parser = _string(b, info.license), _string(b, MIN_PARSER_VERSION)
    # ModelMetadata{name:0, description:1, version:2, subgraph_metadata:3, author:4, license:5,
    #               associated_files:6, min_parser_version:7}
    root = _table(b, 8, {0: name, 1: description, 2: version, 3: subgraphs, 4: author,
                         5: license_, 6: files, 7: parser})
    b.Finish(root, file_identifier=METADATA_IDENTIFIER)
    return bytes(b.Output())


def populate(tflite_model: bytes, info: ModelInfo) -> bytes:
    """``tflite_model`` with ``info`` as its metadata and its associated files zipped at the end.

    Any metadata and appended archive it had are replaced.
    """
    from ai_edge_litert import schema_py_generated as schema

    from export.flatbuffer import pack, unpack

    model = unpack(strip_archive(tflite_model))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(metadata_buffer(info), np.uint8)
    metadata = [m for m in (model.metadata or []) if _name(m.name) != METADATA_NAME]
    entry = schema.MetadataT()
    entry.name = METADATA_NAME
    model.buffers.append(buffer)
    entry.buffer = len(model.buffers) - 1
    model.metadata = [*metadata, entry]
    packed = pack(model, len(tflite_model) + 4096)
    files = info.all_files()
    if not files:
        return packed
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ValueError(f"associated file names must be unique: {names}")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        for f in files:
            zf.writestr(f.name, f.content)
    return _append_zip(packed, archive.getvalue())


def _append_zip(head: bytes, zip_bytes: bytes) -> bytes:
    """Appends a ZIP archive after ``head`` with its offsets shifted to the whole file."""
    out = io.BytesIO()
    out.write(head)
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as src, zipfile.ZipFile(out, "a") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
    return out.getvalue()


def _name(value) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value or "")


def strip_archive(tflite_model: bytes) -> bytes:
    """The flatbuffer part of a ``.tflite`` file (without an appended ZIP archive)."""
    try:
        with zipfile.ZipFile(io.BytesIO(tflite_model)) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile:
        return tflite_model
    if not infos:
        return tflite_model
    start = min(i.header_offset for i in infos)
    return tflite_model[:start]


# -- reading back (the runtime's reader is edgevision.inference.metadata) ----------------------

def associated_files(tflite_model: bytes) -> dict[str, bytes]:
    """The files in the ZIP archive appended to a ``.tflite`` file."""
    try:
        with zipfile.ZipFile(io.BytesIO(tflite_model)) as zf:
            return {name: zf.read(name) for name in zf.namelist()}
    except zipfile.BadZipFile:
        return {}
