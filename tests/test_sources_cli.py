"""Bad sources, --record and --display through the real CLI: one clear error line and an exit code."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from model_factory import build_model
from video_clips import write_clip


@pytest.fixture(scope="module")
def model() -> Path:
    return build_model("classification", "uint8")


def run_cli(model: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgevision", "--log-level", "error", "run", "--model", str(model), *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("edgevision: error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_missing_file(model: Path, tmp_path: Path) -> None:
    proc = run_cli(model, "--source", str(tmp_path / "nope.mp4"))
    assert proc.returncode == 1 and proc.stdout == ""
    assert "video file not found" in error_line(proc) and "nope.mp4" in error_line(proc)


def test_home_of_an_unknown_user(model: Path) -> None:
    proc = run_cli(model, "--source", "~nosuchuser/clip.mp4")
    assert proc.returncode == 2 and "cannot expand '~nosuchuser' in '~nosuchuser/clip.mp4'" in error_line(proc)


def test_file_that_is_not_a_video(model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00garbage" * 500)
    proc = run_cli(model, "--source", str(bad))
    assert proc.returncode == 1 and "cannot read video file" in error_line(proc)


def test_camera_that_cannot_be_opened(model: Path) -> None:
    proc = run_cli(model, "--camera", "9")
    assert proc.returncode == 1 and "cannot open camera 9 (/dev/video9)" in error_line(proc)


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_unreachable_url(model: Path, scheme: str) -> None:
    url = f"{scheme}://user:secret@127.0.0.1:{closed_port()}/stream"
    start = time.monotonic()
    proc = run_cli(model, "--source", url)
    line = error_line(proc)
    assert proc.returncode == 1 and "cannot open stream" in line and "secret" not in line
    assert time.monotonic() - start < 30  # model load included; the open itself fails at once


@pytest.mark.parametrize("spec,message", [
    ("picamera2:one", "bad Pi camera source 'picamera2:one'"),
    ("picam", "picamera2, which is not installed"),
])  # fmt: skip
def test_pi_camera_usage_errors(model: Path, spec: str, message: str) -> None:
    proc = run_cli(model, "--source", spec)
    assert proc.returncode == 2 and message in error_line(proc)


def test_display_on_headless_opencv(model: Path, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=3)
    proc = run_cli(model, "--source", str(clip), "--display")
    assert proc.returncode == 2 and "--record" in error_line(proc)


def test_record_to_unwritable_place(model: Path, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=3)
    proc = run_cli(model, "--source", str(clip), "--record", str(tmp_path / "no" / "out.mp4"))
    assert proc.returncode == 2 and "not a writable folder" in error_line(proc)


def test_record_writes_every_processed_frame(model: Path, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=12)
    out = tmp_path / "annotated.mp4"
    proc = run_cli(model, "--source", str(clip), "--max-frames", "8", "--record", str(out))
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 8
    capture = cv2.VideoCapture(str(out))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    assert count == 8
