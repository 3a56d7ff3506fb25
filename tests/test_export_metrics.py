"""mAP, mIoU and top-1 on hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from export.metrics import ImageDetections, confusion, mean_average_precision, mean_iou, top1


def dets(boxes, classes, scores=None) -> ImageDetections:
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    return ImageDetections(boxes, np.array(scores if scores is not None else [1.0] * len(boxes)), np.array(classes))


def test_perfect_detections() -> None:
    truth = [dets([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 1])]
    result = mean_average_precision(truth, truth, 2)
    assert result["mAP@0.5"] == pytest.approx(1.0) and result["mAP@0.5:0.95"] == pytest.approx(1.0)


def test_wrong_class_and_a_miss() -> None:
    truth = [dets([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 1])]
    pred = [dets([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0], [0.9, 0.8])]
    result = mean_average_precision(pred, truth, 2)
    # class 0: one hit then one false positive -> AP 1; class 1: missed -> AP 0
    assert result["AP@0.5/0"] == pytest.approx(1.0) and result["AP@0.5/1"] == 0.0
    assert result["mAP@0.5"] == pytest.approx(0.5)


def test_loose_box_counts_at_05_not_at_09() -> None:
    truth = [dets([[0, 0, 10, 10]], [0])]
    pred = [dets([[0, 0, 10, 14]], [0])]  # IoU 0.714
    result = mean_average_precision(pred, truth, 1, iou_thresholds=[0.5, 0.9])
    assert result["mAP@0.5"] == pytest.approx(1.0) and result["mAP@0.5:0.95"] == pytest.approx(0.5)


def test_duplicate_is_a_false_positive_ranked_by_score() -> None:
    truth = [dets([[0, 0, 10, 10]], [0]), dets([[0, 0, 10, 10]], [0])]
    pred = [dets([[0, 0, 10, 10], [0, 0, 10, 10]], [0, 0], [0.9, 0.95]), dets([[0, 0, 10, 10]], [0], [0.5])]
    # ranked: 0.95 TP, 0.9 FP (duplicate), 0.5 TP -> precision at recall 1 is 2/3
    ap = mean_average_precision(pred, truth, 1)["mAP@0.5"]
    assert ap == pytest.approx((51 * 1.0 + 50 * 2 / 3) / 101)


def test_mean_iou_and_top1() -> None:
    truth = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    pred = np.array([[0, 0, 1, 0], [0, 0, 1, 1]])
    m = mean_iou(confusion(pred, truth, 3))
    assert m["IoU/0"] == pytest.approx(4 / 5) and m["IoU/1"] == pytest.approx(3 / 4)
    assert np.isnan(m["IoU/2"]) and m["mIoU"] == pytest.approx((0.8 + 0.75) / 2)
    assert top1(np.array([1, 2, 3]), np.array([1, 2, 0])) == pytest.approx(2 / 3)
