"""Source frame -> model input tensor: colour order, resize (stretch or letterbox), normalize
and quantize.

Normalization and quantization are folded into one 256-entry lookup table per channel, so
each frame costs one resize and one table lookup whatever the model's input type.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edgevision.decoders.base import InputTransform, ResizeMode
from edgevision.inference.tensors import TensorSpec

LETTERBOX_FILL = 114


def default_normalization(spec: TensorSpec) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std to assume when a model carries no metadata.

    Quantized inputs take raw pixels as their quantized values (uint8) or shifted by 128
    (int8): the convention of TF Object Detection API, Coral and Model Maker models. Float
    inputs take pixels scaled to [0, 1], as Ultralytics exports expect.
    """
    if spec.quantized:
        shift = 128.0 if spec.dtype == np.int8 else 0.0
        return (spec.zero_point + shift,), (1.0 / spec.scale,)
    return (0.0,), (255.0,)


class Preprocessor:
    """Writes one frame into a model input; keeps what is needed to map results back."""

    def __init__(
        self,
        spec: TensorSpec,
        resize: ResizeMode,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        if len(spec.shape) != 4:
            raise ValueError(f"expected a 4-D image input, got shape {list(spec.shape)}")
        self.spec = spec
        self.resize = resize
        self.channels_first = spec.shape[1] in (1, 3) and spec.shape[3] not in (1, 3)
        if self.channels_first:
            _, self.channels, self.height, self.width = spec.shape
        else:
            _, self.height, self.width, self.channels = spec.shape
        if mean is None or std is None:
            mean, std = default_normalization(spec)
        self._lut = self._lookup_table(mean, std)
        self._cv_lut = np.ascontiguousarray(self._lut.reshape(1, 256, self.channels))
        self._stretched = np.empty((self.height, self.width, 3), np.uint8)
        self._canvases: dict[tuple[int, int], np.ndarray] = {}
        self._pixels = np.empty((self.height, self.width, 3), np.uint8)
        self._gray = np.empty((self.height, self.width), np.uint8)
        # uint8 models fed raw pixels need no lookup at all.
        self._identity = self._lut.dtype == np.uint8 and bool(
            np.all(self._lut == np.arange(256, dtype=np.uint8)[:, None])
        )

    def _lookup_table(self, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
        """``[256, channels]`` table mapping a pixel value to the input tensor's value."""
        pixels = np.arange(256, dtype=np.float64)[:, None]
        mean_arr = np.broadcast_to(np.asarray(mean, np.float64), (self.channels,))
        std_arr = np.broadcast_to(np.asarray(std, np.float64), (self.channels,))
        real = (pixels - mean_arr) / std_arr
        return self.spec.quantize(real.astype(np.float32))

    def transform_for(self, source_hw: tuple[int, int]) -> InputTransform:
        h, w = source_hw
        if self.resize == "stretch":
            return InputTransform(source_hw, (self.height, self.width), self.width / w, self.height / h, 0.0, 0.0)
        scale = min(self.width / w, self.height / h)
        new_w, new_h = round(w * scale), round(h * scale)
        pad_x = (self.width - new_w) // 2
        pad_y = (self.height - new_h) // 2
        return InputTransform(source_hw, (self.height, self.width), scale, scale, float(pad_x), float(pad_y))

    def __call__(
        self, image_bgr: np.ndarray, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, InputTransform]:
        """The input tensor value ``[1, ...]`` for ``image_bgr`` and its transform.

        Resizing comes first, so colour conversion and the table lookup touch only the
        model-sized image. Intermediate images are reused between frames, and the last step
        writes straight into ``out`` (the interpreter's input tensor) when given.
        """
        transform = self.transform_for(image_bgr.shape[:2])
        resized = self._resize(image_bgr, transform)
        direct = out is not None and not self.channels_first
        if self.channels == 1:
            pixels = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY, dst=self._gray)[..., None]
            if self._identity and direct:
                out[0] = pixels
                return out, transform
        else:
            target = out[0] if direct and self._identity else self._pixels
            pixels = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB, dst=target)
            if target is not self._pixels:
                return out, transform
        if self._identity:
            values = pixels
        elif direct and self.channels == 3:
            cv2.LUT(pixels, self._cv_lut, dst=out[0])
            return out, transform
        else:
            values = cv2.LUT(pixels, self._cv_lut).reshape(pixels.shape)
        if self.channels_first:
            values = values.transpose(2, 0, 1)
        if out is not None:
            out[0] = values
            return out, transform
        return values[np.newaxis], transform

    def _resize(self, image: np.ndarray, transform: InputTransform) -> np.ndarray:
        size = (self.width, self.height)
        if self.resize == "stretch":
            return cv2.resize(image, size, dst=self._stretched, interpolation=cv2.INTER_LINEAR)
        h, w = image.shape[:2]
        new_w, new_h = round(w * transform.scale_x), round(h * transform.scale_y)
        pad_x, pad_y = int(transform.pad_x), int(transform.pad_y)
        canvas = self._canvases.get((h, w))
        if canvas is None:  # one grey-bordered canvas per source size: borders are drawn once
            canvas = np.full((self.height, self.width, 3), LETTERBOX_FILL, np.uint8)
            self._canvases[(h, w)] = canvas
        cv2.resize(image, (new_w, new_h), dst=canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w],
                   interpolation=cv2.INTER_LINEAR)  # fmt: skip
        return canvas
