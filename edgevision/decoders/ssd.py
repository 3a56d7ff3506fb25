"""SSD models that end in ``TFLite_Detection_PostProcess`` (TF Object Detection API, Model
Maker, Coral), whichever order their four outputs are listed in."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from edgevision.core import Detections
from edgevision.decoders.base import InputTransform, ModelInfo
from edgevision.decoders.nms import nms
from edgevision.errors import ModelError
from edgevision.inference.tensors import TensorSpec

log = logging.getLogger(__name__)

POSTPROCESS_OP = "TFLite_Detection_PostProcess"


@dataclass(frozen=True)
class SSDOutputs:
    """Output tensor indices of the post-processing op; ``None`` = decide from values."""

    boxes: int
    count: int
    classes: int | None
    scores: int | None
    pair: tuple[int, int]  # the two ``[1, N]`` tensors, for deciding from values


def _suffix(name: str) -> int | None:
    match = re.search(r":(\d+)$", name)
    return int(match.group(1)) if match else None


def find_ssd_outputs(info: ModelInfo) -> SSDOutputs:
    """Map the four outputs by the op's output order, else by names and shapes, never position.

    The op writes boxes, classes, scores, count. Without the op graph, names decide: "class" /
    "score" in the name, else the ``:k`` suffix: TF1 exports name them ``:0..3`` in op order;
    TF2 exports name boxes ``:3`` and count ``:0``, scores ``:1``, classes ``:2``.
    """
    op = info.op_outputs.get(POSTPROCESS_OP)
    if op is not None and len(op) == 4:
        boxes, classes, scores, count = op
        return SSDOutputs(boxes, count, classes, scores, (classes, scores))
    by_rank: dict[int, list[TensorSpec]] = {}
    for spec in info.outputs:
        by_rank.setdefault(len(spec.shape), []).append(spec)
    boxes_specs = [s for s in by_rank.get(3, []) if s.shape[-1] == 4]
    counts = [s for s in by_rank.get(1, []) if s.shape == (1,)]
    pair = by_rank.get(2, [])
    if len(boxes_specs) != 1 or len(counts) != 1 or len(pair) != 2 or len(info.outputs) != 4:
        raise ModelError(
            "SSD model needs 4 outputs (boxes [1,N,4], classes [1,N], scores [1,N], count [1]); "
            f"got {[list(s.shape) for s in info.outputs]}"
        )
    a, b = pair
    classes = scores = None
    for first, second in ((a, b), (b, a)):
        if "class" in first.name.lower() or "score" in second.name.lower():
            classes, scores = first.index, second.index
            break
    if classes is None:
        box_suffix = _suffix(boxes_specs[0].name)
        want_classes = {0: 1, 3: 2}.get(box_suffix) if box_suffix is not None else None
        for first, second in ((a, b), (b, a)):
            if want_classes is not None and _suffix(first.name) == want_classes:
                classes, scores = first.index, second.index
    if classes is None:
        log.info("SSD classes/scores not identifiable by name; deciding from their values")
    return SSDOutputs(boxes_specs[0].index, counts[0].index, classes, scores, (a.index, b.index))


def _is_whole(values: np.ndarray) -> bool:
    return bool(np.all(values == np.round(values)))


class SSDDecoder:
    """Boxes ``[ymin, xmin, ymax, xmax]`` normalized -> source pixels; class ids are 0-based."""

    task = "detection"
    resize = "stretch"

    def __init__(
        self,
        info: ModelInfo,
        score_threshold: float = 0.3,
        max_detections: int = 100,
        agnostic_nms: bool = False,
        iou_threshold: float = 0.5,
    ) -> None:
        """``agnostic_nms``: also drop boxes that overlap a higher-scored box of another class by
        more than ``iou_threshold`` (the model's own NMS may run per class)."""
        self.outputs = find_ssd_outputs(info)
        # The class count is no tensor's shape, but the op's options carry it.
        num_classes = info.op_options.get(POSTPROCESS_OP, {}).get("num_classes")
        self.num_classes: int | None = int(num_classes) if num_classes else None
        self.input_hw = info.input_hw
        self.score_threshold = score_threshold
        self.max_detections = max_detections
        self.agnostic_nms = agnostic_nms
        self.iou_threshold = iou_threshold

    def _classes_scores(self, outputs: dict[int, np.ndarray], n: int) -> tuple[np.ndarray, ...]:
        o = self.outputs
        if o.classes is not None and o.scores is not None:
            return outputs[o.classes].reshape(-1)[:n], outputs[o.scores].reshape(-1)[:n]
        first, second = (outputs[i].reshape(-1)[:n] for i in o.pair)
        # Class ids are whole numbers; scores are not (unless every one is exactly 0 or 1).
        return (first, second) if _is_whole(first) and not _is_whole(second) else (second, first)

    def decode(self, outputs: dict[int, np.ndarray], transform: InputTransform) -> Detections:
        boxes_all = outputs[self.outputs.boxes].reshape(-1, 4)
        n = int(np.clip(outputs[self.outputs.count].reshape(-1)[0], 0, len(boxes_all)))
        classes, scores = self._classes_scores(outputs, n)
        keep = np.flatnonzero(scores >= self.score_threshold)
        keep = keep[np.argsort(-scores[keep], kind="stable")][: self.max_detections]
        h, w = self.input_hw
        yxyx = boxes_all[:n][keep]
        if self.agnostic_nms:
            kept = nms(yxyx, scores[keep], np.zeros(len(keep), np.int32), self.iou_threshold, len(keep))
            keep, yxyx = keep[kept], yxyx[kept]
        xyxy_input = yxyx[:, [1, 0, 3, 2]] * np.array([w, h, w, h], np.float32)
        return Detections(
            xyxy=transform.boxes_to_source(xyxy_input),
            scores=scores[keep].astype(np.float32),
            class_ids=np.rint(classes[keep]).astype(np.int32),
        )
