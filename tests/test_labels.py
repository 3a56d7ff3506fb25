"""--labels files and the check that labels fit the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgevision.errors import ModelError, UsageError
from edgevision.inference.labels import check_label_count, load_labels
from model_factory import build_model, model_info


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "labels.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_plain_lines_with_placeholders(tmp_path: Path) -> None:
    labels = load_labels(write(tmp_path, "person\nbicycle\n???\n car \n\n"))
    assert labels.as_dict() == {0: "person", 1: "bicycle", 3: "car"}
    assert labels[2] == "2"  # unnamed ids show as their number


def test_id_label_lines(tmp_path: Path) -> None:
    labels = load_labels(write(tmp_path, "0 person\n2 traffic light\n5: N/A\n7,bus\n"))
    assert labels.as_dict() == {0: "person", 2: "traffic light", 7: "bus"}


def test_names_that_start_with_digits_stay_plain(tmp_path: Path) -> None:
    labels = load_labels(write(tmp_path, "3d printer\nbox\n"))
    assert labels.as_dict() == {0: "3d printer", 1: "box"}


def test_duplicate_id(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="id 1 appears twice"):
        load_labels(write(tmp_path, "0 a\n1 b\n1 c\n"))


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file(tmp_path: Path, text: str) -> None:
    with pytest.raises(UsageError, match="is empty"):
        load_labels(write(tmp_path, text))


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not found"):
        load_labels(tmp_path / "none.txt")
    binary = tmp_path / "model.tflite"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(UsageError, match="cannot read label file"):
        load_labels(binary)


def _decoder(family: str, num_labels: int):
    from edgevision.decoders.select import select_decoder

    _, info = model_info(build_model(family, "float32"), num_labels)
    return info, select_decoder(info)


def test_label_count_must_match_classes(tmp_path: Path) -> None:
    info, decoder = _decoder("yolov8", 3)
    check_label_count(load_labels(write(tmp_path, "a\nb\nc\n")), info, decoder, "labels.txt")
    with pytest.raises(ModelError) as error:
        check_label_count(load_labels(write(tmp_path, "a\nb\nc\nd\ne\n")), info, decoder, "labels.txt")
    message = str(error.value)
    assert "\n" not in message and "5 classes" in message and "has 3" in message and "--labels" in message


def test_classification_labels_with_or_without_background(tmp_path: Path) -> None:
    info, decoder = _decoder("classification-1001", 1000)
    check_label_count(load_labels(write(tmp_path, "x\n" * 1000)), info, decoder, "imagenet.txt")
    info, decoder = _decoder("classification-1001", 1001)
    check_label_count(load_labels(write(tmp_path, "background\n" + "x\n" * 1000)), info, decoder, "f")
    info, decoder = _decoder("classification", 7)
    with pytest.raises(ModelError, match="7 classes"):
        check_label_count(load_labels(write(tmp_path, "x\n" * 7)), info, decoder, "f")
