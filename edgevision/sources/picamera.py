"""The Raspberry Pi CSI camera through picamera2: the only module that imports it.

picamera2 needs libcamera's Python bindings, which exist only on Raspberry Pi OS, so the import
happens when a Pi camera is opened, never at import time. Everything else here works with any
object that has the small part of the ``Picamera2`` interface used below, which is how it is
tested off the Pi.

Colour order (the one place it is handled): picamera2 names formats after DRM fourcc codes,
which describe a little-endian word, so the bytes in memory run the other way round. Its manual
says ``RGB888`` arrays are ordered ``[B, G, R]`` and ``BGR888`` arrays ``[R, G, B]``;
``XRGB8888`` pixels are ``[B, G, R, 255]`` and ``XBGR8888`` pixels ``[R, G, B, 255]``. OpenCV
and the whole pipeline want BGR, so we ask for ``RGB888`` and :func:`to_bgr` converts whatever
format was configured.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from edgevision.errors import SourceError, UsageError

log = logging.getLogger(__name__)

DEFAULT_FORMAT = "RGB888"
DEFAULT_SIZE = (640, 480)

# Per picamera2 format: the channel indexes that turn its array into BGR.
_BGR_CHANNELS: dict[str, list[int]] = {
    "RGB888": [0, 1, 2],  # memory order B, G, R
    "BGR888": [2, 1, 0],  # memory order R, G, B
    "XRGB8888": [0, 1, 2],  # memory order B, G, R, X
    "XBGR8888": [2, 1, 0],  # memory order R, G, B, X
}

_SPEC = re.compile(r"^picamera2:(\d+)$")


class Camera(Protocol):
    """The part of ``picamera2.Picamera2`` we use."""

    def create_video_configuration(self, main: dict[str, Any], **kwargs: Any) -> Any: ...

    def configure(self, config: Any) -> None: ...

    def start(self) -> None: ...

    def capture_array(self, name: str = "main") -> np.ndarray: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


def parse_spec(spec: str) -> int:
    """Camera number from ``picam`` (0) or ``picamera2:N``; anything else is a usage error."""
    if spec == "picam":
        return 0
    match = _SPEC.match(spec)
    if not match:
        raise UsageError(
            f"bad Pi camera source {spec!r}: use 'picamera2:N' with N the camera number, e.g. picamera2:0"
        )
    return int(match.group(1))


def to_bgr(array: np.ndarray, fmt: str) -> np.ndarray:
    """Convert a picamera2 ``capture_array`` result in format ``fmt`` to contiguous BGR uint8."""
    try:
        channels = _BGR_CHANNELS[fmt]
    except KeyError:
        raise UsageError(
            f"unsupported Pi camera format {fmt!r}: use one of {', '.join(_BGR_CHANNELS)}"
        ) from None
    if array.ndim != 3 or array.shape[2] < 3 or array.dtype != np.uint8:
        raise SourceError(
            f"Pi camera returned a {array.dtype} array of shape {array.shape}, expected HxWx3/4 uint8"
        )
    return np.ascontiguousarray(array[:, :, channels])


def _picamera2_factory(index: int) -> Camera:
    try:
        from picamera2 import Picamera2  # noqa: PLC0415 - only importable on a Raspberry Pi
    except ImportError:
        raise UsageError(
            "the Pi camera needs picamera2, which is not installed: on Raspberry Pi OS run "
            "`sudo apt install python3-picamera2` (and create the venv with --system-site-packages), "
            "or use --camera N for a USB camera"
        ) from None
    try:
        return Picamera2(index)
    except (IndexError, RuntimeError) as exc:
        raise SourceError(
            f"cannot open Pi camera {index}: {exc} (check the ribbon cable and `rpicam-hello --list-cameras`)"
        ) from None


class PicameraGrabber:
    """A started Pi camera behind the :class:`~edgevision.sources.base.Grabber` interface."""

    def __init__(
        self,
        index: int,
        *,
        size: tuple[int, int] = DEFAULT_SIZE,
        fmt: str = DEFAULT_FORMAT,
        factory: Callable[[int], Camera] = _picamera2_factory,
    ) -> None:
        if fmt not in _BGR_CHANNELS:
            raise UsageError(f"unsupported Pi camera format {fmt!r}: use one of {', '.join(_BGR_CHANNELS)}")
        self.fmt = fmt
        self.camera = factory(index)
        try:
            config = self.camera.create_video_configuration(main={"size": tuple(size), "format": fmt})
            self.camera.configure(config)
            self.camera.start()
        except Exception as exc:
            self.camera.close()
            raise SourceError(f"cannot start Pi camera {index}: {exc}") from None

    def read(self) -> np.ndarray | None:
        try:
            array = self.camera.capture_array("main")
        except Exception as exc:  # noqa: BLE001 - any capture failure means the camera was lost
            log.warning("Pi camera capture failed: %s", exc)
            return None
        return to_bgr(array, self.fmt)

    def release(self) -> None:
        try:
            self.camera.stop()
        finally:
            self.camera.close()
