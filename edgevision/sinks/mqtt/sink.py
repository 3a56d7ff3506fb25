"""The MQTT sink: per-frame detections, tracked-object events, counts, stats and commands.

Topics (under ``<prefix>``, see docs/mqtt.md): ``available``, ``<camera>/detections``,
``events``, ``<camera>/<label>``, ``stats``, ``<camera>/detect/set`` and ``/state``, plus Home
Assistant discovery. :meth:`MqttSink.publish` only computes and queues; the network thread in
:mod:`edgevision.sinks.mqtt.connection` does all the sending.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter

import numpy as np

from edgevision.core import Detections, FrameResult, ModelResult
from edgevision.sinks.homeassistant import ALL, discovery_configs
from edgevision.sinks.mqtt.commands import LogOnce, parse_on_off, preview
from edgevision.sinks.mqtt.connection import MqttConnection
from edgevision.sinks.mqtt.outbox import Message
from edgevision.sinks.mqtt.settings import MqttSettings
from edgevision.sinks.mqtt.stats import StatsMeter
from edgevision.sinks.mqtt.topics import Topics
from edgevision.tracking import EventBuilder, IouTracker

log = logging.getLogger(__name__)


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=_json_default)


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class MqttSink:
    """Publishes each frame's results to MQTT without ever waiting on the network.

    Detections that arrive without ``track_ids`` are tracked here (one tracker per camera and
    model), so every detection model gets events whether or not the pipeline tracks.
    """

    needs_image = False
    keeps_frame = False
    needs_payload = True

    def __init__(
        self, settings: MqttSettings, cameras: list[str], labels: list[str], *, own_events: bool = True
    ) -> None:
        """``own_events=False`` when an :class:`~edgevision.tracking.hub.EventHub` feeds
        :meth:`send_event`, so that every output shares one event stream."""
        self.settings = settings
        self.own_events = own_events
        self.topics = Topics(settings.prefix)
        self._cameras = list(dict.fromkeys(cameras))
        self._labels = list(dict.fromkeys(labels))
        self._detect = {camera: True for camera in self._cameras}
        self._counts: dict[str, dict[str, int]] = {}
        self._trackers: dict[tuple[str, str], IouTracker] = {}
        self._builders: dict[tuple[str, str], EventBuilder] = {}
        self._last_detections: dict[str, float] = {}
        self._stats = StatsMeter()
        self._extra_stats: dict = {}
        self._lock = threading.Lock()
        self._bad_input = LogOnce()
        self._closed = False
        subscriptions = [self.topics.detect_set_filter]
        if settings.discovery_prefix:
            subscriptions.append(f"{settings.discovery_prefix}/status")
        self._connection = MqttConnection(
            settings,
            will=Message(self.topics.available, "offline", 1, True),
            subscriptions=subscriptions,
            on_message=self._on_message,
            connect_messages=self._state_messages,
        )

    # ---- the frame loop's side -------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; raises EdgevisionError at once for a refused login."""
        self._connection.start()

    def publish(self, frame_result: FrameResult, payload: dict) -> None:
        """Queue this frame's detections, events and counts; raises if the broker refused us."""
        self._connection.raise_if_failed()
        frame = frame_result.frame
        camera = frame.camera
        self._add_camera(camera)
        self._stats.add(frame_result)
        if self._detections_due(camera, frame.timestamp):
            self._connection.send(Message(self.topics.detections(camera), _dumps(payload)))
        enabled = self.detect_enabled(camera)
        counts: Counter[str] = Counter()
        for result in frame_result.results:
            if isinstance(result.prediction, Detections):
                counts += self._track_and_send_events(frame_result, result, enabled)
        self._send_counts(camera, counts)
        if self._stats.due(self.settings.stats_interval_s):
            self.publish_stats(self._extra_stats)

    def handle(self, result: FrameResult, payload: dict, annotated: np.ndarray | None) -> None:
        """The pipeline's sink interface."""
        self.publish(result, payload)

    def publish_stats(self, stats: dict) -> None:
        """Publish ``stats`` (e.g. source counters) with fps, inference time, uptime and MQTT's own."""
        self._connection.raise_if_failed()
        self._extra_stats = dict(stats)
        own = self._stats.snapshot()
        cameras = {  # per camera: the caller's counters (e.g. reconnects) and ours side by side
            name: {**self._extra_stats.get("cameras", {}).get(name, {}), **own["cameras"].get(name, {})}
            for name in {**self._extra_stats.get("cameras", {}), **own["cameras"]}
        }
        body = {**self._extra_stats, **own, "cameras": cameras, "mqtt": self._connection.stats()}
        self._connection.send(Message(self.topics.stats, _dumps(body)))

    def detect_enabled(self, camera: str) -> bool:
        """False after ``OFF`` on ``<prefix>/<camera>/detect/set``: skip detection for it."""
        with self._lock:
            return self._detect.get(camera, True)

    def stats(self) -> dict:
        return self._connection.stats()

    def close(self) -> None:
        """End open events, publish ``offline`` and disconnect (no last will on a clean stop)."""
        if self._closed:
            return
        self._closed = True
        for builder in self._builders.values():
            self._send_events(builder.finish())
        self._connection.close(final=Message(self.topics.available, "offline", 1, True))

    def _add_camera(self, camera: str) -> None:
        if camera in self._detect:
            return
        with self._lock:
            self._cameras.append(camera)
            self._detect[camera] = True
        self._connection.resend_state()

    def _detections_due(self, camera: str, timestamp: float) -> bool:
        if self.settings.rate_hz is None:
            return True
        last = self._last_detections.get(camera)
        if last is not None and timestamp - last < 1.0 / self.settings.rate_hz:
            return False
        self._last_detections[camera] = timestamp
        return True

    def _track_and_send_events(
        self, frame_result: FrameResult, result: ModelResult, enabled: bool
    ) -> Counter[str]:
        """Events for one model's detections; returns the count of tracked objects per label."""
        frame = frame_result.frame
        key = (frame.camera, result.model)
        if not self.own_events:
            detections = result.prediction
            if detections.track_ids is None or not enabled:  # type: ignore[union-attr]
                return Counter()
            tracked = detections.class_ids[detections.track_ids >= 0]  # type: ignore[union-attr]
            return Counter(result.labels[int(c)] for c in tracked)
        builder = self._builders.get(key)
        if builder is None:
            builder = self._builders[key] = EventBuilder(frame.camera, result.labels)
        if not enabled:
            self._send_events(builder.finish())
            return Counter()
        detections: Detections = result.prediction  # type: ignore[assignment]
        ended_ids: list[int] = []
        if detections.track_ids is None:
            tracker = self._trackers.setdefault(key, IouTracker())
            detections, ended = tracker.update(detections, frame.timestamp)
            ended_ids = [t.id for t in ended]
        events = builder.update(detections, frame.timestamp, (frame.width, frame.height), ended_ids)
        self._send_events(events)
        tracked = detections.class_ids[detections.track_ids >= 0]
        return Counter(result.labels[int(c)] for c in tracked)

    def send_event(self, event: dict) -> None:
        """Queue one event (QoS 1, kept across broker outages up to the queue bound)."""
        self._send_events([event])

    def _send_events(self, events: list[dict]) -> None:
        for event in events:
            self._connection.send_event(Message(self.topics.events, _dumps(event), 1, False))

    def _send_counts(self, camera: str, counts: Counter[str]) -> None:
        """Retained counts, sent only when they change (and all again on every connect)."""
        changed = []
        with self._lock:
            new_labels = [label for label in counts if label not in self._labels]
            self._labels.extend(new_labels)
            current = self._counts.setdefault(camera, {})
            for label in [*self._labels, ALL]:
                value = sum(counts.values()) if label == ALL else counts.get(label, 0)
                if current.get(label) != value:
                    current[label] = value
                    changed.append((label, value))
        for label, value in changed:
            self._connection.send(Message(self.topics.count(camera, label), str(value), 0, True))
        if new_labels:
            self._connection.resend_state()  # discovery for the new labels

    # ---- the network thread's side ---------------------------------------------------------

    def _state_messages(self) -> list[Message]:
        """Availability first, then discovery, detect switches and counts, all retained."""
        with self._lock:
            cameras = list(self._cameras)
            labels = list(self._labels)
            detect = dict(self._detect)
            counts = {camera: dict(c) for camera, c in self._counts.items()}
        messages = [Message(self.topics.available, "online", 1, True)]
        if self.settings.discovery_prefix:
            configs = discovery_configs(
                self.topics, self.settings.discovery_prefix, self.settings.client_id, cameras, labels
            )
            messages += [Message(topic, _dumps(config), 1, True) for topic, config in configs]
        for camera in cameras:
            messages.append(
                Message(self.topics.detect_state(camera), "ON" if detect[camera] else "OFF", 1, True)
            )
            camera_counts = counts.get(camera, {})
            for label in [*labels, ALL]:
                messages.append(
                    Message(self.topics.count(camera, label), str(camera_counts.get(label, 0)), 1, True)
                )
        return messages

    def _on_message(self, topic: str, payload: bytes) -> None:
        discovery = self.settings.discovery_prefix
        if discovery and topic == f"{discovery}/status":
            if payload.strip().lower() == b"online":
                self._connection.resend_state()  # Home Assistant restarted: re-announce
            return
        with self._lock:
            camera = next((c for c in self._cameras if self.topics.detect_set(c) == topic), None)
        if camera is None:
            self._bad_input.warning(
                ("camera", topic), "MQTT: ignoring command on %s: no such camera here", topic
            )
            return
        enabled = parse_on_off(payload)
        if enabled is None:
            self._bad_input.warning(
                ("payload", topic), "MQTT: ignoring %s on %s: expected ON or OFF", preview(payload), topic
            )
            return
        with self._lock:
            self._detect[camera] = enabled
        state = "ON" if enabled else "OFF"
        log.info("MQTT: detection on camera %s switched %s", camera, state)
        self._connection.send(Message(self.topics.detect_state(camera), state, 0, True))
