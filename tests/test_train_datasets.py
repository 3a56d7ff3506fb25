"""Dataset readers on small fixture files in each format, good and broken: every problem is one
UsageError line naming the file (and line)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgevision.errors import UsageError
from train import datasets


def _image(path: Path, w: int = 40, h: int = 30) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))
    return path


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


# -- folder per class -------------------------------------------------------------------------

def test_class_folders(tmp_path: Path) -> None:
    for name, n in (("cat", 2), ("dog", 3)):
        for i in range(n):
            _image(tmp_path / name / f"{i}.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    data = datasets.read_class_folders(tmp_path)
    assert data.class_names == ["cat", "dog"]
    assert data.labels.tolist() == [0, 0, 1, 1, 1]


def test_empty_class_folder_is_named(tmp_path: Path) -> None:
    _image(tmp_path / "cat" / "0.png")
    (tmp_path / "dog").mkdir()
    with pytest.raises(UsageError) as exc:
        datasets.read_class_folders(tmp_path)
    assert str(tmp_path / "dog") in one_line(exc)
    assert "no images" in str(exc.value)


def test_missing_dataset_path(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as exc:
        datasets.read_class_folders(tmp_path / "nope")
    assert str(tmp_path / "nope") in one_line(exc) and "not found" in str(exc.value)


# -- COCO -------------------------------------------------------------------------------------

def _coco(tmp_path: Path, bbox=(5, 5, 10, 8)) -> Path:
    _image(tmp_path / "a.jpg")
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 3, "bbox": list(bbox), "iscrowd": 0}],
        "categories": [{"id": 3, "name": "digit"}],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


def test_coco(tmp_path: Path) -> None:
    data = datasets.read_coco(_coco(tmp_path))
    assert data.class_names == ["digit"]
    np.testing.assert_allclose(data.boxes[0], [[5, 5, 15, 13]])
    assert data.classes[0].tolist() == [0] and data.sizes == [(40, 30)]


def test_coco_broken_json_names_file_and_line(tmp_path: Path) -> None:
    path = _coco(tmp_path)
    lines = path.read_text().splitlines()
    lines[3] = lines[3] + " ,,"
    path.write_text("\n".join(lines))
    with pytest.raises(UsageError) as exc:
        datasets.read_coco(path)
    assert f"{path}:4:" in one_line(exc)


def test_coco_box_outside_image(tmp_path: Path) -> None:
    path = _coco(tmp_path, bbox=(30, 5, 20, 8))
    with pytest.raises(UsageError) as exc:
        datasets.read_coco(path)
    assert str(path) in one_line(exc) and "annotation 7" in str(exc.value) and "outside" in str(exc.value)


def test_coco_missing_image_file(tmp_path: Path) -> None:
    path = _coco(tmp_path)
    (tmp_path / "a.jpg").unlink()
    with pytest.raises(UsageError) as exc:
        datasets.read_coco(path)
    assert "a.jpg" in one_line(exc) and "not found" in str(exc.value)


# -- YOLO -------------------------------------------------------------------------------------

def _yolo(tmp_path: Path, line: str = "1 0.5 0.5 0.25 0.2") -> Path:
    _image(tmp_path / "images" / "a.png")
    _image(tmp_path / "images" / "b.png")  # no label file: no objects
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text(f"0 0.25 0.25 0.1 0.1\n\n{line}\n")
    (tmp_path / "classes.txt").write_text("zero\none\n")
    return tmp_path


def test_yolo(tmp_path: Path) -> None:
    data = datasets.read_yolo(_yolo(tmp_path))
    assert data.class_names == ["zero", "one"]
    assert [len(b) for b in data.boxes] == [2, 0]
    np.testing.assert_allclose(data.boxes[0][1], [15, 12, 25, 18])
    assert data.classes[0].tolist() == [0, 1]


def test_yolo_data_yaml_names(tmp_path: Path) -> None:
    root = _yolo(tmp_path)
    (root / "classes.txt").unlink()
    (root / "data.yaml").write_text("names: {0: zero, 1: one}\n")
    assert datasets.read_yolo(root).class_names == ["zero", "one"]


@pytest.mark.parametrize("line, why", [
    ("1 0.5 0.5 0.25", "expected 'class cx cy w h'"),
    ("x 0.5 0.5 0.25 0.2", "expected 'class cx cy w h'"),
    ("5 0.5 0.5 0.25 0.2", "class 5 not in 0..1"),
    ("1 0.95 0.5 0.25 0.2", "outside its image a.png"),
])
def test_yolo_broken_line_names_file_and_line(tmp_path: Path, line: str, why: str) -> None:
    root = _yolo(tmp_path, line)
    with pytest.raises(UsageError) as exc:
        datasets.read_yolo(root)
    assert f"{root / 'labels' / 'a.txt'}:3:" in one_line(exc) and why in str(exc.value)


def test_yolo_without_names(tmp_path: Path) -> None:
    root = _yolo(tmp_path)
    (root / "classes.txt").unlink()
    with pytest.raises(UsageError, match="classes.txt or data.yaml"):
        datasets.read_yolo(root)


# -- image + mask pairs -----------------------------------------------------------------------

def _masks(tmp_path: Path, value: int = 1, size=(40, 30)) -> Path:
    _image(tmp_path / "images" / "a.jpg")
    (tmp_path / "masks").mkdir()
    mask = np.zeros((size[1], size[0]), np.uint8)
    mask[5:10, 5:10] = value
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), mask)
    (tmp_path / "classes.txt").write_text("background\nthing\n")
    return tmp_path


def test_mask_pairs(tmp_path: Path) -> None:
    data = datasets.read_mask_pairs(_masks(tmp_path))
    assert data.class_names == ["background", "thing"] and len(data.images) == 1


@pytest.mark.parametrize("kwargs, why", [({"value": 4}, "class value 4"), ({"size": (20, 30)}, "differs from its image")])
def test_bad_mask_is_named(tmp_path: Path, kwargs: dict, why: str) -> None:
    root = _masks(tmp_path, **kwargs)
    with pytest.raises(UsageError) as exc:
        datasets.read_mask_pairs(root)
    assert str(root / "masks" / "a.png") in one_line(exc) and why in str(exc.value)


def test_image_without_mask(tmp_path: Path) -> None:
    root = _masks(tmp_path)
    _image(root / "images" / "b.jpg")
    with pytest.raises(UsageError) as exc:
        datasets.read_mask_pairs(root)
    assert "b.jpg" in one_line(exc) and "no mask b.png" in str(exc.value)


def test_split_indices_keeps_both_sides() -> None:
    train, val = datasets.split_indices(5, 0.1)
    assert len(val) == 1 and len(train) == 4 and not set(train) & set(val)
