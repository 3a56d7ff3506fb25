"""Reading and checking .tflite files before any interpreter touches them."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgevision.errors import ModelError
from edgevision.inference.modelfile import read_model_file
from model_factory import build_model


def test_ssd_model_lists_the_custom_op_and_its_outputs_in_op_order() -> None:
    from ai_edge_litert.interpreter import Interpreter

    path = build_model("ssd-tf2", "uint8")
    model = read_model_file(path)
    assert model.custom_ops == ("TFLite_Detection_PostProcess",)
    boxes, classes, scores, count = model.op_outputs["TFLite_Detection_PostProcess"]
    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    shapes = {d["index"]: tuple(d["shape"]) for d in interpreter.get_output_details()}
    listed = [d["index"] for d in interpreter.get_output_details()]
    assert listed == [scores, boxes, count, classes]  # the TF2 order, found without positions
    assert shapes[boxes] == (1, 10, 4) and shapes[count] == (1,)
    assert model.content == path.read_bytes()
    assert model.metadata is None


def test_plain_model_has_no_custom_ops() -> None:
    model = read_model_file(build_model("classification", "int8"))
    assert model.custom_ops == () and model.op_outputs == {}


def assert_one_line(error: ModelError, *words: str) -> None:
    message = str(error)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        read_model_file(tmp_path / "nope.tflite")
    assert_one_line(info.value, "nope.tflite", "not found", "--model")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        read_model_file(tmp_path)
    assert_one_line(info.value, str(tmp_path), "directory")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.tflite"
    path.write_bytes(b"")
    with pytest.raises(ModelError) as info:
        read_model_file(path)
    assert_one_line(info.value, "empty.tflite", "empty")


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + bytes(200), b"hello world", b"TFL3"])
def test_not_a_tflite_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "photo.tflite"
    path.write_bytes(content)
    with pytest.raises(ModelError) as info:
        read_model_file(path)
    assert_one_line(info.value, "photo.tflite", "not a TFLite model")


@pytest.mark.parametrize("fraction", [0.05, 0.3, 0.5, 0.8, 0.97])
def test_truncated_file(tmp_path: Path, fraction: float) -> None:
    content = build_model("ssd", "uint8").read_bytes()
    path = tmp_path / "cut.tflite"
    path.write_bytes(content[: int(len(content) * fraction)])
    with pytest.raises(ModelError) as info:
        read_model_file(path)
    assert_one_line(info.value, "cut.tflite", "truncated or corrupt")


def test_every_truncation_point_is_caught(tmp_path: Path) -> None:
    """No cut, wherever it falls, gets through to the native runtime."""
    content = build_model("classification", "uint8").read_bytes()
    path = tmp_path / "cut.tflite"
    for end in range(8, len(content), max(1, len(content) // 150)):
        path.write_bytes(content[:end])
        with pytest.raises(ModelError):
            read_model_file(path)
