"""Standard TFLite metadata and the zip appended to a model, read from real model files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgevision.inference.metadata import ModelMetadata, read_metadata
from edgevision.inference.model import Model, ModelOptions
from edgevision.inference.modelfile import read_model_file
from model_factory import (
    MetadataSpec,
    build_model,
    run_model,
    ultralytics_metadata_json,
    with_metadata,
)

COCO_HEAD = "person\nbicycle\n???\ncar\n"


def write(tmp_path: Path, content: bytes, name: str = "model.tflite") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_metadata_buffer_and_label_file(tmp_path: Path) -> None:
    spec = MetadataSpec(
        name="Tiny detector",
        description="test model",
        version="v2",
        author="edgevision tests",
        mean=(127.5,),
        std=(127.5,),
        label_file="labelmap.txt",
    )
    content = with_metadata(build_model("ssd", "uint8").read_bytes(), spec, {"labelmap.txt": COCO_HEAD.encode()})
    metadata = read_model_file(write(tmp_path, content)).metadata
    assert metadata is not None
    assert (metadata.name, metadata.description, metadata.version, metadata.author) == (
        "Tiny detector",
        "test model",
        "v2",
        "edgevision tests",
    )
    assert metadata.mean == (127.5,) and metadata.std == (127.5,)
    assert metadata.labels == ["person", "bicycle", "???", "car"]
    assert metadata.label_map().as_dict() == {0: "person", 1: "bicycle", 3: "car"}


def test_model_with_metadata_still_runs(tmp_path: Path) -> None:
    """The rewritten flatbuffer and the appended zip are invisible to the runtime."""
    spec = MetadataSpec(name="m", label_file="labels.txt")
    content = with_metadata(build_model("ssd", "uint8").read_bytes(), spec, {"labels.txt": b"a\nb\nc\n"})
    result = run_model(write(tmp_path, content), np.full((48, 80, 3), 90, np.uint8))
    assert len(result) == 2


def test_per_channel_normalization() -> None:
    spec = MetadataSpec(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))
    content = with_metadata(build_model("classification", "float32").read_bytes(), spec)
    metadata = read_metadata(content, _metadata_buffer(content))
    assert metadata.mean == pytest.approx((123.675, 116.28, 103.53))
    assert metadata.std == pytest.approx((58.395, 57.12, 57.375))
    assert metadata.labels is None


def _metadata_buffer(content: bytes) -> bytes:
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(content, 0)
    for i in range(model.MetadataLength()):
        if model.Metadata(i).Name() == b"TFLITE_METADATA":
            return model.Buffers(model.Metadata(i).Buffer()).DataAsNumpy().tobytes()
    raise AssertionError("no TFLITE_METADATA")


def test_label_file_without_locale_preferred(tmp_path: Path) -> None:
    spec = MetadataSpec(label_file="labels_en.txt", label_locale_files=(("labels_de.txt", "de"),))
    files = {"labels_en.txt": b"cat\ndog\n", "labels_de.txt": b"Katze\nHund\n"}
    content = with_metadata(build_model("classification", "float32").read_bytes(), spec, files)
    assert read_model_file(write(tmp_path, content)).metadata.labels == ["cat", "dog"]


def test_ultralytics_metadata_json(tmp_path: Path) -> None:
    names = ["person", "bicycle", "car"]
    files = {"metadata.json": ultralytics_metadata_json(names)}
    content = with_metadata(build_model("yolov8", "int8").read_bytes(), None, files)
    metadata = read_model_file(write(tmp_path, content)).metadata
    assert metadata.labels == names
    assert metadata.extra["task"] == "detect"
    assert metadata.extra["imgsz"] == [32, 32]
    assert metadata.author == "Ultralytics" and metadata.version == "8.3.0"
    assert metadata.mean is None


def test_runtime_model_names_classes_from_metadata(tmp_path: Path) -> None:
    """The lead's Model picks up labels from the zip and the label count check passes."""
    files = {"metadata.json": ultralytics_metadata_json(["person", "bicycle", "car"])}
    content = with_metadata(build_model("yolov8", "uint8").read_bytes(), None, files)
    model = Model(write(tmp_path, content), ModelOptions())
    assert model.task == "detection"
    result = model.predict(np.full((48, 80, 3), 90, np.uint8))
    assert [result.labels[c] for c in result.prediction.class_ids] == ["person", "car", "bicycle"]


def test_broken_metadata_is_ignored_not_fatal(tmp_path: Path) -> None:
    files = {"metadata.json": b"{not json"}
    content = with_metadata(build_model("classification", "uint8").read_bytes(), None, files)
    metadata = read_model_file(write(tmp_path, content)).metadata
    assert isinstance(metadata, ModelMetadata)
    assert metadata.labels is None and metadata.extra == {}


def test_model_without_metadata() -> None:
    assert read_model_file(build_model("segmentation-mask", "float32")).metadata is None
