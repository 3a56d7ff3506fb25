"""Raw YOLO outputs: v5 ``[1,N,5+C]``, v8/v11 ``[1,4+C,N]`` or transposed ``[1,N,4+C]``, and
end-to-end ``[1,N,6]`` (x1,y1,x2,y2,score,class). NMS runs on the host except for end-to-end."""

from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from edgevision.core import Detections
from edgevision.decoders.base import InputTransform, ModelInfo
from edgevision.decoders.nms import nms
from edgevision.inference.tensors import TensorSpec

log = logging.getLogger(__name__)

Variant = Literal["yolov5", "yolov8", "yolo-e2e"]
NORMALIZED_MAX = 1.5  # boxes no larger than this are fractions of the input, not pixels
PRE_NMS_TOP_K = 3000


def grid_cells(input_hw: tuple[int, int]) -> int:
    """Anchor-free cells of a strides 8/16/32 head (v8/v11); v5 has 3 anchors per cell."""
    h, w = input_hw
    return sum((h // s) * (w // s) for s in (8, 16, 32))


def yolo_variant(spec: TensorSpec, info: ModelInfo) -> tuple[Variant, bool] | None:
    """(variant, channels_first) of a rank-3 YOLO output, or None when it is not one.

    ``[1,N,6]`` is end-to-end unless there is exactly 1 label (then it is v5 with one class).
    A wider-than-long ``[1,A,B]`` (A < B) is v8 channels-first. For ``[1,N,K]``: with labels,
    ``K == 5 + labels`` is v5 and ``K == 4 + labels`` is v8; without, ``N`` equal to the
    3-anchors-per-cell count of the input size is v5, else v8.
    """
    shape = spec.shape
    if len(shape) != 3 or shape[0] != 1 or min(shape[1:]) < 5:
        return None
    rows, cols = shape[1], shape[2]
    if rows < cols:
        return ("yolov8", True) if rows >= 5 else None
    labels = info.num_labels
    if cols == 6 and labels != 1:
        return ("yolo-e2e", False)
    if labels and cols == 5 + labels:
        return ("yolov5", False)
    if labels and cols == 4 + labels:
        return ("yolov8", False)
    if rows == 3 * grid_cells(info.input_hw):
        return ("yolov5", False)
    return ("yolov8", False)


def _cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, 0:2] - half, b[:, 0:2] + half], axis=1)


class YOLODecoder:
    """Letterboxed input; boxes in input pixels or normalized, mapped back to source pixels."""

    task = "detection"
    resize = "letterbox"

    def __init__(
        self,
        info: ModelInfo,
        output: TensorSpec,
        variant: Variant,
        channels_first: bool = False,
        score_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        max_detections: int = 100,
        agnostic_nms: bool = False,
    ) -> None:
        self.output = output.index
        self.variant = variant
        self.channels_first = channels_first
        self.input_hw = info.input_hw
        width = output.shape[1] if channels_first else output.shape[2]
        self.num_classes = {"yolov5": width - 5, "yolov8": width - 4, "yolo-e2e": None}[variant]
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        self.agnostic_nms = agnostic_nms

    def _candidates(self, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(xyxy, scores, class ids) above the score threshold, before NMS."""
        if self.variant == "yolo-e2e":
            # Class ids share the tensor's quantization: 0.99 means 1.
            boxes, scores, classes = pred[:, :4], pred[:, 4], np.rint(pred[:, 5])
        else:
            class_scores = pred[:, 5:] * pred[:, 4:5] if self.variant == "yolov5" else pred[:, 4:]
            classes = np.argmax(class_scores, axis=1)
            scores = np.take_along_axis(class_scores, classes[:, None], axis=1)[:, 0]
            boxes = pred[:, :4]
        keep = np.flatnonzero(scores >= self.score_threshold)
        if len(keep) > PRE_NMS_TOP_K:
            keep = keep[np.argpartition(-scores[keep], PRE_NMS_TOP_K)[:PRE_NMS_TOP_K]]
        boxes = boxes[keep]
        if self.variant != "yolo-e2e":
            boxes = _cxcywh_to_xyxy(boxes)
        return boxes, scores[keep], classes[keep].astype(np.int32)

    def decode(self, outputs: dict[int, np.ndarray], transform: InputTransform) -> Detections:
        pred = outputs[self.output][0]
        if self.channels_first:
            pred = pred.T
        boxes, scores, classes = self._candidates(pred)
        if len(boxes) == 0:
            return Detections.empty()
        if float(np.abs(pred[:, :4]).max()) <= NORMALIZED_MAX:
            h, w = self.input_hw
            boxes = boxes * np.array([w, h, w, h], np.float32)
        if self.agnostic_nms:  # one box per object, whatever its class
            keep = nms(boxes, scores, np.zeros_like(classes), self.iou_threshold, self.max_detections)
        elif self.variant == "yolo-e2e":
            keep = np.argsort(-scores, kind="stable")[: self.max_detections]
        else:
            keep = nms(boxes, scores, classes, self.iou_threshold, self.max_detections)
        return Detections(
            xyxy=transform.boxes_to_source(boxes[keep]),
            scores=scores[keep].astype(np.float32),
            class_ids=classes[keep],
        )
