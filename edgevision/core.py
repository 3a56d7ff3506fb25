"""The small set of values that every pipeline stage passes on.

Per-frame data stays in numpy arrays; dictionaries and lists are built only for the published
payload (see ``edgevision.sinks.payload``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded image from a source, BGR uint8 ``HxWx3``, with where and when it came from."""

    image: np.ndarray
    index: int
    timestamp: float
    camera: str

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


@dataclass(frozen=True)
class Detections:
    """Parallel arrays of N detections; boxes are ``[x1, y1, x2, y2]`` in source-frame pixels."""

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    masks: np.ndarray | None = None
    track_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"xyxy must have shape (N, 4), got {self.xyxy.shape}")
        for name in ("scores", "class_ids", "masks", "track_ids"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"{name} has {len(value)} rows, xyxy has {n}")

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            scores=np.zeros((0,), np.float32),
            class_ids=np.zeros((0,), np.int32),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | int) -> Detections:
        """Select rows with a boolean mask, an index array or a slice, keeping arrays 2-D."""
        if isinstance(index, (int, np.integer)):
            index = np.array([index])
        return Detections(
            xyxy=self.xyxy[index],
            scores=self.scores[index],
            class_ids=self.class_ids[index],
            masks=None if self.masks is None else self.masks[index],
            track_ids=None if self.track_ids is None else self.track_ids[index],
        )

    def with_track_ids(self, track_ids: np.ndarray) -> Detections:
        return Detections(self.xyxy, self.scores, self.class_ids, self.masks, track_ids)


@dataclass(frozen=True)
class Classifications:
    """Top-k classes, best first."""

    class_ids: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.class_ids)


@dataclass(frozen=True)
class Segmentation:
    """A per-pixel class map in source-frame pixels (``HxW`` int32)."""

    class_map: np.ndarray
    num_classes: int

    def area_fractions(self) -> dict[int, float]:
        """Fraction of the frame covered by each class present, background included."""
        counts = np.bincount(self.class_map.ravel(), minlength=self.num_classes)
        total = float(self.class_map.size)
        return {int(c): float(n) / total for c, n in enumerate(counts) if n}


Prediction = Union[Detections, Classifications, Segmentation]


@dataclass(frozen=True)
class ModelResult:
    """What one model said about one frame, with the labels to name its classes."""

    model: str
    prediction: Prediction
    labels: "Labels"
    timings_ms: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FrameResult:
    """Everything the models said about one frame; what sinks consume."""

    frame: Frame
    results: tuple[ModelResult, ...]
    timings_ms: dict[str, float] = field(default_factory=dict)


class Labels:
    """Class id to name, with the id itself as the name where none is known."""

    def __init__(self, names: dict[int, str] | None = None) -> None:
        self._names = dict(names or {})

    @classmethod
    def from_list(cls, names: list[str]) -> Labels:
        return cls(dict(enumerate(names)))

    def __getitem__(self, class_id: int) -> str:
        return self._names.get(int(class_id), str(int(class_id)))

    def __len__(self) -> int:
        return len(self._names)

    def __bool__(self) -> bool:
        return bool(self._names)

    def as_dict(self) -> dict[int, str]:
        return dict(self._names)

    def __repr__(self) -> str:
        return f"Labels({len(self._names)} names)"
