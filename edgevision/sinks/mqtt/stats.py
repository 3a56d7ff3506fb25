"""Per-camera frame rate, inference time and dropped frames over the last stats period."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from edgevision.core import FrameResult


@dataclass
class _Camera:
    frames: int = 0
    inference_ms: float = 0.0
    dropped: int = 0
    dropped_total: int = 0
    last_index: int | None = None


@dataclass
class StatsMeter:
    """Counts frames as they pass; :meth:`snapshot` reports and starts a new period.

    Dropped frames are gaps in ``Frame.index``: live sources number every frame they read and
    hand over only the newest, so a gap is frames read but never processed.
    """

    started: float = field(default_factory=time.monotonic)
    _period_start: float = field(default_factory=time.monotonic)
    _cameras: dict[str, _Camera] = field(default_factory=dict)

    def add(self, result: FrameResult) -> None:
        camera = self._cameras.setdefault(result.frame.camera, _Camera())
        index = result.frame.index
        if camera.last_index is not None and index > camera.last_index + 1:
            gap = index - camera.last_index - 1
            camera.dropped += gap
            camera.dropped_total += gap
        camera.last_index = index
        camera.frames += 1
        camera.inference_ms += result.timings_ms.get("inference", 0.0)

    def due(self, interval_s: float) -> bool:
        return time.monotonic() - self._period_start >= interval_s

    def snapshot(self) -> dict:
        now = time.monotonic()
        period = max(now - self._period_start, 1e-9)
        cameras = {
            name: {
                "fps": round(c.frames / period, 2),
                "inference_ms": round(c.inference_ms / c.frames, 2) if c.frames else None,
                "dropped_frames": c.dropped,
                "dropped_frames_total": c.dropped_total,
            }
            for name, c in self._cameras.items()
        }
        for c in self._cameras.values():
            c.frames, c.inference_ms, c.dropped = 0, 0.0, 0
        self._period_start = now
        return {"uptime_s": round(now - self.started, 1), "cameras": cameras}
