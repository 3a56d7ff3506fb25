"""A long-running ``edgevision run`` child and a stand-in for systemd's notify socket.

The lifecycle tests start the real command, watch its stdout (JSON lines) and stderr (logs)
as they arrive, send it signals and read what it told "systemd", all with arrival times, so
they can check *when* something happened, not only that it did.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2

REPO = Path(__file__).resolve().parent.parent


class NotifyReceiver:
    """The receiving end of ``NOTIFY_SOCKET``: every datagram, parsed, with its arrival time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.05)
        self._messages: list[tuple[float, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._lock:
                self._messages.append((time.monotonic(), fields))

    def messages(self, key: str | None = None, since: float = 0.0, until: float = float("inf")) -> list[dict]:
        """Messages (optionally only those carrying ``key``) that arrived in ``[since, until)``."""
        with self._lock:
            return [m for t, m in self._messages if since <= t < until and (key is None or key in m)]

    def times(self, key: str, since: float = 0.0) -> list[float]:
        with self._lock:
            return [t for t, m in self._messages if key in m and t >= since]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()


class Running:
    """``python -m edgevision run ARGS`` in the background, its output collected line by line.

    With ``watchdog_usec`` the child gets ``WATCHDOG_USEC`` and its own pid in ``WATCHDOG_PID``
    (a shell execs into Python, keeping its pid, as systemd sets them for the main process).
    """

    def __init__(
        self,
        *args: str | Path,
        notify: NotifyReceiver | None = None,
        watchdog_usec: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
        environment.pop("NOTIFY_SOCKET", None)
        environment.pop("WATCHDOG_USEC", None)
        environment.pop("WATCHDOG_PID", None)
        if notify is not None:
            environment["NOTIFY_SOCKET"] = str(notify.path)
        command = [sys.executable, "-m", "edgevision", "run", *map(str, args)]
        if watchdog_usec is not None:
            environment["WATCHDOG_USEC"] = str(watchdog_usec)
            command = ["/bin/sh", "-c", f"WATCHDOG_PID=$$ exec {shlex.join(command)}"]
        self.lines: list[tuple[float, dict]] = []
        self.log: list[tuple[float, str]] = []
        self._cond = threading.Condition()
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=environment
        )
        self._readers = [
            threading.Thread(target=self._read, args=(self.process.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.process.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, stream, is_stdout: bool) -> None:  # noqa: ANN001 - a text pipe
        for line in stream:
            now = time.monotonic()
            with self._cond:
                if is_stdout:
                    self.lines.append((now, json.loads(line)))
                else:
                    self.log.append((now, line.rstrip("\n")))
                self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.process.pid

    def frames(self, camera: str | None = None, since: float = 0.0) -> list[dict]:
        with self._cond:
            return [f for t, f in self.lines if t >= since and (camera is None or f["camera"] == camera)]

    def log_lines(self, fragment: str, since: float = 0.0) -> list[str]:
        with self._cond:
            return [line for t, line in self.log if t >= since and fragment in line]

    def log_times(self, fragment: str) -> list[float]:
        with self._cond:
            return [t for t, line in self.log if fragment in line]

    def stderr(self) -> str:
        with self._cond:
            return "\n".join(line for _, line in self.log)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``predicate()`` holds; fail with ``what`` and the child's log otherwise."""
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the readers catch the last lines
                if predicate():
                    return
                raise AssertionError(f"edgevision exited ({self.process.returncode}) before {what}:\n{self.stderr()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s:\n{self.stderr()[-3000:]}")
            with self._cond:
                self._cond.wait(0.05)

    def wait_frames(self, count: int, camera: str | None = None, since: float = 0.0, timeout: float = 30.0) -> None:
        label = f"{count} frames" + (f" of camera {camera}" if camera else "")
        self.wait_for(lambda: len(self.frames(camera, since)) >= count, timeout, label)

    def thread_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(5)
        return code

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; kill if it does not end (the caller asserts on the code)."""
        if self.process.poll() is None:
            self.signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.wait(5)
            raise

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def write_config(path: Path, cameras: dict[str, dict], model: Path, outputs: dict | None = None) -> Path:
    """A YAML config with every camera running ``model`` (so they can share one interpreter)."""
    import yaml  # noqa: PLC0415

    data: dict = {
        "cameras": {name: {"models": [{"path": str(model)}], **camera} for name, camera in cameras.items()},
    }
    if outputs:
        data["outputs"] = outputs
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path



def recorded_frames(path: Path) -> int:
    """Frames OpenCV can decode from ``path``: an mp4 that was never finalized reads as 0."""
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count
