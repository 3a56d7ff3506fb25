"""HTTP MJPEG streams (what most IP cameras and ESP32-CAMs serve) from a real HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import pytest

from edgevision.errors import SourceError
from edgevision.sources import open_source
from edgevision.sources.live import Backoff
from video_clips import frame_image, frame_number

BOUNDARY = b"frame"


class MjpegHandler(BaseHTTPRequestHandler):
    """``multipart/x-mixed-replace`` JPEGs of numbered frames; ``frames`` per connection, then it hangs up."""

    frames = 30
    interval_s = 0.02

    def do_GET(self) -> None:
        if self.path != "/video.mjpg":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
        self.end_headers()
        try:
            for i in range(self.frames):
                jpeg = cv2.imencode(".jpg", frame_image(i, (96, 64)))[1].tobytes()
                self.wfile.write(
                    b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n"
                    % (BOUNDARY, len(jpeg), jpeg)
                )
                time.sleep(self.interval_s)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mjpeg_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), MjpegHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_reads_mjpeg_frames_in_order(mjpeg_server: str) -> None:
    with open_source(f"{mjpeg_server}/video.mjpg", read_timeout_s=2.0, max_reconnects=0) as source:
        assert source.is_live
        frames = iter(source)
        got = [next(frames) for _ in range(10)]
    numbers = [frame_number(f.image) for f in got]
    assert got[0].image.shape == (64, 96, 3)
    assert numbers == sorted(numbers) and len(set(numbers)) == 10
    assert got[0].camera == "127.0.0.1"


def test_reconnects_when_the_server_hangs_up(mjpeg_server: str) -> None:
    """Each connection serves 30 frames then closes: the source must reconnect and go on."""
    source = open_source(
        f"{mjpeg_server}/video.mjpg", read_timeout_s=2.0, backoff=Backoff(0.1, 0.5), max_reconnects=3
    )
    frames = iter(source)
    numbers = [frame_number(next(frames).image) for _ in range(45)]
    source.close()
    assert source.reconnects >= 1
    assert 0 in numbers[1:]  # the clip started again on the new connection


def test_missing_path_fails_clearly(mjpeg_server: str) -> None:
    start = time.monotonic()
    with pytest.raises(SourceError, match=r"cannot open stream http://127\.0\.0\.1:\d+/nothing"):
        open_source(f"{mjpeg_server}/nothing")
    assert time.monotonic() - start < 5.0
