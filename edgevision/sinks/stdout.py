"""JSON Lines on stdout: one object per processed frame, flushed so pipes see it at once."""

from __future__ import annotations

import json
import sys
from typing import TextIO

import numpy as np

from edgevision.core import FrameResult


class JsonLinesSink:
    needs_image = False

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout

    def handle(self, result: FrameResult, payload: dict, annotated: np.ndarray | None) -> None:
        self._stream.write(json.dumps(payload, separators=(",", ":")) + "\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()
