"""Pick the decoder for a model from its tensor shapes, names, custom ops and metadata.

Output positions are never used: TF1 and TF2 exports of the same SSD list their outputs in
different orders.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, cast

from edgevision.decoders.base import Decoder, ModelInfo
from edgevision.decoders.classification import ClassificationDecoder
from edgevision.decoders.segmentation import SegmentationDecoder, segmentation_layout
from edgevision.decoders.ssd import POSTPROCESS_OP, SSDDecoder
from edgevision.decoders.yolo import Variant, YOLODecoder, yolo_variant
from edgevision.errors import ModelError
from edgevision.inference.metadata import ModelMetadata
from edgevision.inference.tensors import TensorSpec

log = logging.getLogger(__name__)

FAMILIES = ("ssd", "yolo", "yolov5", "yolov8", "yolo-e2e", "segmentation", "classification")
# Ultralytics writes its task into metadata.json; it settles classify vs detect.
ULTRALYTICS_TASKS = {"detect": "yolo", "classify": "classification"}


def _shapes(specs: tuple[TensorSpec, ...]) -> str:
    return ", ".join(f"{list(s.shape)} {s.dtype.name}" for s in specs)


def _no_fit(info: ModelInfo, why: str) -> ModelError:
    return ModelError(
        f"{why}: inputs {_shapes(info.inputs)}; outputs {_shapes(info.outputs)}; "
        f"pass --family {{{'|'.join(FAMILIES)}}} if it is one of these families"
    )


def _looks_like_ssd(info: ModelInfo) -> bool:
    if POSTPROCESS_OP in info.custom_ops or POSTPROCESS_OP in info.op_outputs:
        return True
    ranks = sorted(len(s.shape) for s in info.outputs)
    boxes = [s for s in info.outputs if len(s.shape) == 3 and s.shape[-1] == 4]
    return ranks == [1, 2, 2, 3] and len(boxes) == 1


def _guess_family(info: ModelInfo, metadata: ModelMetadata | None) -> str:
    task = (metadata.extra.get("task") if metadata else None) or ""
    if task in ULTRALYTICS_TASKS:
        return ULTRALYTICS_TASKS[task]
    if _looks_like_ssd(info):
        return "ssd"
    if len(info.outputs) != 1:
        raise _no_fit(info, f"model has {len(info.outputs)} outputs and no SSD post-processing op")
    spec = info.outputs[0]
    if len(spec.shape) == 2 and spec.shape[0] == 1:
        return "classification"
    if segmentation_layout(spec, info) is not None:
        return "segmentation"
    if yolo_variant(spec, info) is not None:
        return "yolo"
    raise _no_fit(info, "model outputs fit no supported family")


def _single_output(info: ModelInfo, family: str) -> TensorSpec:
    if len(info.outputs) != 1:
        raise _no_fit(info, f"--family {family} needs a model with one output")
    return info.outputs[0]


def select_decoder(
    info: ModelInfo,
    metadata: ModelMetadata | None = None,
    family: str | None = None,
    *,
    score_threshold: float | None = None,
    iou_threshold: float | None = None,
    agnostic_nms: bool | None = None,
    max_detections: int | None = None,
    top_k: int | None = None,
) -> Decoder:
    """The decoder for this model; ``family`` (``--family``) overrides detection from shapes.

    Thresholds left as None keep each decoder's own default.
    """
    if family is not None and family not in FAMILIES:
        raise ModelError(f"unknown model family {family!r}; choose one of {', '.join(FAMILIES)}")
    if not info.num_labels and metadata is not None and metadata.labels:
        info = dataclasses.replace(info, num_labels=len(metadata.labels))
    family = family or _guess_family(info, metadata)
    options: dict[str, Any] = {
        "score_threshold": score_threshold,
        "iou_threshold": iou_threshold,
        "agnostic_nms": agnostic_nms,
        "max_detections": max_detections,
    }
    options = {k: v for k, v in options.items() if v is not None}
    decoder: Decoder
    if family == "ssd":
        decoder = SSDDecoder(info, **options)  # NMS ran in the model; iou_threshold only serves agnostic_nms
    elif family == "classification":
        spec = _single_output(info, family)
        decoder = ClassificationDecoder(info, spec, **({"top_k": top_k} if top_k else {}))
    elif family == "segmentation":
        spec = _single_output(info, family)
        layout = segmentation_layout(spec, info)
        if layout is None:
            raise _no_fit(info, "output is not a segmentation map [1,H,W,C], [1,C,H,W] or [1,H,W]")
        decoder = SegmentationDecoder(info, spec, layout)
    else:
        spec = _single_output(info, family)
        found = yolo_variant(spec, info)
        if found is None:
            raise _no_fit(info, "output is not a YOLO tensor [1,N,5+C], [1,4+C,N] or [1,N,6]")
        variant, channels_first = found
        if family != "yolo":
            variant = cast(Variant, family)
        decoder = YOLODecoder(info, spec, variant, channels_first, **options)
    log.info("model family: %s (%s)", family, type(decoder).__name__)
    return decoder
