"""Tracked detections to events shaped like Frigate's ``frigate/events`` messages.

One object makes one event: ``new`` when its track is confirmed, ``update`` when it changes in a
way a consumer cares about (better score, moved), and one ``end`` after it is gone. Each message
carries the object as it was last published (``before``) and as it is now (``after``), with
Frigate's field names, so automations written for Frigate work unchanged.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from edgevision.core import Detections, Labels
from edgevision.tracking.iou_tracker import DEFAULT_MAX_AGE, iou_matrix

_ID_CHARS = string.ascii_lowercase + string.digits


@dataclass
class _Object:
    event_id: str
    label: str
    start_time: float
    frame_time: float
    snapshot_time: float
    score: float
    top_score: float
    box: np.ndarray
    anchor_box: np.ndarray
    position_changes: int = 0
    missed: int = 0
    published_at: float = 0.0
    dirty: bool = False
    before: dict | None = None


class EventBuilder:
    """Events for one camera and one model, from detections that carry ``track_ids``.

    An object ends when the tracker says so (``ended_ids``) or when its id has been missing for
    more than ``max_missed`` frames, the same rule as the tracker's ``max_age``, so the builder
    also works on detections tracked elsewhere. Updates are sent at most every
    ``update_interval_s`` seconds of frame time per object, so a 30 fps camera does not fill a
    QoS 1 queue with near-identical messages.
    """

    def __init__(
        self,
        camera: str,
        labels: Labels,
        max_missed: int = DEFAULT_MAX_AGE,
        update_interval_s: float = 1.0,
        move_iou: float = 0.8,
    ) -> None:
        self.camera = camera
        self.labels = labels
        self.max_missed = max_missed
        self.update_interval_s = update_interval_s
        self.move_iou = move_iou
        self._objects: dict[int, _Object] = {}
        self._region = [0, 0, 0, 0]

    @property
    def active(self) -> int:
        """How many objects have an open event."""
        return len(self._objects)

    def update(
        self,
        detections: Detections,
        frame_time: float,
        frame_size: tuple[int, int],
        ended_ids: Iterable[int] = (),
    ) -> list[dict]:
        """The events this frame makes; unconfirmed detections (``track_id < 0``) are ignored."""
        self._region = [0, 0, int(frame_size[0]), int(frame_size[1])]
        events = []
        seen = set()
        track_ids = detections.track_ids if detections.track_ids is not None else np.zeros(0, int)
        for i in np.flatnonzero(track_ids >= 0):
            track_id = int(track_ids[i])
            seen.add(track_id)
            box = detections.xyxy[i].astype(np.float32)
            score = float(detections.scores[i])
            obj = self._objects.get(track_id)
            if obj is None:
                label = self.labels[int(detections.class_ids[i])]
                obj = self._start(label, box, score, frame_time)
                self._objects[track_id] = obj
                events.append(self._message("new", obj, None))
                continue
            self._observe(obj, box, score, frame_time)
            if obj.dirty and frame_time - obj.published_at >= self.update_interval_s:
                events.append(self._message("update", obj, None))
        ended = set(ended_ids)
        for track_id, obj in list(self._objects.items()):
            if track_id not in seen:
                obj.missed += 1
            if track_id in ended or obj.missed > self.max_missed:
                events.append(self._message("end", obj, obj.frame_time))
                del self._objects[track_id]
        return events

    def finish(self) -> list[dict]:
        """End every open event now: at shutdown, or when detection is switched off."""
        events = [self._message("end", obj, obj.frame_time) for obj in self._objects.values()]
        self._objects.clear()
        return events

    def _start(self, label: str, box: np.ndarray, score: float, frame_time: float) -> _Object:
        suffix = "".join(random.choices(_ID_CHARS, k=6))
        return _Object(
            event_id=f"{frame_time:.6f}-{suffix}",
            label=label,
            start_time=frame_time,
            frame_time=frame_time,
            snapshot_time=frame_time,
            score=score,
            top_score=score,
            box=box,
            anchor_box=box,
        )

    def _observe(self, obj: _Object, box: np.ndarray, score: float, frame_time: float) -> None:
        obj.box, obj.score, obj.frame_time, obj.missed = box, score, frame_time, 0
        if score > obj.top_score:
            obj.top_score, obj.snapshot_time, obj.dirty = score, frame_time, True
        if iou_matrix(box[None], obj.anchor_box[None])[0, 0] < self.move_iou:
            obj.anchor_box = box
            obj.position_changes += 1
            obj.dirty = True

    def _message(self, kind: str, obj: _Object, end_time: float | None) -> dict:
        after = self._snapshot(obj, end_time)
        before = obj.before if obj.before is not None else after
        obj.before, obj.published_at, obj.dirty = after, obj.frame_time, False
        return {"type": kind, "before": before, "after": after}

    def _snapshot(self, obj: _Object, end_time: float | None) -> dict:
        x1, y1, x2, y2 = (int(round(v)) for v in obj.box.tolist())
        width, height = max(x2 - x1, 0), max(y2 - y1, 0)
        return {
            "id": obj.event_id,
            "camera": self.camera,
            "frame_time": round(obj.frame_time, 6),
            "snapshot_time": round(obj.snapshot_time, 6),
            "label": obj.label,
            "sub_label": None,
            "top_score": round(obj.top_score, 4),
            "false_positive": False,
            "start_time": round(obj.start_time, 6),
            "end_time": None if end_time is None else round(end_time, 6),
            "score": round(obj.score, 4),
            "box": [x1, y1, x2, y2],
            "area": width * height,
            "ratio": round(width / height, 4) if height else 0.0,
            "region": list(self._region),
            "active": end_time is None,
            "stationary": False,
            "motionless_count": 0,
            "position_changes": obj.position_changes,
            "current_zones": [],
            "entered_zones": [],
            "has_clip": False,
            "has_snapshot": False,
            "attributes": {},
            "current_attributes": [],
        }
