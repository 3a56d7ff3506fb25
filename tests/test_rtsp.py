"""Frames over RTSP from a real GStreamer RTSP server: content, loss, hang, reconnect, shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from edgevision.core import Frame
from edgevision.errors import SourceError
from edgevision.sources import open_source
from edgevision.sources.live import Backoff
from edgevision.sources.opencv import open_stream
from rtsp_server import RtspServer, gst_rtsp_available
from video_clips import frame_number, write_clip, write_h264_clip

pytestmark = pytest.mark.skipif(not gst_rtsp_available(), reason="needs /usr/bin/python3 with GstRtspServer")

FAST = {"open_timeout_s": 3.0, "read_timeout_s": 1.0, "backoff": Backoff(0.2, 1.0)}


def take(frames: Iterator[Frame], n: int, deadline_s: float = 20.0) -> list[Frame]:
    out: list[Frame] = []
    end = time.monotonic() + deadline_s
    while len(out) < n:
        assert time.monotonic() < end, f"only {len(out)} of {n} frames within {deadline_s} s"
        out.append(next(frames))
    return out


@pytest.mark.parametrize("container", ["h264.mp4", "mjpg.avi"])
def test_reads_the_served_file_in_order(tmp_path: Path, container: str) -> None:
    if container.endswith(".mp4"):
        clip = write_h264_clip(tmp_path / container, frames=30, fps=15, size=(160, 120))
    else:
        clip = write_clip(tmp_path / container, frames=30, fps=15.0, fourcc="MJPG", size=(160, 120))
    with RtspServer(clip, fps=15) as server:
        with open_source(server.url, **FAST) as source:
            assert source.is_live and source.name == server.url
            frames = take(iter(source), 20)
    numbers = [frame_number(f.image) for f in frames]
    assert frames[0].image.shape == (120, 160, 3)
    assert frames[0].camera == "127.0.0.1"
    assert numbers == sorted(numbers)  # never older than what we already had
    assert len(set(numbers)) >= 15  # mostly distinct frames of the clip, not one repeated
    assert numbers[0] <= 3  # a new client gets the clip from its start


@pytest.mark.parametrize("threads", [1, 3])
def test_h264_stream_decodes_with_the_threads_asked_for(threads: int) -> None:
    with RtspServer() as server:
        grabber = open_stream(server.url, open_timeout_s=3.0, read_timeout_s=1.0, decode_threads=threads)
        try:
            assert grabber.capture.get(cv2.CAP_PROP_N_THREADS) == threads
            assert grabber.read() is not None
        finally:
            grabber.release()


def test_reconnects_after_server_restart() -> None:
    with RtspServer() as server:
        source = open_source(server.url, **FAST)
        frames = iter(source)
        take(frames, 5)
        server.restart()
        take(frames, 10)
        assert source.reconnects >= 1
        source.close()


def test_hung_server_is_detected_within_read_timeout() -> None:
    with RtspServer() as server:
        source = open_source(server.url, **FAST)
        frames = iter(source)
        take(frames, 5)
        server.pause()
        try:
            time.sleep(2.5)  # > read timeout: the grab thread must have given up on this stream
            assert source.reconnects == 0
            read_before = source.frames_read
            time.sleep(0.5)
            assert source.frames_read == read_before, "frames arrived from a stopped server"
        finally:
            server.resume()
        take(frames, 5)
        assert source.reconnects >= 1
        source.close()


def test_gives_up_after_max_reconnects() -> None:
    with RtspServer() as server:
        source = open_source(server.url, max_reconnects=2, **FAST)
        frames = iter(source)
        take(frames, 3)
        server.stop()
        with pytest.raises(SourceError, match="2 reconnect attempts failed"):
            take(frames, 1000, deadline_s=30)
        source.close()


def test_close_leaves_no_thread_while_server_hangs() -> None:
    with RtspServer() as server:
        source = open_source(server.url, **FAST)
        take(iter(source), 2)
        server.pause()
        try:
            time.sleep(0.2)
            start = time.monotonic()
            source.close()
            elapsed = time.monotonic() - start
        finally:
            server.resume()
    assert elapsed < 5.0
    assert not [t for t in threading.enumerate() if t.name.startswith("grab-")]


def test_slow_consumer_gets_freshest_frames_and_drops_are_counted() -> None:
    with RtspServer(fps=30) as server:
        with open_source(server.url, **FAST) as source:
            frames = iter(source)
            take(frames, 3)
            got = []
            for _ in range(5):
                time.sleep(0.3)  # ~9 frames arrive meanwhile
                got.append(next(frames))
            assert source.frames_dropped >= 10
            gaps = [b.index - a.index for a, b in zip(got, got[1:])]
            assert min(gaps) >= 2, gaps  # the newest frame, not the next queued one
