"""Video files, the demo clip and source specs through open_source, with real files."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import edgevision.assets
from edgevision.errors import SourceError, UsageError
from edgevision.sources import Source, open_source
from edgevision.sources.base import redact_url
from edgevision.sources.live import Backoff
from video_clips import frame_number, write_clip, write_h264_clip


@pytest.mark.parametrize("fourcc,suffix", [("mp4v", ".mp4"), ("MJPG", ".avi")])
def test_file_yields_every_frame_in_order(tmp_path: Path, fourcc: str, suffix: str) -> None:
    clip = write_clip(tmp_path / f"clip{suffix}", frames=20, fourcc=fourcc)
    with open_source(str(clip)) as source:
        frames = list(source)
        assert not source.is_live
        assert source.stats() == {"frames_read": 20, "frames_dropped": 0, "reconnects": 0}
    assert [frame_number(f.image) for f in frames] == list(range(20))
    assert [f.index for f in frames] == list(range(20))
    first = frames[0]
    assert first.image.dtype == np.uint8 and first.image.shape == (48, 64, 3)
    assert first.camera == "clip"
    assert frames[-1].timestamp >= first.timestamp


def test_h264_file(tmp_path: Path) -> None:
    clip = write_h264_clip(tmp_path / "h264.mp4", frames=12)
    with open_source(clip.as_posix(), camera_name="door") as source:
        frames = list(source)
    assert [frame_number(f.image) for f in frames] == list(range(12))
    assert {f.camera for f in frames} == {"door"}


@pytest.mark.parametrize("threads", [1, 3])
def test_file_decodes_with_the_threads_asked_for_also_after_looping(tmp_path: Path, threads: int) -> None:
    clip = write_h264_clip(tmp_path / "h264.mp4", frames=4)
    source = open_source(str(clip), loop=True, decode_threads=threads)
    assert source._capture.get(cv2.CAP_PROP_N_THREADS) == threads
    frames = iter(source)
    assert [frame_number(next(frames).image) for _ in range(6)] == [0, 1, 2, 3, 0, 1]
    assert source._capture.get(cv2.CAP_PROP_N_THREADS) == threads  # the reopened file too
    source.close()


def test_file_loops_when_asked(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=5)
    source = open_source(str(clip), loop=True)
    frames = iter(source)
    got = [next(frames) for _ in range(12)]
    source.close()
    assert [frame_number(f.image) for f in got] == [0, 1, 2, 3, 4] * 2 + [0, 1]
    assert [f.index for f in got] == list(range(12))
    assert list(source) == []  # closed: ends instead of reading a released capture


def test_realtime_paces_at_file_fps(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=10, fps=20.0)
    start = time.monotonic()
    with open_source(str(clip), realtime=True) as source:
        count = len(list(source))
    elapsed = time.monotonic() - start
    assert count == 10
    assert 0.4 <= elapsed < 2.0  # 10 frames at 20 fps: about 0.5 s, not as fast as decoding


def test_realtime_decodes_each_frame_when_its_time_comes(tmp_path: Path) -> None:
    """As a camera's frames are: decoding the next frame ahead of its time, while the pipeline
    still works on this one, took CPU from inference (live-rate p95 13 ms against 7 ms)."""
    clip = write_clip(tmp_path / "clip.mp4", frames=6, fps=20.0)
    with open_source(str(clip), realtime=True) as source:
        capture, grabs = source._capture, []

        class RecordingCapture:
            def grab(self) -> bool:
                grabs.append(time.monotonic())
                return capture.grab()

            def retrieve(self):
                return capture.retrieve()

            def release(self) -> None:
                capture.release()

        source._capture = RecordingCapture()
        assert len(list(source)) == 6
    offsets = np.array(grabs[:6]) - grabs[0]
    assert np.all(offsets >= np.arange(6) * 0.05 - 0.005), offsets  # frame k at k / 20 s, not before


def test_realtime_skips_frames_a_slow_consumer_missed(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=20, fps=20.0)
    start = time.monotonic()
    with open_source(str(clip), realtime=True) as source:
        frames = []
        for frame in source:
            frames.append(frame)
            time.sleep(0.12)  # slower than the clip's 50 ms per frame
        elapsed = time.monotonic() - start
    numbers = [frame_number(f.image) for f in frames]
    assert source.frames_read + source.frames_dropped == 20
    assert 5 <= source.frames_dropped <= 16
    assert numbers == sorted(numbers) and numbers == [f.index for f in frames]  # index = file position
    assert elapsed < 1.8  # the clip lasts 1 s; without skipping it would take 20 * 0.12 s


def test_demo_resolves_through_assets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clip = write_clip(tmp_path / "demo.mp4", frames=4)
    monkeypatch.setattr(edgevision.assets, "demo_clip_path", lambda: clip)
    with open_source("demo") as source:
        frames = list(source)
    assert len(frames) == 4 and frames[0].camera == "demo"


def test_missing_demo_clip_says_reinstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(edgevision.assets, "demo_clip_path", lambda: tmp_path / "gone.mp4")
    with pytest.raises(SourceError, match="demo clip is missing.*reinstall"):
        open_source("demo")


def test_shipped_demo_clip_plays() -> None:
    path = edgevision.assets.demo_clip_path()
    if not path.is_file():
        pytest.skip(f"no demo clip shipped yet at {path}")
    with open_source("demo") as source:
        frames = [f for _, f in zip(range(5), source)]
    assert len(frames) == 5 and frames[0].image.ndim == 3


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"video file not found: .*nope\.mp4"):
        open_source(str(tmp_path / "nope.mp4"))


def test_file_that_is_not_a_video(tmp_path: Path) -> None:
    bad = tmp_path / "notes.mp4"
    bad.write_bytes(b"this is not a video\n" * 100)
    with pytest.raises(SourceError, match="cannot read video file .*notes.mp4"):
        open_source(str(bad))


def test_truncated_video(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.avi", frames=20, fourcc="MJPG")
    data = clip.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[:300])  # header only: opens, but no frame decodes
    with pytest.raises(SourceError, match="cut.avi"):
        list(open_source(str(cut)))


def test_camera_index_that_cannot_be_opened() -> None:
    with pytest.raises(SourceError, match=r"cannot open camera 57 \(/dev/video57\)"):
        open_source(57)
    with pytest.raises(SourceError, match="cannot open camera 58"):
        open_source("58")


def test_refused_stream_fails_fast() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(SourceError, match=f"cannot open stream rtsp://127.0.0.1:{port}/cam"):
        open_source(f"rtsp://127.0.0.1:{port}/cam")
    assert time.monotonic() - start < 3.0


@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_silent_server_fails_within_open_timeout(scheme: str) -> None:
    """A host that accepts the connection but never answers (a hung camera) must not block 30 s."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)  # the kernel completes the handshake; nothing ever replies
        port = listener.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(SourceError, match="cannot open stream"):
            open_source(f"{scheme}://127.0.0.1:{port}/cam", open_timeout_s=1.5)
        elapsed = time.monotonic() - start
    assert elapsed < 6.0, f"open took {elapsed:.1f} s"


def test_credentials_never_shown() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SourceError) as info:
        open_source(f"rtsp://admin:s3cret@127.0.0.1:{port}/cam")
    assert "s3cret" not in str(info.value) and "***@127.0.0.1" in str(info.value)
    assert redact_url("http://u:p@cam.local:8080/x") == "http://***@cam.local:8080/x"
    assert redact_url("rtsp://cam.local/x") == "rtsp://cam.local/x"


@pytest.mark.parametrize("spec", ["ftp://cam/x", "  "])
def test_unsupported_specs_are_usage_errors(spec: str) -> None:
    with pytest.raises(UsageError):
        open_source(spec)


def test_sources_share_the_interface(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "clip.mp4", frames=2)
    source = open_source(str(clip))
    assert isinstance(source, Source)
    source.close()
    source.close()  # twice is fine


def test_backoff_is_capped_and_resets() -> None:
    backoff = Backoff(0.5, 4.0)
    assert [backoff.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5
    with pytest.raises(ValueError, match="initial_s"):
        Backoff(0, 1)
