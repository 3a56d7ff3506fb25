"""The frame loop: source -> models -> (tracking) -> sinks, one direction only.

Three stages overlap on separate threads: reading and decoding frames, inference (the
interpreter's ``invoke`` releases the GIL), and drawing plus publishing. Bounded queues join
them, so a file is processed frame by frame in order and a live source (which keeps only its
freshest frame) never builds up latency.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from edgevision.core import Frame, FrameResult
from edgevision.inference.model import Model
from edgevision.sinks.payload import frame_payload
from edgevision.sources.base import Source

log = logging.getLogger(__name__)

QUEUE_DEPTH = 2
LATENCY_WINDOW = 4096
_END = object()


class Sink(Protocol):
    """Consumes each frame's results; drawing is done once per frame for the sinks that ask.

    ``needs_image``: the sink wants the annotated frame. ``keeps_frame``: it holds on to
    ``result.frame.image`` after ``handle`` (e.g. for clean snapshots), so drawing must not
    touch it. ``needs_payload``: it reads the JSON payload, which is ``None`` when no sink does.
    """

    needs_image: bool
    keeps_frame: bool
    needs_payload: bool

    def handle(self, result: FrameResult, payload: dict | None, annotated: np.ndarray | None) -> None: ...

    def close(self) -> None: ...


FrameHook = Callable[[FrameResult], FrameResult]


def decode_threads_for(interpreter_threads: int | None) -> int:
    """FFmpeg decoding threads for the pipelined runtime: the cores that the interpreter's threads
    and the publishing thread leave free, at least one.

    Decoding runs in parallel with inference and drawing, so decoder threads beyond the free
    cores (FFmpeg's default is one per core) only take CPU time from them; docs/performance.md
    has the figures. ``None`` is LiteRT's default of one interpreter thread.
    """
    return max(1, (os.cpu_count() or 1) - (interpreter_threads or 1) - 1)


@dataclass
class RunStats:
    """Counters and per-stage time totals; bounded, so a service can run for months."""

    frames: int = 0
    dropped: int = 0  # frames a live source gave that a newer frame replaced in the pipeline
    started: float = field(default_factory=time.monotonic)
    first_result_s: float | None = None
    stage_ms: dict[str, float] = field(default_factory=dict)
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))

    @property
    def fps(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.frames / elapsed if elapsed > 0 else 0.0

    def add_timings(self, timings: dict[str, float]) -> None:
        for name, ms in timings.items():
            self.stage_ms[name] = self.stage_ms.get(name, 0.0) + ms


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


class _Stage(threading.Thread):
    """A daemon thread that remembers the exception that ended it."""

    def __init__(self, name: str, target: Callable[[], None]) -> None:
        super().__init__(name=name, daemon=True)
        self._work = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # re-raised on the main thread by Pipeline.run
            self.error = exc


class Pipeline:
    def __init__(
        self,
        source: Source,
        models: Sequence[Model],
        sinks: Sequence[Sink],
        max_frames: int | None = None,
        polygons: bool = False,
        hooks: Sequence[FrameHook] = (),
        threaded: bool = True,
        detect_enabled: Callable[[str], bool] | None = None,
    ) -> None:
        self.source = source
        self.models = list(models)
        self.sinks = list(sinks)
        self.max_frames = max_frames
        self.polygons = polygons
        self.hooks = list(hooks)
        self.threaded = threaded
        self.detect_enabled = detect_enabled
        self.stop_event = threading.Event()
        self._sinks_closed = False
        self.stats = RunStats()
        self._fps = FpsMeter()

    # -- the three stages -------------------------------------------------------------------

    def infer(self, frame: Frame) -> FrameResult:
        """Every model on the frame; none while detection is switched off for its camera."""
        t0 = time.perf_counter()
        if self.detect_enabled is not None and not self.detect_enabled(frame.camera):
            return FrameResult(frame, (), {"inference": 0.0})
        results = tuple(model.predict(frame.image) for model in self.models)
        return FrameResult(frame, results, {"inference": (time.perf_counter() - t0) * 1e3})

    def publish(self, result: FrameResult) -> None:
        """Tracking hooks, payload and drawing (each only if a sink wants it), then every sink.

        Drawing goes straight onto the decoded frame unless a sink keeps that frame: the copy
        of a 720p frame alone costs about 0.5 ms.
        """
        from edgevision.sinks.draw import draw_frame_result  # noqa: PLC0415 - only when drawing

        t0 = time.perf_counter()
        for hook in self.hooks:
            result = hook(result)
        t1 = time.perf_counter()
        fps = self._fps.tick()
        payload = frame_payload(result, self.polygons) if any(s.needs_payload for s in self.sinks) else None
        annotated = None
        if any(sink.needs_image for sink in self.sinks):
            in_place = not any(sink.keeps_frame for sink in self.sinks)
            annotated = draw_frame_result(result.frame.image, result, fps, in_place=in_place)
        t2 = time.perf_counter()
        for sink in self.sinks:
            sink.handle(result, payload, annotated)
        t3 = time.perf_counter()
        self.stats.frames += 1
        self.stats.latencies_ms.append((time.time() - result.frame.timestamp) * 1e3)
        model_ms: dict[str, float] = {}
        for model_result in result.results:
            for stage, ms in model_result.timings_ms.items():
                model_ms[stage] = model_ms.get(stage, 0.0) + ms
        self.stats.add_timings(
            {
                **result.timings_ms,
                **model_ms,
                "tracking": (t1 - t0) * 1e3,
                "draw": (t2 - t1) * 1e3,
                "publish": (t3 - t2) * 1e3,
            }
        )
        if self.stats.first_result_s is None:
            self.stats.first_result_s = time.monotonic() - self.stats.started
            log.info("first result after %.2f s", self.stats.first_result_s)

    def _frames(self) -> Iterator[Frame]:
        count = 0
        frames = iter(self.source)
        while not self.stop_event.is_set():
            t0 = time.perf_counter()
            frame = next(frames, None)
            if frame is None:
                return
            self.stats.add_timings({"capture": (time.perf_counter() - t0) * 1e3})
            yield frame
            count += 1
            if self.max_frames is not None and count >= self.max_frames:
                return

    # -- running -------------------------------------------------------------------------

    def run(self) -> RunStats:
        """Process frames until the source ends, ``max_frames`` or :meth:`stop`."""
        try:
            if self.threaded:
                self._run_threaded()
            else:
                for frame in self._frames():
                    self.publish(self.infer(frame))
        finally:
            self.close()
        log.info("processed %d frames at %.1f fps", self.stats.frames, self.stats.fps)
        return self.stats

    @property
    def live(self) -> bool:
        """Cameras, streams and real-time files: the freshest frame wins over queued ones."""
        return bool(getattr(self.source, "is_live", False) or getattr(self.source, "realtime", False))

    def _run_threaded(self) -> None:
        depth = 1 if self.live else QUEUE_DEPTH
        frames: queue.Queue = queue.Queue(depth)
        results: queue.Queue = queue.Queue(depth)

        def read() -> None:
            for frame in self._frames():
                if self.live:
                    self._replace_oldest(frames, frame)
                elif not self._put(frames, frame, lambda: not self.stop_event.is_set()):
                    return
            self._put(frames, _END, lambda: not self.stop_event.is_set())

        def write() -> None:
            while (item := results.get()) is not _END:
                self.publish(item)

        reader, writer = _Stage("edgevision-read", read), _Stage("edgevision-publish", write)
        reader.start()
        writer.start()
        try:
            while not self.stop_event.is_set() and writer.is_alive():
                try:
                    frame = frames.get(timeout=0.1)
                except queue.Empty:
                    if not reader.is_alive() and frames.empty():
                        break
                    continue
                if frame is _END:
                    break
                if self.live:
                    self._replace_oldest(results, self.infer(frame))
                else:
                    self._put(results, self.infer(frame), writer.is_alive)
        finally:
            # Results already made are still published; then the reader is released.
            self._put(results, _END, writer.is_alive)
            writer.join()
            self.stop_event.set()
            self._close_sinks()  # every result is out: finalize before waiting on a source that may hang
            self._drain(frames)
            reader.join(timeout=5)
        for stage in (reader, writer):
            if stage.error is not None:
                raise stage.error

    @staticmethod
    def _put(q: queue.Queue, item: object, keep_waiting: Callable[[], bool]) -> bool:
        """Blocking put that gives up (returning False) once ``keep_waiting()`` turns false."""
        while True:
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                if not keep_waiting():
                    return False

    def _replace_oldest(self, q: queue.Queue, item: object) -> None:
        """Put without waiting: a full queue loses its oldest item (counted as dropped)."""
        while True:
            try:
                q.put_nowait(item)
                return
            except queue.Full:
                try:
                    q.get_nowait()
                    self.stats.dropped += 1
                except queue.Empty:
                    pass

    @staticmethod
    def _drain(q: queue.Queue) -> None:
        try:
            while True:
                q.get_nowait()
        except queue.Empty:
            pass

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        """Sinks first: they hold the user's data (a recording's index), and a stream hung in a
        read can keep the source from closing for seconds."""
        self._close_sinks()
        self.source.close()

    def _close_sinks(self) -> None:
        if self._sinks_closed:
            return
        self._sinks_closed = True
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:  # one sink failing to close must not lose the others' data
                log.exception("closing %s failed", type(sink).__name__)
