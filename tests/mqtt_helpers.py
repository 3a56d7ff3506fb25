"""Frames with a person walking through, and sink settings pointed at a test broker."""

from __future__ import annotations

import time

import numpy as np

from edgevision.core import Detections, Frame, FrameResult, Labels, ModelResult
from edgevision.sinks.mqtt import MqttSettings
from edgevision.sinks.payload import frame_payload

LABELS = Labels.from_list(["person", "car", "dog"])
WIDTH, HEIGHT = 320, 240
IMAGE = np.zeros((HEIGHT, WIDTH, 3), np.uint8)


def settings(port: int, scheme: str = "mqtt", prefix: str = "ev", **options: object) -> MqttSettings:
    url = options.pop("url", None) or f"{scheme}://127.0.0.1:{port}/{prefix}"
    options.setdefault("client_id", f"edgevision-test-{port}")
    options.setdefault("reconnect_min_s", 0.1)
    options.setdefault("reconnect_max_s", 0.4)
    return MqttSettings.from_url(url, **options)


def detections(boxes: list[tuple], track_ids: list[int] | None = None) -> Detections:
    """Detections from (x1, y1, x2, y2, score, class_id) rows."""
    if not boxes:
        d = Detections.empty()
        return d if track_ids is None else d.with_track_ids(np.zeros(0, np.int64))
    rows = np.array(boxes, np.float32)
    ids = None if track_ids is None else np.array(track_ids, np.int64)
    return Detections(rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int32), track_ids=ids)


def frame_result(index: int, dets: Detections, camera: str = "porch", timestamp: float | None = None) -> FrameResult:
    frame = Frame(IMAGE, index, time.time() if timestamp is None else timestamp, camera)
    return FrameResult(frame, (ModelResult("detector", dets, LABELS, {"inference": 4.0}),), {"inference": 4.0})


def walk_through(frames_before: int = 3, frames_visible: int = 20, frames_after: int = 14) -> list[Detections]:
    """A person enters from the left, walks 8 px a frame, then the frame stays empty."""
    visible = [detections([(10 + 8 * i, 60, 70 + 8 * i, 180, 0.6 + 0.015 * i, 0)]) for i in range(frames_visible)]
    return [detections([])] * frames_before + visible + [detections([])] * frames_after


def feed(sink, frames: list[Detections], camera: str = "porch", start_index: int = 0, fps: float = 10.0) -> None:
    """Publish frames with timestamps 1/fps apart, as fast as the sink takes them."""
    t0 = time.time()
    for i, dets in enumerate(frames):
        result = frame_result(start_index + i, dets, camera, t0 + i / fps)
        sink.publish(result, frame_payload(result))
