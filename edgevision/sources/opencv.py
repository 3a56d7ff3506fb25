"""OpenCV-backed sources: video files, RTSP/HTTP streams (FFmpeg) and V4L2 camera indexes."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from edgevision.core import Frame
from edgevision.errors import SourceError
from edgevision.sources.base import Source, redact_url

log = logging.getLogger(__name__)

DEFAULT_OPEN_TIMEOUT_S = 5.0
DEFAULT_READ_TIMEOUT_S = 5.0
FFMPEG_READ_ATTEMPTS = 3  # timed-out reads before OpenCV's FFmpeg reader reports a lost stream

_logging_configured = False


def _configure_opencv_logging() -> None:
    """Keep OpenCV's and FFmpeg's own warnings off stderr unless we log at DEBUG.

    A failed open already ends in one clear line of ours; their multi-line chatter about
    backends would bury it. FFmpeg reads its level once, at the first open, so this runs first.
    """
    global _logging_configured
    if _logging_configured:
        return
    _logging_configured = True
    if logging.getLogger("edgevision").isEnabledFor(logging.DEBUG):
        return
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


class CaptureGrabber:
    """A :class:`cv2.VideoCapture` behind the :class:`~edgevision.sources.base.Grabber` interface."""

    def __init__(self, capture: cv2.VideoCapture) -> None:
        self.capture = capture

    def read(self) -> np.ndarray | None:
        ok, image = self.capture.read()
        return image if ok and image is not None else None

    def release(self) -> None:
        self.capture.release()


def decode_params(decode_threads: int | None) -> list[int]:
    """OpenCV open parameters giving FFmpeg ``decode_threads`` threads (None: FFmpeg's default).

    The thread count only takes effect at open; FFmpeg's default is one frame thread per core.
    """
    return [] if decode_threads is None else [cv2.CAP_PROP_N_THREADS, decode_threads]


def open_stream(
    url: str, *, open_timeout_s: float, read_timeout_s: float, decode_threads: int | None = None
) -> CaptureGrabber:
    """Open an ``rtsp://`` or ``http(s)://`` stream with FFmpeg, failing within the timeouts.

    The timeouts must be given at open: without them a dead host or a hung server blocks
    ``open`` and every ``read`` for FFmpeg's default of 30 s. OpenCV's FFmpeg reader gives up
    only after about three read timeouts in a row (measured: 3.0 s at 1 s, 6.0 s at 2 s), so it
    gets a third of ours, and a hung stream is noticed after about ``read_timeout_s``.
    """
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(open_timeout_s * 1000),
        cv2.CAP_PROP_READ_TIMEOUT_MSEC, max(1, int(read_timeout_s * 1000 / FFMPEG_READ_ATTEMPTS)),
        *decode_params(decode_threads),
    ]  # fmt: skip
    _configure_opencv_logging()
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        capture.release()
        raise SourceError(
            f"cannot open stream {redact_url(url)}: check the address, that the camera is "
            f"reachable from here and the credentials"
        )
    return CaptureGrabber(capture)


def open_camera(index: int) -> CaptureGrabber:
    """Open V4L2 camera ``/dev/video<index>`` (USB webcams, and the Pi camera via libcamera's V4L2 layer)."""
    _configure_opencv_logging()
    capture = cv2.VideoCapture(index, cv2.CAP_V4L2)
    if not capture.isOpened():
        capture.release()
        raise SourceError(
            f"cannot open camera {index} (/dev/video{index}): check that it is plugged in, "
            f"that `v4l2-ctl --list-devices` shows it and that this user is in the 'video' group"
        )
    return CaptureGrabber(capture)


def stream_name(url: str) -> str:
    """A short camera name for a stream URL: its host, without credentials or port."""
    rest = url.split("://", 1)[-1]
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class FileSource(Source):
    """Every frame of a video file, in order; ends at the end of the file, or loops.

    ``realtime`` plays the file like a camera: frames come at the file's frame rate, each decoded
    when its time comes (not ahead, while the pipeline still works on the one before), and a
    frame whose time has passed while the consumer was busy is skipped (counted in
    ``frames_dropped``) instead of piling up. Otherwise every frame comes as fast as it is used.
    ``decode_threads`` is FFmpeg's decoding thread count (None: its default, one per core).
    """

    is_live = False

    def __init__(
        self, path: str | Path, *, camera_name: str | None = None, loop: bool = False,
        realtime: bool = False, decode_threads: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(str(path))
        self.path = Path(path)
        self.camera = camera_name or self.path.stem
        self.loop = loop
        self.realtime = realtime
        self._params = decode_params(decode_threads)
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path} (check the path)")
        self._capture = self._open()
        self.fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self._closed = False

    def _open(self) -> cv2.VideoCapture:
        _configure_opencv_logging()
        capture = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG, self._params)
        if not capture.isOpened():
            capture.release()
            raise SourceError(
                f"cannot read video file {self.path}: not a video OpenCV/FFmpeg can decode "
                f"(convert it, e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`)"
            )
        return capture

    def __iter__(self) -> Iterator[Frame]:
        period = 1.0 / self.fps if self.realtime and self.fps > 0 else 0.0
        start = time.monotonic()
        position = 0  # frames taken from the file so far, on the realtime schedule
        frames_this_pass = 0
        while not self._closed:
            if period:  # a camera's frame is decoded when it comes, not ahead of its time
                time.sleep(max(0.0, start + position * period - time.monotonic()))
            late = period > 0 and time.monotonic() > start + (position + 1) * period
            grabbed = self._capture.grab()
            image = self._capture.retrieve()[1] if grabbed and not late else None
            if not grabbed or (image is None and not late):
                if frames_this_pass == 0:
                    raise SourceError(
                        f"cannot read video file {self.path}: no frame could be decoded "
                        f"(the file may be truncated or corrupt)"
                    )
                if not self.loop:
                    return
                log.debug("%s: end of file, looping", self.path)
                self._capture.release()
                self._capture = self._open()
                frames_this_pass = 0
                continue
            frames_this_pass += 1
            position += 1
            if image is None:  # late: skip it without decoding
                self.frames_dropped += 1
                continue
            frame = Frame(image=image, index=position - 1, timestamp=time.time(), camera=self.camera)
            self.frames_read += 1
            yield frame

    def close(self) -> None:
        self._closed = True
        self._capture.release()
