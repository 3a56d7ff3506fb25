"""sd_notify through a real unix datagram socket that the test binds, as systemd would."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from edgevision.service.notify import Notifier, Watchdog, watchdog_interval_s


class FakeSystemd:
    """The receiving end of NOTIFY_SOCKET: a thread collects every datagram, as systemd does."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + address[1:] if address.startswith("@") else address)
        self.sock.settimeout(0.02)
        self._received: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            with self._lock:
                self._received.append(dict(line.split("=", 1) for line in data.decode().splitlines()))

    def messages(self, wait_s: float = 0.1) -> list[dict[str, str]]:
        """Messages since the last call, after letting in-flight ones arrive."""
        time.sleep(wait_s)
        with self._lock:
            received, self._received = self._received, []
        return received

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def systemd(request, tmp_path, monkeypatch):
    address = str(tmp_path / "notify.sock") if request.param == "path" else f"@edgevision-test-{uuid.uuid4().hex}"
    receiver = FakeSystemd(address)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    yield receiver
    receiver.close()


def test_state_messages(systemd):
    notifier = Notifier()
    assert notifier.enabled
    assert notifier.ready("porch 10.0 fps")
    assert notifier.status("garage\nstalled")
    assert notifier.watchdog()
    assert notifier.reloading()
    assert notifier.stopping()
    got = systemd.messages()
    assert got[0] == {"READY": "1", "STATUS": "porch 10.0 fps"}
    assert got[1] == {"STATUS": "garage stalled"}
    assert got[2] == {"WATCHDOG": "1"}
    assert got[3]["RELOADING"] == "1" and abs(int(got[3]["MONOTONIC_USEC"]) - time.monotonic_ns() // 1000) < 5e6
    assert got[4] == {"STOPPING": "1", "STATUS": "stopping"}
    notifier.close()


def test_without_notify_socket_everything_is_a_no_op(monkeypatch, tmp_path):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled and not notifier.ready() and not notifier.watchdog()
    assert not Notifier("vsock:2:123").enabled


def test_a_vanished_socket_warns_once_and_never_raises(tmp_path, caplog):
    notifier = Notifier(str(tmp_path / "gone.sock"))
    assert not notifier.watchdog() and not notifier.watchdog()
    assert len([r for r in caplog.records if "cannot notify systemd" in r.getMessage()]) == 1


def test_watchdog_interval_is_half_of_watchdog_usec():
    assert watchdog_interval_s({"WATCHDOG_USEC": "60000000"}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}) == 30.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None and watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None


def run_cameras(watchdog: Watchdog, cameras: dict[str, float], seconds: float) -> None:
    """Each camera in its own thread calls frame_processed at its fps (0 = stalled), like the frame loop."""
    stop = time.monotonic() + seconds

    def loop(name: str, fps: float) -> None:
        while time.monotonic() < stop:
            if fps:
                watchdog.frame_processed(name)
            time.sleep(1 / fps if fps else 0.01)

    threads = [threading.Thread(target=loop, args=item) for item in cameras.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_ready_after_first_frame_then_heartbeats_while_frames_flow(systemd, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # beats due every 0.1 s
    watchdog = Watchdog(["porch", "garage"])
    assert watchdog.interval_s == 0.1
    assert systemd.messages(0.1) == []  # nothing before the first frame
    run_cameras(watchdog, {"porch": 50, "garage": 25}, 1.0)
    got = systemd.messages()
    assert got[0]["READY"] == "1"
    beats = [m for m in got if m.get("WATCHDOG") == "1"]
    assert 4 <= len(beats) <= 11, got
    porch_fps = [float(m["STATUS"].split("porch ")[1].split(" fps")[0]) for m in beats]
    assert all(20 < fps < 60 for fps in porch_fps), porch_fps
    assert all("garage" in m["STATUS"] for m in beats)


def test_a_stalled_camera_stops_the_heartbeat_and_it_resumes(systemd, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="edgevision.service.notify")
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    watchdog = Watchdog(["porch", "garage"])
    run_cameras(watchdog, {"porch": 50, "garage": 50}, 0.4)
    before = systemd.messages()
    assert sum(m.get("WATCHDOG") == "1" for m in before) >= 2
    run_cameras(watchdog, {"porch": 50, "garage": 0}, 0.8)  # garage's stream hangs
    stalled = systemd.messages()
    assert sum(m.get("WATCHDOG") == "1" for m in stalled) <= 1  # at most the beat already due
    assert [m for m in stalled if m.get("STATUS", "").endswith("garage stalled")]
    assert "camera garage: no frame for" in caplog.text
    run_cameras(watchdog, {"porch": 50, "garage": 50}, 0.4)
    assert sum(m.get("WATCHDOG") == "1" for m in systemd.messages()) >= 2
    assert "camera garage is producing frames again" in caplog.text


def test_all_cameras_stalled_means_silence(systemd, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    watchdog = Watchdog(["porch"])
    run_cameras(watchdog, {"porch": 50}, 0.3)
    systemd.messages()
    time.sleep(0.5)  # nothing calls the watchdog: systemd would time out and restart
    watchdog.check()  # an idle frame loop may still call check(): it reports, never beats
    got = systemd.messages()
    assert got == [{"STATUS": "porch stalled"}]


def test_without_systemd_watchdog_only_status_is_sent(systemd, monkeypatch):
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    watchdog = Watchdog(["porch"], status_interval_s=0.1)
    run_cameras(watchdog, {"porch": 50}, 0.5)
    got = systemd.messages()
    assert got[0]["READY"] == "1"
    assert not [m for m in got if "WATCHDOG" in m]
    assert len([m for m in got if "porch" in m.get("STATUS", "")]) >= 3


def test_finished_camera_can_be_dropped(systemd, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    watchdog = Watchdog(["porch", "clip"])
    run_cameras(watchdog, {"porch": 50, "clip": 50}, 0.3)
    watchdog.set_cameras(["porch"])  # the clip ended normally
    systemd.messages()
    run_cameras(watchdog, {"porch": 50}, 0.5)
    assert sum(m.get("WATCHDOG") == "1" for m in systemd.messages()) >= 3


def test_frame_processed_is_cheap(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    watchdog = Watchdog(["porch"], interval_s=30)
    start = time.perf_counter()
    for _ in range(100_000):
        watchdog.frame_processed("porch")
    per_call_us = (time.perf_counter() - start) / 100_000 * 1e6
    assert per_call_us < 10, per_call_us


def test_notify_socket_path_is_not_left_open(tmp_path, monkeypatch):
    address = tmp_path / "n.sock"
    receiver = FakeSystemd(str(address))
    notifier = Notifier(str(address))
    notifier.status("x")
    fds_before = len(os.listdir("/proc/self/fd"))
    for _ in range(200):
        notifier.status("x")
    assert len(os.listdir("/proc/self/fd")) == fds_before  # one socket reused, not one per message
    notifier.close()
    receiver.close()
    assert Path(address).exists()
