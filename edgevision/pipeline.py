"""The frame loop: source -> models -> (tracking) -> sinks, one direction only."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edgevision.core import FrameResult
from edgevision.inference.model import Model
from edgevision.sinks.payload import frame_payload
from edgevision.sources.base import Source

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Consumes each frame's results; drawing is done once per frame for the sinks that ask."""

    needs_image: bool

    def handle(self, result: FrameResult, payload: dict, annotated: np.ndarray | None) -> None: ...

    def close(self) -> None: ...


@dataclass
class RunStats:
    frames: int = 0
    started: float = field(default_factory=time.monotonic)
    first_result_s: float | None = None

    @property
    def fps(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0


class FpsMeter:
    """Frames per second over a sliding window, for overlays and stats."""

    def __init__(self, window: int = 30) -> None:
        self._times: list[float] = []
        self._window = window

    def tick(self) -> float:
        now = time.monotonic()
        self._times.append(now)
        del self._times[: -self._window]
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])


class Pipeline:
    def __init__(
        self,
        source: Source,
        models: Sequence[Model],
        sinks: Sequence[Sink],
        max_frames: int | None = None,
        polygons: bool = False,
    ) -> None:
        self.source = source
        self.models = list(models)
        self.sinks = list(sinks)
        self.max_frames = max_frames
        self.polygons = polygons
        self.stop_event = threading.Event()
        self.stats = RunStats()
        self._fps = FpsMeter()

    def process(self, frame) -> FrameResult:
        t0 = time.perf_counter()
        results = tuple(model.predict(frame.image) for model in self.models)
        return FrameResult(frame, results, {"inference": (time.perf_counter() - t0) * 1e3})

    def run(self) -> RunStats:
        """Process frames until the source ends, ``max_frames`` or :meth:`stop`."""
        from edgevision.sinks.draw import draw_frame_result  # noqa: PLC0415 - cv2 drawing only when needed

        want_image = any(sink.needs_image for sink in self.sinks)
        try:
            for frame in self.source:
                if self.stop_event.is_set():
                    break
                result = self.process(frame)
                fps = self._fps.tick()
                payload = frame_payload(result, self.polygons)
                annotated = draw_frame_result(frame.image, result, fps) if want_image else None
                for sink in self.sinks:
                    sink.handle(result, payload, annotated)
                self.stats.frames += 1
                if self.stats.first_result_s is None:
                    self.stats.first_result_s = time.monotonic() - self.stats.started
                if self.max_frames is not None and self.stats.frames >= self.max_frames:
                    break
        finally:
            self.close()
        log.info("processed %d frames at %.1f fps", self.stats.frames, self.stats.fps)
        return self.stats

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        self.source.close()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:  # one sink failing to close must not lose the others' data
                log.exception("closing %s failed", type(sink).__name__)
