"""Standard TFLite model metadata: the ``TFLITE_METADATA`` buffer (public metadata_schema.fbs,
read field by field with flatbuffers' Table API, no tflite-support) and the zip appended to the
model file that carries label files and Ultralytics' ``metadata.json``."""

from __future__ import annotations

import io
import json
import logging
import zipfile
from dataclasses import dataclass, field
from typing import Any

import flatbuffers
from flatbuffers import number_types as N
from flatbuffers.table import Table

from edgevision.core import Labels
from edgevision.inference.labels import labels_from_names

log = logging.getLogger(__name__)

METADATA_BUFFER_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
NORMALIZATION_OPTIONS = 1  # ProcessUnitOptions union tag
LABEL_FILE_TYPES = (2, 3)  # AssociatedFileType TENSOR_AXIS_LABELS, TENSOR_VALUE_LABELS

# Field slots of metadata_schema.fbs (a field's vtable entry is at 4 + 2 * slot).
MODEL_NAME, MODEL_DESCRIPTION, MODEL_VERSION, MODEL_SUBGRAPHS, MODEL_AUTHOR = 0, 1, 2, 3, 4
MODEL_FILES = 6
SUBGRAPH_INPUTS, SUBGRAPH_OUTPUTS, SUBGRAPH_FILES = 2, 3, 4
TENSOR_PROCESS_UNITS, TENSOR_FILES = 4, 6
UNIT_OPTIONS_TYPE, UNIT_OPTIONS = 0, 1
NORM_MEAN, NORM_STD = 0, 1
FILE_NAME, FILE_TYPE, FILE_LOCALE = 0, 2, 3


@dataclass(frozen=True)
class ModelMetadata:
    """What a model file says about itself. ``labels`` keeps placeholders so ids stay aligned."""

    name: str = ""
    description: str = ""
    version: str = ""
    author: str = ""
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    labels: list[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def label_map(self) -> Labels:
        """Labels with placeholder names (``???``) left unnamed."""
        return labels_from_names(self.labels or [])


def _field(table: Table, slot: int) -> int:
    return table.Offset(4 + 2 * slot)


def _string(table: Table, slot: int) -> str:
    o = _field(table, slot)
    return table.String(o + table.Pos).decode("utf-8", "replace") if o else ""


def _tables(table: Table, slot: int) -> list[Table]:
    o = _field(table, slot)
    if not o:
        return []
    start = table.Vector(o)
    return [Table(table.Bytes, table.Indirect(start + 4 * i)) for i in range(table.VectorLen(o))]


def _floats(table: Table, slot: int) -> tuple[float, ...] | None:
    o = _field(table, slot)
    return tuple(float(v) for v in table.GetVectorAsNumpy(N.Float32Flags, o)) if o else None


def _scalar(table: Table, slot: int, flags: Any) -> int:
    o = _field(table, slot)
    return int(table.Get(flags, o + table.Pos)) if o else 0


def _normalization(tensor: Table) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    for unit in _tables(tensor, TENSOR_PROCESS_UNITS):
        o = _field(unit, UNIT_OPTIONS)
        if o and _scalar(unit, UNIT_OPTIONS_TYPE, N.Uint8Flags) == NORMALIZATION_OPTIONS:
            options = Table(unit.Bytes, 0)
            unit.Union(options, o)
            return _floats(options, NORM_MEAN), _floats(options, NORM_STD)
    return None, None


def _label_file(tables: list[Table]) -> str | None:
    """The label file among associated files; the first one without a locale wins."""
    found = [
        (_string(f, FILE_LOCALE), _string(f, FILE_NAME))
        for t in tables
        for f in _tables(t, TENSOR_FILES)
        if _scalar(f, FILE_TYPE, N.Int8Flags) in LABEL_FILE_TYPES
    ]
    found.sort(key=lambda locale_name: bool(locale_name[0]))
    return found[0][1] if found else None


def _parse_buffer(buffer: bytes) -> tuple[dict[str, Any], str | None]:
    """Fields of the metadata flatbuffer and the name of its label file, if any."""
    if not flatbuffers.util.BufferHasIdentifier(buffer, 0, FILE_IDENTIFIER):
        raise ValueError("TFLITE_METADATA buffer lacks the M001 identifier")
    root = Table(buffer, flatbuffers.encode.Get(N.UOffsetTFlags.packer_type, buffer, 0))
    fields: dict[str, Any] = {
        "name": _string(root, MODEL_NAME),
        "description": _string(root, MODEL_DESCRIPTION),
        "version": _string(root, MODEL_VERSION),
        "author": _string(root, MODEL_AUTHOR),
    }
    subgraphs = _tables(root, MODEL_SUBGRAPHS)
    label_file = None
    if subgraphs:
        inputs = _tables(subgraphs[0], SUBGRAPH_INPUTS)
        if inputs:
            fields["mean"], fields["std"] = _normalization(inputs[0])
        label_file = _label_file(_tables(subgraphs[0], SUBGRAPH_OUTPUTS))
    if label_file is None:
        label_file = _model_label_file(root, subgraphs)
    return fields, label_file


def _model_label_file(root: Table, subgraphs: list[Table]) -> str | None:
    """Label files attached to the subgraph or the whole model rather than an output tensor."""
    candidates = [(sg, SUBGRAPH_FILES) for sg in subgraphs[:1]] + [(root, MODEL_FILES)]
    for table, slot in candidates:
        for f in _tables(table, slot):
            if _scalar(f, FILE_TYPE, N.Int8Flags) in LABEL_FILE_TYPES:
                return _string(f, FILE_NAME)
    return None


def _zip_files(model: bytes) -> dict[str, bytes]:
    """Files in the zip appended after the flatbuffer (empty when there is none)."""
    stream = io.BytesIO(model)
    if not zipfile.is_zipfile(stream):
        return {}
    try:
        with zipfile.ZipFile(stream) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        log.warning("ignoring the zip appended to the model: %s", exc)
        return {}


def _ultralytics(files: dict[str, bytes]) -> dict[str, Any]:
    raw = files.get("metadata.json")
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        log.warning("ignoring unreadable metadata.json in the model: %s", exc)
        return {}
    return data if isinstance(data, dict) else {}


def _names_list(names: Any) -> list[str] | None:
    """Ultralytics ``names`` ({"0": "person"} or a list) as a list in id order."""
    if isinstance(names, list):
        return [str(n) for n in names]
    if isinstance(names, dict) and names:
        by_id = {int(k): str(v) for k, v in names.items()}
        return [by_id.get(i, "???") for i in range(max(by_id) + 1)]
    return None


def _split_lines(raw: bytes) -> list[str]:
    lines = raw.decode("utf-8", "replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def read_metadata(model: bytes, buffer: bytes | None) -> ModelMetadata | None:
    """Metadata from the ``TFLITE_METADATA`` buffer and the appended zip; None if neither."""
    files = _zip_files(model)
    fields: dict[str, Any] = {}
    label_file = None
    if buffer:
        try:
            fields, label_file = _parse_buffer(buffer)
        except (ValueError, IndexError, TypeError, AssertionError) as exc:
            log.warning("ignoring unreadable TFLITE_METADATA: %s", exc)
    extra = _ultralytics(files)
    if not fields and not extra and not files:
        return None
    labels = None
    if label_file and label_file in files:
        labels = _split_lines(files[label_file])
    elif label_file:
        log.warning("metadata names label file %s but the model's zip lacks it", label_file)
    if labels is None and "names" in extra:
        labels = _names_list(extra["names"])
    for key in ("description", "version", "author"):
        if not fields.get(key) and extra.get(key) is not None:
            fields[key] = str(extra[key])
    return ModelMetadata(labels=labels, extra=extra, **fields)
