"""What the pipeline pushes and the HTTP handlers read: latest frames, stats and events.

The pipeline thread only stores references and wakes waiting clients; it never encodes a
JPEG and never waits for a client. Handlers encode lazily, at most once per frame and kind
(shared by every client), so nobody watching costs nothing and ten watchers cost one encode.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, OrderedDict, deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from edgevision.core import Detections, Frame, FrameResult

WINDOW = 30  # frames averaged for fps and timings
HISTORY = 8  # recent raw frames kept per camera, to find an event's best frame
MAX_EVENTS = 50


@dataclass
class _Camera:
    seq: int = 0
    frame: Frame | None = None
    annotated: np.ndarray | None = None
    payload: dict | None = None
    frames_total: int = 0
    arrivals: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    timings: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    counts: dict = field(default_factory=dict)  # (model, label) -> objects in the latest frame
    detections_total: Counter = field(default_factory=Counter)  # (model, label) -> count
    history: deque = field(default_factory=deque)
    jpegs: dict = field(default_factory=dict)  # "raw" | "annotated" -> (seq, bytes)
    encode_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def fps(self) -> float:
        if len(self.arrivals) < 2:
            return 0.0
        span = self.arrivals[-1] - self.arrivals[0]
        return (len(self.arrivals) - 1) / span if span > 0 else 0.0

    def mean_timings(self) -> dict[str, float]:
        """Mean ms per timing key over the window; model stages are ``model/stage``."""
        sums: Counter = Counter()
        for timings in self.timings:
            sums.update(timings)
        n = max(len(self.timings), 1)
        return {key: round(total / n, 3) for key, total in sorted(sums.items())}


class LiveState:
    """Thread-safe shared state; ``linger_s`` keeps drawing on a little after a snapshot request.

    ``history`` recent frames per camera are kept for event snapshots (0: none, saving memory).
    """

    def __init__(self, jpeg_quality: int = 80, linger_s: float = 5.0, history: int = HISTORY) -> None:
        self.jpeg_quality = jpeg_quality
        self.linger_s = linger_s
        self._history = history
        self.started = time.monotonic()
        self.closed = threading.Event()
        self._cond = threading.Condition()
        self._cameras: OrderedDict[str, _Camera] = OrderedDict()
        self._events: OrderedDict[str, dict] = OrderedDict()  # id -> latest message, newest last
        self._event_counts: Counter = Counter()  # (camera, label, type)
        self._pipeline: dict = {}
        self._stream_clients = 0
        self._last_request = float("-inf")
        self.jpeg_encodes = 0

    # --- written by the pipeline thread -------------------------------------------------------

    def push(self, result: FrameResult, payload: dict, annotated: np.ndarray | None) -> None:
        frame = result.frame
        timings = dict(result.timings_ms)
        counts: Counter = Counter()
        for model in result.results:
            timings.update({f"{model.model}/{k}": v for k, v in model.timings_ms.items()})
            if isinstance(model.prediction, Detections):
                for class_id in model.prediction.class_ids:
                    counts[(model.model, model.labels[class_id])] += 1
        with self._cond:
            camera = self._cameras.get(frame.camera)
            if camera is None:
                camera = self._cameras[frame.camera] = _Camera(history=deque(maxlen=self._history))
            camera.seq += 1
            camera.frame, camera.annotated, camera.payload = frame, annotated, payload
            camera.frames_total += 1
            camera.arrivals.append(time.monotonic())
            camera.timings.append(timings)
            camera.counts = dict(counts)
            camera.detections_total.update(counts)
            camera.history.append(frame)
            self._cond.notify_all()

    def update_pipeline(self, stats: dict) -> None:
        with self._cond:
            self._pipeline.update(stats)

    def add_event(self, event: dict, has_snapshot: bool) -> None:
        after = event.get("after") or {}
        event_id = str(after.get("id", ""))
        if has_snapshot:
            event = {**event, "after": {**after, "has_snapshot": True}}
        with self._cond:
            self._events.pop(event_id, None)
            self._events[event_id] = event
            while len(self._events) > MAX_EVENTS:
                self._events.popitem(last=False)
            self._event_counts[(after.get("camera", ""), after.get("label", ""), event.get("type", ""))] += 1

    def frame_at(self, camera: str, timestamp: float) -> Frame | None:
        """The recent frame of ``camera`` taken at ``timestamp`` (to 1 µs), else None."""
        with self._cond:
            state = self._cameras.get(camera)
            for frame in reversed(state.history if state else ()):
                if abs(frame.timestamp - timestamp) < 1e-6:
                    return frame
        return None

    def close(self) -> None:
        self.closed.set()
        with self._cond:
            self._cond.notify_all()

    # --- read by the HTTP handlers ------------------------------------------------------------

    @property
    def watching(self) -> bool:
        """Someone streams, or asked for a snapshot within ``linger_s``: worth drawing frames."""
        return self._stream_clients > 0 or time.monotonic() - self._last_request < self.linger_s

    def has_camera(self, camera: str) -> bool:
        with self._cond:
            return camera in self._cameras

    def camera_names(self) -> list[str]:
        with self._cond:
            return list(self._cameras)

    def client_opened(self) -> None:
        with self._cond:
            self._stream_clients += 1

    def client_closed(self) -> None:
        with self._cond:
            self._stream_clients -= 1

    def touch(self) -> None:
        """A snapshot was asked for: make the pipeline draw the next frames."""
        self._last_request = time.monotonic()

    def wait_frame(self, camera: str, after_seq: int, annotated: bool, timeout: float) -> int | None:
        """Block until ``camera`` has a frame newer than ``after_seq`` (drawn, if asked); its seq."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self.closed.is_set():
                state = self._cameras.get(camera)
                if state and state.seq > after_seq and (state.annotated is not None or not annotated):
                    return state.seq
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
        return None

    def jpeg(self, camera: str, annotated: bool) -> tuple[int, Frame, bytes] | None:
        """The latest frame as JPEG, encoded once per frame and kind however many clients ask."""
        kind = "annotated" if annotated else "raw"
        with self._cond:
            state = self._cameras.get(camera)
            if state is None or state.frame is None:
                return None
            seq, frame = state.seq, state.frame
            image = state.annotated if annotated else frame.image
        if image is None:
            return None
        with state.encode_lock:
            cached = state.jpegs.get(kind)
            if cached is not None and cached[0] == seq:
                return seq, frame, cached[1]
            data = encode_jpeg(image, self.jpeg_quality)
            state.jpegs[kind] = (seq, data)
            self.jpeg_encodes += 1
        return seq, frame, data

    def latest_payload(self, camera: str) -> dict | None:
        with self._cond:
            state = self._cameras.get(camera)
            return state.payload if state else None

    def events(self, limit: int = MAX_EVENTS) -> list[dict]:
        with self._cond:
            return list(reversed(self._events.values()))[:limit]

    def stats(self) -> dict:
        """The JSON of ``/api/stats`` and the page: per camera fps, timings, counts, latest result."""
        with self._cond:
            cameras = {}
            for name, state in self._cameras.items():
                labels: Counter = Counter()
                for (_, label), n in state.counts.items():
                    labels[label] += n
                timings = state.mean_timings()
                cameras[name] = {
                    "frames": state.frames_total,
                    "fps": round(state.fps, 2),
                    "inference_ms": timings.get("inference", 0.0),
                    "timings_ms": timings,
                    "counts": dict(sorted(labels.items())),
                    "latest": state.payload,
                }
            return {
                "uptime_s": round(time.monotonic() - self.started, 3),
                "cameras": cameras,
                "pipeline": dict(self._pipeline),
                "http": {"stream_clients": self._stream_clients, "jpeg_encodes": self.jpeg_encodes},
            }

    def metric_samples(self) -> dict:
        """Raw numbers for ``/metrics``, copied under the lock."""
        with self._cond:
            return {
                "cameras": {
                    name: {
                        "frames": state.frames_total,
                        "fps": state.fps,
                        "timings": state.mean_timings(),
                        "counts": dict(state.counts),
                        "detections_total": dict(state.detections_total),
                    }
                    for name, state in self._cameras.items()
                },
                "pipeline": dict(self._pipeline),
                "events": dict(self._event_counts),
                "stream_clients": self._stream_clients,
                "jpeg_encodes": self.jpeg_encodes,
            }


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"cannot encode a {image.shape} {image.dtype} image as JPEG")
    return data.tobytes()
