"""Live view over HTTP: MJPEG streams, snapshots, JSON stats and events, Prometheus metrics."""

from edgevision.http.server import HttpSink, parse_address

__all__ = ["HttpSink", "parse_address"]
