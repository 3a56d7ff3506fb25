"""Live view over HTTP: MJPEG streams, snapshots, JSON stats and events, Prometheus metrics."""

from edgevision.http.address import parse_address
from edgevision.http.server import HttpSink

__all__ = ["HttpSink", "parse_address"]
