"""Turn what the user typed (``--source`` / ``--camera``) into an opened :class:`Source`."""

from __future__ import annotations

import logging
import re

from edgevision.errors import SourceError, UsageError
from edgevision.paths import expand_user
from edgevision.sources.base import Source, redact_url
from edgevision.sources.live import Backoff, LiveSource
from edgevision.sources.opencv import (
    DEFAULT_OPEN_TIMEOUT_S,
    DEFAULT_READ_TIMEOUT_S,
    FileSource,
    open_camera,
    open_stream,
    stream_name,
)

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


def open_source(
    spec: str | int,
    *,
    camera_name: str | None = None,
    loop: bool = False,
    realtime: bool = False,
    open_timeout_s: float = DEFAULT_OPEN_TIMEOUT_S,
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
    backoff: Backoff | None = None,
    max_reconnects: int | None = None,
    decode_threads: int | None = None,
) -> Source:
    """Open ``spec``, failing at once with one clear :class:`SourceError`/:class:`UsageError`.

    ``spec`` is one of: ``demo`` (the bundled clip), a video file path, ``rtsp://…``,
    ``http(s)://…`` (MJPEG or anything FFmpeg reads), ``picam`` / ``picamera2:N`` (Pi CSI
    camera), or a camera index (int or digit string) for V4L2. ``loop`` and ``realtime`` apply
    to files; the timeouts, ``backoff`` and ``max_reconnects`` (None: forever) to live sources.
    ``decode_threads`` (None: FFmpeg's default) applies to what FFmpeg decodes: files and streams.
    """
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        return LiveSource(
            f"camera{index}", lambda: open_camera(index), camera_name=camera_name,
            backoff=backoff, max_reconnects=max_reconnects,
        )  # fmt: skip
    spec = spec.strip()
    if not spec:
        raise UsageError("empty source: give a file, a URL, a camera number, picam or demo")
    if spec == "demo":
        return _open_demo(camera_name=camera_name, loop=loop, realtime=realtime, decode_threads=decode_threads)
    if spec == "picam" or spec.startswith("picamera2:"):
        return _open_picamera(spec, camera_name=camera_name, backoff=backoff, max_reconnects=max_reconnects)
    scheme = _SCHEME.match(spec)
    if scheme:
        name = scheme.group(1).lower()
        if name == "file":
            return FileSource(
                spec[len("file://") :], camera_name=camera_name, loop=loop, realtime=realtime,
                decode_threads=decode_threads,
            )  # fmt: skip
        if name not in STREAM_SCHEMES:
            raise UsageError(
                f"unsupported source {redact_url(spec)}: use rtsp://, http(s)://, a file, a camera number or picam"
            )
        return LiveSource(
            redact_url(spec),
            lambda: open_stream(
                spec, open_timeout_s=open_timeout_s, read_timeout_s=read_timeout_s, decode_threads=decode_threads
            ),
            camera_name=camera_name or stream_name(spec),
            backoff=backoff,
            max_reconnects=max_reconnects,
            join_timeout_s=read_timeout_s + open_timeout_s + 1.0,
        )
    try:
        path = expand_user(spec)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return FileSource(path, camera_name=camera_name, loop=loop, realtime=realtime, decode_threads=decode_threads)


def _open_demo(*, camera_name: str | None, loop: bool, realtime: bool, decode_threads: int | None) -> Source:
    from edgevision.assets import demo_clip_path  # noqa: PLC0415 - keeps sources importable alone

    path = demo_clip_path()
    if not path.is_file():
        raise SourceError(f"the bundled demo clip is missing ({path}): reinstall edgevision")
    return FileSource(
        path, camera_name=camera_name or "demo", loop=loop, realtime=realtime, decode_threads=decode_threads
    )


def _open_picamera(
    spec: str, *, camera_name: str | None, backoff: Backoff | None, max_reconnects: int | None
) -> Source:
    from edgevision.sources.picamera import PicameraGrabber, parse_spec  # noqa: PLC0415

    index = parse_spec(spec)
    return LiveSource(
        f"picamera2:{index}", lambda: PicameraGrabber(index), camera_name=camera_name or f"picam{index}",
        backoff=backoff, max_reconnects=max_reconnects,
    )  # fmt: skip
