"""SSD and YOLO decoders on real TFLite models: designed boxes come back in source pixels."""

from __future__ import annotations

import numpy as np
import pytest

from model_factory import (
    DTYPES,
    EXPECTED_DETECTIONS,
    EXPECTED_E2E_DETECTIONS,
    EXPECTED_SSD_DETECTIONS,
    EXPECTED_SSD_PER_CLASS_DETECTIONS,
    INPUT_SIZE,
    build_model,
    rename_outputs,
    run_model,
)

SOURCE_H, SOURCE_W = 48, 80  # non-square on purpose: letterbox pads top and bottom


def source_frame() -> np.ndarray:
    return np.full((SOURCE_H, SOURCE_W, 3), 90, np.uint8)


def letterboxed_to_source(box: tuple[float, ...]) -> np.ndarray:
    """Input-pixel box -> source pixels for a 80x48 frame letterboxed into 32x32."""
    scale = INPUT_SIZE / SOURCE_W  # 0.4: width is the limiting side
    pad_y = (INPUT_SIZE - round(SOURCE_H * scale)) // 2
    x1, y1, x2, y2 = box
    out = np.array([x1 / scale, (y1 - pad_y) / scale, x2 / scale, (y2 - pad_y) / scale])
    return np.clip(out, 0, [SOURCE_W, SOURCE_H, SOURCE_W, SOURCE_H])


def stretched_to_source(box: tuple[float, ...]) -> np.ndarray:
    x1, y1, x2, y2 = box
    sx, sy = INPUT_SIZE / SOURCE_W, INPUT_SIZE / SOURCE_H
    return np.array([x1 / sx, y1 / sy, x2 / sx, y2 / sy])


def assert_detections(result, expected, to_source, box_tol: float, score_tol: float) -> None:
    assert len(result) == len(expected), (result, expected)
    for row, (box, cls, score) in enumerate(expected):
        np.testing.assert_allclose(result.xyxy[row], to_source(box), atol=box_tol)
        assert result.class_ids[row] == cls
        assert result.scores[row] == pytest.approx(score, abs=score_tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("family", ["ssd", "ssd-tf2"])
def test_ssd_both_output_orders(family: str, dtype: str) -> None:
    result = run_model(build_model(family, dtype), source_frame())
    # The op's boxes are float even in int8 models: exact up to float rounding.
    assert_detections(result, EXPECTED_SSD_DETECTIONS, stretched_to_source, 1e-3, 0.01)


@pytest.mark.parametrize("family", ["ssd", "ssd-tf2"])
def test_ssd_without_op_graph_uses_tensor_names(family: str) -> None:
    result = run_model(build_model(family, "uint8"), source_frame(), use_op_outputs=False)
    assert_detections(result, EXPECTED_SSD_DETECTIONS, stretched_to_source, 1e-3, 0.01)


def test_ssd_with_class_and_score_names(tmp_path) -> None:
    """Names saying "scores"/"classes" win over suffix conventions (here deliberately swapped)."""
    path = tmp_path / "named.tflite"
    # TF2 order: scores, boxes, count, classes; suffixes that TF1 would read the other way.
    names = ["detection_scores:1", "detection_boxes:0", "num_detections:3", "detection_classes:2"]
    path.write_bytes(rename_outputs(build_model("ssd-tf2", "float32").read_bytes(), names))
    result = run_model(path, source_frame(), use_op_outputs=False)
    assert_detections(result, EXPECTED_SSD_DETECTIONS, stretched_to_source, 1e-3, 0.01)


def test_ssd_without_names_decides_from_values(tmp_path) -> None:
    path = tmp_path / "unnamed.tflite"
    path.write_bytes(rename_outputs(build_model("ssd-tf2", "float32").read_bytes(), ["a", "b", "c", "d"]))
    result = run_model(path, source_frame(), use_op_outputs=False)
    assert_detections(result, EXPECTED_SSD_DETECTIONS, stretched_to_source, 1e-3, 0.01)


def test_ssd_score_threshold_and_max_detections() -> None:
    path = build_model("ssd", "float32")
    assert len(run_model(path, source_frame(), score_threshold=0.8)) == 1
    assert len(run_model(path, source_frame(), max_detections=1)) == 1


def test_agnostic_nms_keeps_one_box_per_object() -> None:
    """A model whose NMS runs per class keeps an overlapping box of another class;
    ``agnostic_nms`` drops it, for SSD (after the model's op) and YOLO (host NMS) alike."""
    path = build_model("ssd-per-class", "uint8")
    assert_detections(run_model(path, source_frame()), EXPECTED_SSD_PER_CLASS_DETECTIONS,
                      stretched_to_source, 1e-3, 0.01)
    assert_detections(run_model(path, source_frame(), agnostic_nms=True), EXPECTED_SSD_DETECTIONS,
                      stretched_to_source, 1e-3, 0.01)
    yolo = build_model("yolov8", "float32")
    assert_detections(run_model(yolo, source_frame(), agnostic_nms=True), [EXPECTED_DETECTIONS[0], EXPECTED_DETECTIONS[2]],
                      letterboxed_to_source, 1e-3, 1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("family", ["yolov5", "yolov8", "yolov8-transposed"])
def test_yolo_raw_outputs_letterboxed_with_host_nms(family: str, dtype: str) -> None:
    result = run_model(build_model(family, dtype), source_frame())
    # Pixel-box int8 outputs share one scale with the scores (32 px / 255 steps).
    box_tol, score_tol = (1e-3, 1e-4) if dtype == "float32" else (1.0, 0.05)
    assert_detections(result, EXPECTED_DETECTIONS, letterboxed_to_source, box_tol, score_tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_yolo_end_to_end_keeps_model_nms(dtype: str) -> None:
    result = run_model(build_model("yolo-e2e", dtype), source_frame())
    box_tol, score_tol = (1e-3, 1e-4) if dtype == "float32" else (0.5, 0.01)
    assert_detections(result, EXPECTED_E2E_DETECTIONS, letterboxed_to_source, box_tol, score_tol)


def test_yolo_thresholds_reach_the_decoder() -> None:
    path = build_model("yolov8", "float32")
    assert len(run_model(path, source_frame(), score_threshold=0.75)) == 2
    # With a loose IoU threshold the overlapping same-class box survives NMS.
    assert len(run_model(path, source_frame(), iou_threshold=0.9)) == 4
    assert len(run_model(path, source_frame(), max_detections=2)) == 2


def test_yolov5_detected_from_label_count_when_grid_does_not_tell(tmp_path) -> None:
    """[1,63,8] is v5 by its anchor count; with 3 labels it is v5 by its width too, and with 4
    labels it reads as v8 (4 + 4 columns): the label count takes precedence."""
    path = build_model("yolov5", "float32")
    assert len(run_model(path, source_frame(), num_labels=3)) == 3
    misread = run_model(path, source_frame(), num_labels=4)
    assert set(misread.class_ids.tolist()) != {0, 1, 2}
