"""sd_notify in a few lines of socket code: READY, WATCHDOG, STATUS, STOPPING, RELOADING.

systemd hands a service a unix datagram socket in ``NOTIFY_SOCKET`` (a path, or ``@name`` for
an abstract socket). Everything here is a no-op without it, so the same code runs from a shell.
The :class:`Watchdog` turns per-frame calls into heartbeats that stop when any camera stalls, so
systemd restarts a service whose stream hung instead of trusting a process that merely lives.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterable

log = logging.getLogger(__name__)


class Notifier:
    """Sends state lines to systemd's notify socket; silent when there is none."""

    def __init__(self, address: str | None = None) -> None:
        address = os.environ.get("NOTIFY_SOCKET") if address is None else address
        self._address: str | None = None
        self._socket: socket.socket | None = None
        self._warned = False
        if not address:
            return
        if address.startswith("@"):
            self._address = "\0" + address[1:]
        elif address.startswith("/"):
            self._address = address
        else:
            log.warning("NOTIFY_SOCKET=%s is not a unix socket path; systemd notifications are off", address)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def send(self, *fields: str) -> bool:
        """Send ``KEY=value`` fields as one datagram; False (and one log line) when it fails."""
        if self._address is None:
            return False
        try:
            if self._socket is None:  # non-blocking: a busy systemd must never stall the frame loop
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
            self._socket.sendto("\n".join(fields).encode(), self._address)
        except BlockingIOError:
            log.debug("systemd's notify socket is full; dropped %s", fields[0])
            return False
        except OSError as exc:
            if not self._warned:  # once: a stale socket must not flood the journal
                log.warning("cannot notify systemd at %s: %s", self._address.lstrip("\0"), exc)
                self._warned = True
            self.close()
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        return self.send(f"STATUS={_one_line(text)}")

    def stopping(self) -> bool:
        return self.send("STOPPING=1", "STATUS=stopping")

    def reloading(self) -> bool:
        """Before re-reading the config on SIGHUP; call :meth:`ready` when done."""
        now_us = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send("RELOADING=1", f"MONOTONIC_USEC={now_us}", "STATUS=reloading the config")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def watchdog_interval_s(environ: dict[str, str] | None = None) -> float | None:
    """Half of systemd's ``WATCHDOG_USEC`` (as sd_watchdog_enabled advises), or None when off."""
    environ = os.environ if environ is None else environ
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):  # the watchdog was set for another process
        return None
    return int(usec) / 2 / 1e6


class Watchdog:
    """Heartbeats only while every camera keeps producing frames.

    The frame loop calls :meth:`frame_processed` for each frame; it is a counter increment and a
    clock read, so it is cheap per frame. The first frame sends ``READY=1``. Then a beat is due
    every ``interval_s`` (half of ``WATCHDOG_USEC``) or ``status_interval_s``, whichever is
    shorter: ``WATCHDOG=1`` is sent only if every camera has produced a frame within that period,
    and ``STATUS=`` always reports fps per camera (or which stalled). A camera not named at start
    joins on its first frame. Thread-safe: cameras may run in their own threads.
    """

    def __init__(
        self,
        cameras: Iterable[str],
        notifier: Notifier | None = None,
        interval_s: float | None = None,
        status_interval_s: float = 5.0,
    ) -> None:
        self.notifier = notifier or Notifier()
        self.interval_s = watchdog_interval_s() if interval_s is None else interval_s
        self._period = min(self.interval_s or status_interval_s, status_interval_s)
        self._counts: dict[str, int] = dict.fromkeys(cameras, 0)
        self._seen: dict[str, float] = {}  # camera -> monotonic time of its latest frame
        self._stalled: set[str] = set()
        self._lock = threading.Lock()
        self._ready = False
        self._started = self._last = time.monotonic()
        self._next = self._last + self._period

    @property
    def cameras(self) -> list[str]:
        return list(self._counts)

    def frame_processed(self, camera: str) -> None:
        """Count a frame of ``camera``; sends READY on the first frame and beats when due."""
        now = time.monotonic()
        self._counts[camera] = self._counts.get(camera, 0) + 1
        self._seen[camera] = now
        if not self._ready or now >= self._next:
            self.check()

    def check(self) -> None:
        """Send READY, the heartbeat and status if due; the frame loop may also call it when idle."""
        if not self._lock.acquire(blocking=False):
            return  # another camera's thread is sending
        try:
            now = time.monotonic()
            if not self._ready and any(self._counts.values()):
                self._ready = True
                self.notifier.ready(", ".join(f"{name} started" for name in self._counts))
                self._last, self._next = now, now + self._period  # fps counted from the first frame on
                self._counts = dict.fromkeys(self._counts, 0)
            if now >= self._next:
                self._beat(now)
        finally:
            self._lock.release()

    def set_cameras(self, cameras: Iterable[str]) -> None:
        """After a config reload, or when a file source has ended: these must keep flowing."""
        with self._lock:
            self._counts = {name: self._counts.get(name, 0) for name in cameras}
            self._seen = {name: when for name, when in self._seen.items() if name in self._counts}
            self._stalled &= set(self._counts)

    def _beat(self, now: float) -> None:
        fresh_since = max(self._last, now - self._period)  # a late check must not credit old frames
        stalled = {name for name in self._counts if self._seen.get(name, -1.0) < fresh_since}
        for name in sorted(stalled - self._stalled):
            quiet_s = now - self._seen.get(name, self._started)
            log.warning("camera %s: no frame for %.1f s; systemd heartbeat withheld until frames flow", name, quiet_s)
        for name in sorted(self._stalled - stalled):
            log.info("camera %s is producing frames again", name)
        self._stalled = stalled
        if self.interval_s is not None and self._ready and not stalled:
            self.notifier.send("WATCHDOG=1", f"STATUS={self._status(now)}")
        else:
            self.notifier.status(self._status(now))
        self._counts = dict.fromkeys(self._counts, 0)
        self._last = now
        self._next = now + self._period

    def _status(self, now: float) -> str:
        elapsed = max(now - self._last, 1e-6)
        parts = [
            f"{name} stalled" if name in self._stalled else f"{name} {count / elapsed:.1f} fps"
            for name, count in self._counts.items()
        ]
        return ", ".join(parts) or "no cameras"
