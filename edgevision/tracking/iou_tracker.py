"""A small IoU tracker: gives detections ids that persist across frames.

Why IoU and not SORT/ByteTrack: at the few frames per second a Raspberry Pi manages, boxes of
one object overlap from frame to frame, and matching on overlap (plus a constant-velocity guess
for frames where the object was missed) needs only numpy, no Kalman filter and no scipy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgevision.core import Detections

UNCONFIRMED = -1
DEFAULT_MAX_AGE = 10


@dataclass
class Track:
    """One object followed across frames; ``id`` stays ``-1`` until it has ``min_hits`` hits."""

    class_id: int
    box: np.ndarray
    score: float
    start_time: float
    last_seen: float
    id: int = UNCONFIRMED
    top_score: float = 0.0
    hits: int = 1
    misses: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))

    def __post_init__(self) -> None:
        self.top_score = max(self.top_score, self.score)

    @property
    def confirmed(self) -> bool:
        return self.id != UNCONFIRMED

    def predicted_box(self) -> np.ndarray:
        """Where the box should be now, moving at its recent speed for each missed frame."""
        return self.box + self.velocity * (self.misses + 1)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of ``xyxy`` boxes: shape ``(len(a), len(b))``."""
    a = a.astype(np.float32, copy=False)[:, None, :]
    b = b.astype(np.float32, copy=False)[None, :, :]
    inter_w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    inter_h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = inter_w * inter_h
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def greedy_match(scores: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Pairs (row, col) taken best score first, each row and column at most once."""
    rows, cols = np.nonzero(scores >= threshold)
    order = np.argsort(-scores[rows, cols], kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs = []
    for r, c in zip(rows[order].tolist(), cols[order].tolist()):
        if r not in used_rows and c not in used_cols:
            used_rows.add(r)
            used_cols.add(c)
            pairs.append((r, c))
    return pairs


class IouTracker:
    """Matches each frame's detections to live tracks of the same class by box overlap.

    A track is confirmed (gets an id) after ``min_hits`` consecutive matches, which keeps one-frame
    false positives from becoming objects; it ends after ``max_age`` frames in a row without a
    match, which keeps a briefly missed object from becoming a second one.
    """

    def __init__(
        self, iou_threshold: float = 0.3, min_hits: int = 3, max_age: int = DEFAULT_MAX_AGE
    ) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if min_hits < 1:
            raise ValueError(f"min_hits must be >= 1, got {min_hits}")
        if max_age < 0:
            raise ValueError(f"max_age must be >= 0, got {max_age}")
        self.iou_threshold = iou_threshold
        self.min_hits = min_hits
        self.max_age = max_age
        self._tracks: list[Track] = []
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        """The confirmed tracks still alive (matched now or missed for at most ``max_age`` frames)."""
        return [t for t in self._tracks if t.confirmed]

    def update(self, detections: Detections, timestamp: float) -> tuple[Detections, list[Track]]:
        """Detections with ``track_ids`` filled (``-1`` while unconfirmed), and the tracks that ended."""
        pairs = self._match(detections)
        track_ids = np.full(len(detections), UNCONFIRMED, np.int64)
        matched_tracks = set()
        for t, d in pairs:
            track = self._tracks[t]
            self._hit(track, detections, d, timestamp)
            matched_tracks.add(t)
            track_ids[d] = track.id
        for t, track in enumerate(self._tracks):
            if t not in matched_tracks:
                track.misses += 1
        matched_dets = {d for _, d in pairs}
        new_tracks = []
        for d in range(len(detections)):
            if d not in matched_dets:
                track = self._new_track(detections, d, timestamp)
                new_tracks.append(track)
                track_ids[d] = track.id
        ended = [t for t in self._tracks if t.confirmed and t.misses > self.max_age]
        # Unconfirmed tracks need consecutive hits: one miss and they were noise.
        self._tracks = [
            t for t in self._tracks if t.misses <= (self.max_age if t.confirmed else 0)
        ] + new_tracks
        return detections.with_track_ids(track_ids), ended

    def _match(self, detections: Detections) -> list[tuple[int, int]]:
        if not self._tracks or not len(detections):
            return []
        predicted = np.stack([t.predicted_box() for t in self._tracks])
        iou = iou_matrix(predicted, detections.xyxy)
        track_classes = np.array([t.class_id for t in self._tracks])
        iou[track_classes[:, None] != detections.class_ids[None, :]] = 0.0
        return greedy_match(iou, self.iou_threshold)

    def _hit(self, track: Track, detections: Detections, d: int, timestamp: float) -> None:
        box = detections.xyxy[d].astype(np.float32)
        step = (box - track.box) / (track.misses + 1)
        track.velocity = 0.5 * track.velocity + 0.5 * step
        track.box = box
        track.score = float(detections.scores[d])
        track.top_score = max(track.top_score, track.score)
        track.last_seen = timestamp
        track.misses = 0
        track.hits += 1
        self._confirm_if_ready(track)

    def _new_track(self, detections: Detections, d: int, timestamp: float) -> Track:
        track = Track(
            class_id=int(detections.class_ids[d]),
            box=detections.xyxy[d].astype(np.float32),
            score=float(detections.scores[d]),
            start_time=timestamp,
            last_seen=timestamp,
        )
        self._confirm_if_ready(track)
        return track

    def _confirm_if_ready(self, track: Track) -> None:
        if not track.confirmed and track.hits >= self.min_hits:
            track.id = self._next_id
            self._next_id += 1
