"""Semantic segmentation: logits NHWC ``[1,H,W,C]`` or NCHW ``[1,C,H,W]``, an argmax map
``[1,H,W]``, or a single-channel probability mask ``[1,H,W,1]``."""

from __future__ import annotations

from typing import Literal

import numpy as np

from edgevision.core import Segmentation
from edgevision.decoders.base import InputTransform, ModelInfo
from edgevision.inference.tensors import TensorSpec

Layout = Literal["nhwc", "nchw", "argmax", "mask"]
MASK_THRESHOLD = 0.5


def _proportional(hw: tuple[int, int], input_hw: tuple[int, int]) -> bool:
    return hw[0] * input_hw[1] == hw[1] * input_hw[0]


def segmentation_layout(spec: TensorSpec, info: ModelInfo) -> Layout | None:
    """How a segmentation output is laid out, or None when it does not look like one.

    Rank 3 is an argmax map when its values are plain integers or its ``H, W`` have the input's
    aspect ratio. Rank 4 with one channel is a probability mask. Otherwise the channel axis is
    the one matching the label count, else the one whose other two axes have the input's aspect
    ratio, else the smaller of axes 1 and 3 (ties: NHWC, TFLite's own layout).
    """
    shape = spec.shape
    if len(shape) == 3 and shape[0] == 1:
        integer = spec.dtype.kind in "iu" and not spec.quantized
        return "argmax" if integer or _proportional(shape[1:], info.input_hw) else None
    if len(shape) != 4 or shape[0] != 1:
        return None
    if shape[3] == 1:
        return "mask"
    if info.num_labels:
        if shape[3] == info.num_labels:
            return "nhwc"
        if shape[1] == info.num_labels:
            return "nchw"
    nhwc_fits = _proportional(shape[1:3], info.input_hw)
    nchw_fits = _proportional(shape[2:4], info.input_hw)
    if nhwc_fits != nchw_fits:
        return "nhwc" if nhwc_fits else "nchw"
    return "nhwc" if shape[3] <= shape[1] else "nchw"


class SegmentationDecoder:
    """A per-pixel class map at the source frame's size (nearest neighbour, padding removed)."""

    task = "segmentation"
    resize = "stretch"

    def __init__(self, info: ModelInfo, output: TensorSpec, layout: Layout) -> None:
        self.output = output.index
        self.layout = layout
        self.input_hw = info.input_hw
        shape = output.shape
        self.num_classes = {
            "nhwc": shape[-1],
            "nchw": shape[1],
            "mask": 2,
            "argmax": max(info.num_labels, 2),
        }[layout]

    def _class_map(self, value: np.ndarray) -> np.ndarray:
        """The map at the model's output resolution."""
        if self.layout == "argmax":
            return value[0].astype(np.int32)
        if self.layout == "mask":
            return (value[0, :, :, 0] >= MASK_THRESHOLD).astype(np.int32)
        axis = 3 if self.layout == "nhwc" else 1
        return np.argmax(value, axis=axis)[0].astype(np.int32)

    def decode(self, outputs: dict[int, np.ndarray], transform: InputTransform) -> Segmentation:
        small = self._class_map(outputs[self.output])
        out_h, out_w = small.shape
        in_h, in_w = self.input_hw
        src_h, src_w = transform.source_hw
        # Each source pixel centre -> model-input pixels -> output-map cell (nearest).
        ys = ((np.arange(src_h) + 0.5) * transform.scale_y + transform.pad_y) * (out_h / in_h)
        xs = ((np.arange(src_w) + 0.5) * transform.scale_x + transform.pad_x) * (out_w / in_w)
        rows = np.clip(ys.astype(np.int64), 0, out_h - 1)
        cols = np.clip(xs.astype(np.int64), 0, out_w - 1)
        class_map = small.take(rows, axis=0).take(cols, axis=1)  # 3x faster than 2-D indexing
        num_classes = max(self.num_classes, int(class_map.max()) + 1)
        return Segmentation(class_map=class_map, num_classes=num_classes)
