"""The decoder interface shared by every model family."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from edgevision.core import Prediction
from edgevision.inference.tensors import TensorSpec

ResizeMode = Literal["letterbox", "stretch"]


@dataclass(frozen=True)
class ModelInfo:
    """What is known about a model besides its tensors: used to pick and configure a decoder."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    custom_ops: tuple[str, ...] = ()
    # For each custom op, the tensor indices of its outputs in op order (e.g. SSD post-processing
    # outputs boxes, classes, scores, count): lets decoders map tensors without output positions.
    op_outputs: dict[str, tuple[int, ...]] = field(default_factory=dict)
    # Custom op name -> its options, e.g. the SSD post-processing op's ``num_classes``.
    op_options: dict[str, dict] = field(default_factory=dict)
    num_labels: int = 0

    @property
    def input_hw(self) -> tuple[int, int]:
        shape = self.inputs[0].shape
        return (shape[1], shape[2]) if shape[-1] in (1, 3, 4) else (shape[2], shape[3])


@dataclass(frozen=True)
class InputTransform:
    """How a source frame was mapped into the model input, to map results back.

    ``model = source * scale + (pad_x, pad_y)`` in pixels of the model input.
    """

    source_hw: tuple[int, int]
    input_hw: tuple[int, int]
    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float

    def boxes_to_source(self, xyxy_input_px: np.ndarray) -> np.ndarray:
        """Boxes in model-input pixels -> ``[x1, y1, x2, y2]`` clipped to the source frame."""
        out = np.empty_like(xyxy_input_px, dtype=np.float32)
        out[:, [0, 2]] = (xyxy_input_px[:, [0, 2]] - self.pad_x) / self.scale_x
        out[:, [1, 3]] = (xyxy_input_px[:, [1, 3]] - self.pad_y) / self.scale_y
        h, w = self.source_hw
        out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, w)  # fancy indexing copies: assign back
        out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, h)
        return out


class Decoder(Protocol):
    """Turns dequantized output tensors of one model family into a prediction."""

    task: str  # "detection" | "classification" | "segmentation"
    resize: ResizeMode

    def decode(self, outputs: dict[int, np.ndarray], transform: InputTransform) -> Prediction:
        """``outputs`` maps output tensor index to its float32 value (batch dim included)."""
        ...
