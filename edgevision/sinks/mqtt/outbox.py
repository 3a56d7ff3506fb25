"""Holding areas for messages on their way to the broker, each with a hard size bound.

QoS 1 events wait in order while the broker is away, up to ``size``; then the oldest go first,
counted, because a device that buffers without bound runs out of memory on a long outage.
QoS 0 messages (detections, counts, stats) keep only the newest per topic: a stale count or
frame is worth nothing once a newer one exists.
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

    def pop(self) -> Message | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def __len__(self) -> int:
        return len(self._queue)


class LatestByTopic:
    """The newest QoS 0 message per topic; replacing an unsent one counts as a drop."""

    def __init__(self) -> None:
        self.dropped = 0
        self._messages: dict[str, Message] = {}
        self._lock = threading.Lock()

    def put(self, message: Message) -> None:
        with self._lock:
            if self._messages.pop(message.topic, None) is not None:
                self.dropped += 1
            self._messages[message.topic] = message

    def count_drop(self) -> None:
        with self._lock:
            self.dropped += 1

    def take_all(self) -> list[Message]:
        with self._lock:
            messages = list(self._messages.values())
            self._messages.clear()
            return messages

    def discard_all(self) -> None:
        with self._lock:
            self.dropped += len(self._messages)
            self._messages.clear()
