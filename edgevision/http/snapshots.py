"""Event snapshots: one JPEG per tracked event, in a directory bounded by count and bytes.

Meant for a tmpfs such as ``/run`` or ``/dev/shm`` (SD cards wear out): the oldest snapshots go
first when either bound is reached. Files left by an earlier run are adopted, oldest first, so a
restarted service still respects the bounds.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

from edgevision.errors import UsageError
from edgevision.http.state import encode_jpeg

log = logging.getLogger(__name__)

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
SUFFIX = ".jpg"


def is_safe_id(event_id: str) -> bool:
    """Event ids become file names: letters, digits, ``.``, ``_`` and ``-`` only, no ``..``."""
    return bool(_SAFE_ID.match(event_id)) and ".." not in event_id


class SnapshotRing:
    def __init__(self, directory: Path, max_count: int = 200, max_bytes: int = 20 * 2**20) -> None:
        if max_count < 1 or max_bytes < 1:
            raise UsageError(f"snapshot limits must be positive, got {max_count} files and {max_bytes} bytes")
        self.directory = Path(directory)
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._sizes: OrderedDict[str, int] = OrderedDict()  # event id -> bytes, oldest first
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the snapshot directory {self.directory}: {exc.strerror}") from exc
        self._adopt()

    @property
    def count(self) -> int:
        return len(self._sizes)

    @property
    def total_bytes(self) -> int:
        return sum(self._sizes.values())

    def save(self, event_id: str, jpeg: bytes) -> None:
        """Write (or replace) the snapshot of ``event_id``, then drop the oldest over the bounds."""
        if not is_safe_id(event_id):
            raise ValueError(f"unsafe event id for a file name: {event_id!r}")
        path = self._path(event_id)
        tmp = path.with_suffix(".tmp")
        with self._lock:
            tmp.write_bytes(jpeg)
            os.replace(tmp, path)  # a reader never sees half a JPEG
            self._sizes.pop(event_id, None)
            self._sizes[event_id] = len(jpeg)
            self._evict()

    def read(self, event_id: str) -> bytes | None:
        if not is_safe_id(event_id):
            return None
        with self._lock:
            if event_id not in self._sizes:
                return None
            try:
                return self._path(event_id).read_bytes()
            except FileNotFoundError:  # removed behind our back (tmpfs cleaned)
                self._sizes.pop(event_id, None)
                return None

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._sizes

    def _path(self, event_id: str) -> Path:
        return self.directory / f"{event_id}{SUFFIX}"

    def _evict(self) -> None:
        total = sum(self._sizes.values())
        while self._sizes and (len(self._sizes) > self.max_count or total > self.max_bytes):
            event_id, size = self._sizes.popitem(last=False)
            total -= size
            self._path(event_id).unlink(missing_ok=True)

    def _adopt(self) -> None:
        files = []
        for path in self.directory.glob(f"*{SUFFIX}"):
            event_id = path.name[: -len(SUFFIX)]
            if path.is_file() and is_safe_id(event_id):
                stat = path.stat()
                files.append((stat.st_mtime, event_id, stat.st_size))
        for _, event_id, size in sorted(files):
            self._sizes[event_id] = size
        with self._lock:
            self._evict()
        if files:
            log.info("kept %d of %d event snapshots found in %s", len(self._sizes), len(files), self.directory)


def render_event_snapshot(image: np.ndarray, box: list[float] | None, caption: str, quality: int) -> bytes:
    """The event's frame as JPEG, with its box and caption when the box belongs to this frame."""
    if box is not None:
        image = image.copy()
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(image, (x1, y1), (x2, y2), (0, 255, 0), 2)
        cv2.putText(image, caption, (x1, max(y1 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 255, 0), 1, cv2.LINE_AA)
    return encode_jpeg(image, quality)
