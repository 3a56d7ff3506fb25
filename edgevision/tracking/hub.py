"""One event stream for every output: tracked detections in, Frigate-shaped events out.

MQTT publishes the events and the HTTP view lists them and keeps their snapshots; both get
the very same events from here, so an object makes one event whichever outputs are on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from edgevision.core import Detections, FrameResult
from edgevision.tracking.events import EventBuilder

log = logging.getLogger(__name__)

EventListener = Callable[[dict], None]


class EventHub:
    """A sink that turns tracked detections (``TrackFrames`` runs before it) into events.

    Listeners are called in order for every event; the frame's other sinks have already seen
    that frame when a listener runs, if the hub is the last sink.
    """

    needs_image = False
    keeps_frame = False
    needs_payload = False

    def __init__(self, listeners: list[EventListener]) -> None:
        self.listeners = listeners
        self._builders: dict[tuple[str, str], EventBuilder] = {}
        self._lock = threading.Lock()

    def handle(self, result: FrameResult, payload: dict | None, annotated: np.ndarray | None) -> None:
        frame = result.frame
        for model_result in result.results:
            detections = model_result.prediction
            if not isinstance(detections, Detections) or detections.track_ids is None:
                continue
            key = (frame.camera, model_result.model)
            with self._lock:
                builder = self._builders.get(key)
                if builder is None:
                    builder = self._builders[key] = EventBuilder(frame.camera, model_result.labels)
            self._emit(builder.update(detections, frame.timestamp, (frame.width, frame.height)))

    def finish_camera(self, camera: str) -> None:
        """End the open events of one camera (its detection was switched off, or it stopped)."""
        with self._lock:
            builders = [b for (cam, _), b in self._builders.items() if cam == camera]
        for builder in builders:
            self._emit(builder.finish())

    def close(self) -> None:
        with self._lock:
            builders = list(self._builders.values())
        for builder in builders:
            self._emit(builder.finish())

    def _emit(self, events: list[dict]) -> None:
        for event in events:
            for listener in self.listeners:
                try:
                    listener(event)
                except Exception:  # one output failing must not lose the event for the others
                    log.exception("event listener %r failed", listener)
