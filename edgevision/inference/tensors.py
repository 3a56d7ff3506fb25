"""Tensor descriptions and per-tensor (de)quantization."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    """What the interpreter says about one input or output tensor."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float
    zero_point: int

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> TensorSpec:
        scale, zero_point = details.get("quantization", (0.0, 0))
        return cls(
            index=int(details["index"]),
            name=str(details["name"]),
            shape=tuple(int(d) for d in details["shape"]),
            dtype=np.dtype(details["dtype"]),
            scale=float(scale),
            zero_point=int(zero_point),
        )

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and self.dtype.kind in "iu"

    def dequantize(self, value: np.ndarray) -> np.ndarray:
        """Real values as float32, using this tensor's own scale and zero point."""
        if self.quantized:
            return (value.astype(np.float32) - self.zero_point) * self.scale
        return value.astype(np.float32, copy=False)

    def quantize(self, value: np.ndarray) -> np.ndarray:
        """Real values converted to this tensor's dtype (clipped to its range)."""
        if self.quantized:
            info = np.iinfo(self.dtype)
            q = np.round(value / self.scale + self.zero_point)
            return np.clip(q, info.min, info.max).astype(self.dtype)
        return value.astype(self.dtype, copy=False)

    def describe(self) -> str:
        quant = f" q(scale={self.scale:.6g}, zp={self.zero_point})" if self.quantized else ""
        return f"{self.name or '#' + str(self.index)} {list(self.shape)} {self.dtype.name}{quant}"
