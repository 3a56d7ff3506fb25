"""What every video source offers the pipeline, whatever the hardware behind it."""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator
from typing import Protocol

import numpy as np

from edgevision.core import Frame


class Grabber(Protocol):
    """One opened device or stream; live sources reconnect by making a new one.

    ``read`` blocks for at most the grabber's read timeout and returns a BGR uint8 image, or
    ``None`` when the stream is lost (the caller then releases it and reconnects).
    """

    def read(self) -> np.ndarray | None: ...

    def release(self) -> None: ...


class Source(abc.ABC):
    """An iterable of :class:`Frame` (BGR uint8) with counters, closed exactly once.

    Files yield every frame in order; live sources yield only the freshest frame and count the
    ones they had to skip in ``frames_dropped``.
    """

    is_live: bool = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.frames_read = 0
        self.frames_dropped = 0
        self.reconnects = 0

    @abc.abstractmethod
    def __iter__(self) -> Iterator[Frame]: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device and stop any background thread; safe to call twice."""

    def stats(self) -> dict[str, int]:
        return {
            "frames_read": self.frames_read,
            "frames_dropped": self.frames_dropped,
            "reconnects": self.reconnects,
        }

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def redact_url(url: str) -> str:
    """Drop ``user:password@`` from a URL so it can be logged and shown in errors."""
    return _CREDENTIALS.sub("***@", url)
