"""Live sources: a background thread keeps only the freshest frame and reconnects on loss.

A camera or stream produces frames at its own pace whether or not we keep up. Reading them
in the pipeline thread would let stale frames queue up in the driver or decoder, so a grab
thread overwrites a one-slot buffer and the consumer always gets the newest frame; each frame
overwritten before anyone took it is counted in ``frames_dropped``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from edgevision.core import Frame
from edgevision.errors import SourceError
from edgevision.sources.base import Grabber, Source

log = logging.getLogger(__name__)


class Backoff:
    """Capped exponential delays between reconnect attempts: ``initial * 2**n``, at most ``cap``."""

    def __init__(self, initial_s: float = 0.5, cap_s: float = 10.0) -> None:
        if initial_s <= 0 or cap_s < initial_s:
            raise ValueError(f"need 0 < initial_s <= cap_s, got {initial_s=} {cap_s=}")
        self.initial_s = initial_s
        self.cap_s = cap_s
        self._attempt = 0

    def next_delay(self) -> float:
        delay = min(self.cap_s, self.initial_s * 2.0**self._attempt)
        self._attempt += 1
        return delay

    def reset(self) -> None:
        self._attempt = 0


class LiveSource(Source):
    """Frames from a camera or stream, grabbed by a background thread, freshest first.

    ``connect`` opens the device and raises :class:`SourceError` when it cannot; the first
    connect happens in ``__init__`` so a wrong camera or URL fails at once. After a loss the
    thread reconnects with capped backoff, forever unless ``max_reconnects`` is set, in which
    case iteration ends with a :class:`SourceError` once the attempts are used up.
    """

    is_live = True

    def __init__(
        self,
        name: str,
        connect: Callable[[], Grabber],
        *,
        camera_name: str | None = None,
        backoff: Backoff | None = None,
        max_reconnects: int | None = None,
        join_timeout_s: float = 10.0,
    ) -> None:
        super().__init__(name)
        self.camera = camera_name or name
        self._connect = connect
        self._backoff = backoff or Backoff()
        self._max_reconnects = max_reconnects
        self._join_timeout_s = join_timeout_s
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._latest: Frame | None = None
        self._failure: SourceError | None = None
        self._grabber: Grabber | None = connect()
        self._thread = threading.Thread(target=self._run, name=f"grab-{name}", daemon=True)
        self._thread.start()

    # -- grab thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                if self._grabber is None and not self._reconnect():
                    return
                image = self._grabber.read() if self._grabber is not None else None
                if image is None:
                    log.warning("%s: stream lost, reconnecting", self.name)
                    self._release()
                    continue
                self._publish(image)
        except Exception as exc:  # noqa: BLE001 - the consumer must hear of any grab failure
            log.debug("%s: grab thread failed", self.name, exc_info=True)
            self._fail(SourceError(f"{self.name}: reading frames failed: {exc}"))
        finally:
            self._release()
            with self._cond:
                self._cond.notify_all()

    def _publish(self, image: np.ndarray) -> None:
        frame = Frame(image=image, index=self.frames_read, timestamp=time.time(), camera=self.camera)
        with self._cond:
            if self._latest is not None:
                self.frames_dropped += 1
            self._latest = frame
            self.frames_read += 1
            self._cond.notify_all()

    def _reconnect(self) -> bool:
        """Try until connected (True) or stopped / out of attempts (False)."""
        attempts = 0
        while not self._stop.is_set():
            if self._max_reconnects is not None and attempts >= self._max_reconnects:
                self._fail(
                    SourceError(f"{self.name}: stream lost and {attempts} reconnect attempts failed")
                )
                return False
            delay = self._backoff.next_delay()
            log.info("%s: reconnecting in %.1f s", self.name, delay)
            if self._stop.wait(delay):
                return False
            attempts += 1
            try:
                self._grabber = self._connect()
            except SourceError as exc:
                log.warning("%s: reconnect failed: %s", self.name, exc)
                continue
            self.reconnects += 1
            self._backoff.reset()
            log.info("%s: reconnected", self.name)
            return True
        return False

    def _release(self) -> None:
        grabber, self._grabber = self._grabber, None
        if grabber is not None:
            grabber.release()

    def _fail(self, error: SourceError) -> None:
        with self._cond:
            self._failure = error
            self._cond.notify_all()

    # -- consumer ------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Frame]:
        while True:
            with self._cond:
                while self._latest is None and self._failure is None and self._thread.is_alive():
                    self._cond.wait(timeout=0.5)
                frame, self._latest = self._latest, None
                failure = self._failure
            if frame is not None:
                yield frame
            elif failure is not None:
                raise failure
            else:  # closed
                return

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(self._join_timeout_s)
            if self._thread.is_alive():
                log.warning("%s: grab thread did not stop within %.0f s", self.name, self._join_timeout_s)
