"""Video sources: files, RTSP/HTTP streams, V4L2 cameras and the Pi camera, all yielding Frames.

Callers use :func:`open_source`; the concrete classes are internal detail.
"""

from edgevision.sources.base import Source
from edgevision.sources.factory import open_source

__all__ = ["Source", "open_source"]
