"""Holding areas for messages on their way to the broker, each with a hard size bound.

QoS 1 events wait in order while the broker is away, up to ``size``; then the oldest go first,
counted, because a device that buffers without bound runs out of memory on a long outage.
QoS 0 messages (detections, counts, stats) use the same kind of queue, but only while connected:
it absorbs a slow network for a moment, and what is sent while offline is dropped and counted.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    qos: int = 0
    retain: bool = False


class Outbox:
    """A bounded FIFO that drops its oldest message when full, counting each drop."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.dropped = 0
        self._queue: deque[Message] = deque()
        self._lock = threading.Lock()

    def put(self, message: Message) -> bool:
        """Queue ``message``; True when that pushed out the oldest one."""
        with self._lock:
            self._queue.append(message)
            if len(self._queue) > self.size:
                self._queue.popleft()
                self.dropped += 1
                return True
            return False

    def count_drop(self) -> None:
        with self._lock:
            self.dropped += 1

    def clear(self) -> None:
        """Drop everything queued, counting it."""
        with self._lock:
            self.dropped += len(self._queue)
            self._queue.clear()

    def pop(self) -> Message | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def __len__(self) -> int:
        return len(self._queue)
