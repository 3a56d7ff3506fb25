"""JSON Lines on stdout: one object per processed frame, flushed so pipes see it at once."""

from __future__ import annotations

import json
import sys
import threading
from typing import TextIO

import numpy as np

from edgevision.core import FrameResult


class JsonLinesSink:
    needs_image = False
    keeps_frame = False
    needs_payload = True

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()  # cameras share stdout: whole lines only

    def handle(self, result: FrameResult, payload: dict, annotated: np.ndarray | None) -> None:
        line = json.dumps(payload, separators=(",", ":")) + "\n"
        with self._lock:
            self._stream.write(line)
            self._stream.flush()

    def close(self) -> None:
        self._stream.flush()
