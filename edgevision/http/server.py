"""The live-view HTTP server and the pipeline sink that feeds it.

Standard library only: a ``ThreadingHTTPServer`` in a daemon thread, one thread per client.
The pipeline calls :meth:`HttpSink.handle` and never waits for a client; each MJPEG client
takes the newest frame when it is ready for one, so a slow client only drops frames for itself.
"""

from __future__ import annotations

import errno
import hmac
import io
import json
import logging
import re
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import numpy as np

from edgevision.core import FrameResult
from edgevision.errors import EdgevisionError, UsageError
from edgevision.http.address import is_loopback
from edgevision.http.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from edgevision.http.metrics import render_metrics
from edgevision.http.snapshots import SnapshotRing, is_safe_id, render_event_snapshot
from edgevision.http.state import HISTORY, LiveState

log = logging.getLogger(__name__)

INDEX_HTML = Path(__file__).resolve().parent.parent / "web" / "index.html"
STATE_MARKER = "__EDGEVISION_STATE__"
BOUNDARY = "edgevisionframe"
SNAPSHOT_WAIT_S = 2.0  # how long a snapshot waits for the pipeline to draw a frame
CLIENT_TIMEOUT_S = 10.0  # a client that takes no data for this long is dropped

_NOSIGNAL = getattr(socket, "MSG_NOSIGNAL", 0)  # Linux; elsewhere SIGPIPE is not a risk here
_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s\"]*")
_STREAM = re.compile(r"^/stream/(?P<camera>[^/]+)\.mjpg$")
_SNAPSHOT = re.compile(r"^/snapshot/(?P<camera>[^/]+)\.jpg$")
_EVENT_SNAPSHOT = re.compile(r"^/events/(?P<event>[^/]+)\.jpg$")


class HttpSink:
    """Live view over HTTP: MJPEG streams, snapshots, JSON stats and events, Prometheus metrics.

    ``needs_image`` is True only while someone streams or recently asked for a snapshot, so the
    pipeline draws (and this sink encodes) nothing when nobody watches. Each stream is capped at
    ``max_fps``. Binding beyond loopback needs a ``token``, checked on every endpoint.
    It keeps each clean frame (raw snapshots, event snapshots), so the pipeline draws on a copy.
    """

    keeps_frame = True
    needs_payload = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        token: str | None = None,
        snapshot_dir: Path | None = None,
        *,
        max_fps: float = 10.0,
        jpeg_quality: int = 80,
        snapshot_count: int = 200,
        snapshot_bytes: int = 20 * 2**20,
    ) -> None:
        if not 0 <= port <= 65535:
            raise UsageError(f"HTTP port {port} is out of range: use 1-65535")
        if not is_loopback(host) and not token:
            raise UsageError(
                f"binding to {host} needs --http-token (or http.token in the config): "
                "anyone on the network could watch the cameras; or bind to 127.0.0.1"
            )
        if max_fps <= 0:
            raise UsageError(f"HTTP stream fps must be positive, got {max_fps}")
        if not 1 <= jpeg_quality <= 100:
            raise UsageError(f"JPEG quality must be 1-100, got {jpeg_quality}")
        self.host, self.port, self.token = host, port, token
        self.max_fps = max_fps
        self.state = LiveState(jpeg_quality, history=HISTORY if snapshot_dir else 0)
        self.snapshots = SnapshotRing(snapshot_dir, snapshot_count, snapshot_bytes) if snapshot_dir else None
        self._snapshot_times: dict[str, float] = {}  # event id -> snapshot_time saved
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> None:
        """Bind and serve in a daemon thread; a busy port is a one-line error."""
        handler = type("Handler", (_Handler,), {"sink": self})
        server_class = _Ipv6Server if ":" in self.host else ThreadingHTTPServer
        try:
            server = server_class((self.host, self.port), handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EdgevisionError(
                    f"cannot serve HTTP on {self.host}:{self.port}: address already in use; "
                    "pick another --http port"
                ) from exc
            raise EdgevisionError(f"cannot serve HTTP on {self.host}:{self.port}: {exc.strerror or exc}") from exc
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]  # the real one when asked for port 0
        self._thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
        self._thread.start()
        if not is_loopback(self.host):
            log.warning("live view on %s, reachable from the network: token required on every endpoint", self.url)
        elif self.token:
            log.info("live view on %s (token required on every endpoint)", self.url)
        else:
            log.info("live view on %s (loopback only, no token)", self.url)

    @property
    def needs_image(self) -> bool:
        return self.state.watching

    def handle(self, result: FrameResult, payload: dict, annotated: np.ndarray | None) -> None:
        self.state.push(result, payload, annotated)

    def update_stats(self, stats: dict) -> None:
        """What only the runner knows: ``{"cameras": {name: source counters}, "mqtt": MQTT stats}``."""
        self.state.update_pipeline(stats)

    def add_event(self, event: dict) -> None:
        """A tracking event (``type``, ``before``, ``after``); call it after :meth:`handle` of its frame."""
        saved = self._save_snapshot(event) if self.snapshots is not None else False
        self.state.add_event(event, saved)

    def close(self) -> None:
        self.state.close()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _save_snapshot(self, event: dict) -> bool:
        """Keep the event's best frame: the one at its ``snapshot_time``, while still recent."""
        after = event.get("after") or {}
        event_id = str(after.get("id", ""))
        if not is_safe_id(event_id):
            return False
        snapshot_time = float(after.get("snapshot_time", after.get("frame_time", 0.0)))
        have = event_id in self.snapshots
        if event.get("type") == "end":
            self._snapshot_times.pop(event_id, None)
        if have and self._snapshot_times.get(event_id) in (snapshot_time, None):
            return True
        camera = str(after.get("camera", ""))
        frame = self.state.frame_at(camera, snapshot_time)
        box = after.get("box") if snapshot_time == after.get("frame_time") else None
        if frame is None and not have:  # best frame already gone: the current one beats none
            frame = self.state.frame_at(camera, float(after.get("frame_time", 0.0)))
            box = after.get("box")
        if frame is None:
            return have
        caption = f"{after.get('label', '')} {float(after.get('top_score', 0.0)):.2f}"
        jpeg = render_event_snapshot(frame.image, box, caption, self.state.jpeg_quality)
        self.snapshots.save(event_id, jpeg)
        if event.get("type") != "end":
            self._snapshot_times[event_id] = snapshot_time
        return True


class _Ipv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class _NoSigpipeWriter(io.RawIOBase):
    """Socket writes that fail with EPIPE instead of raising SIGPIPE.

    The CLI restores SIGPIPE's default action (end the process) so ``edgevision run | head``
    ends quietly; without this, a browser closing a stream would end the whole service.
    """

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self._sock.sendall(data, _NOSIGNAL)
        return memoryview(data).nbytes

    def fileno(self) -> int:
        return self._sock.fileno()


class _Handler(BaseHTTPRequestHandler):
    sink: HttpSink  # set on the subclass made by HttpSink.start
    timeout = CLIENT_TIMEOUT_S
    server_version = "edgevision"

    def setup(self) -> None:
        super().setup()
        self.wfile = _NoSigpipeWriter(self.connection)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), _TOKEN_IN_URL.sub(r"\1***", format % args))

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if not self._authorized(query):
            self._json(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong token"},
                       {"WWW-Authenticate": 'Bearer realm="edgevision"'})  # fmt: skip
            return
        state = self.sink.state
        path = url.path
        try:
            if path in ("/", "/index.html"):
                self._index()
            elif path == "/api/stats":
                stats = state.stats()
                if self.sink.snapshots is not None:
                    ring = self.sink.snapshots
                    stats["snapshots"] = {"files": ring.count, "bytes": ring.total_bytes}
                self._json(HTTPStatus.OK, stats)
            elif path == "/api/events":
                self._json(HTTPStatus.OK, {"events": state.events()})
            elif path == "/metrics":
                ring = self.sink.snapshots
                text = render_metrics(state.metric_samples(), (ring.count, ring.total_bytes) if ring else None)
                self._send(HTTPStatus.OK, METRICS_CONTENT_TYPE, text.encode())
            elif match := _STREAM.match(path):
                if self._camera_known(match["camera"]):
                    self._stream(unquote(match["camera"]), query)
            elif match := _SNAPSHOT.match(path):
                if self._camera_known(match["camera"]):
                    self._snapshot(unquote(match["camera"]), raw=query.get("raw") in ("1", "true"))
            elif match := _EVENT_SNAPSHOT.match(path):
                self._event_snapshot(unquote(match["event"]))
            else:
                self._json(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint: {path}"})
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            log.debug("client %s went away", self.address_string())

    def _authorized(self, query: dict[str, str]) -> bool:
        expected = self.sink.token
        if not expected:
            return True
        header = self.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else query.get("token", "")
        return hmac.compare_digest(given.encode(), expected.encode())

    def _camera_known(self, quoted: str) -> bool:
        camera = unquote(quoted)
        if self.sink.state.has_camera(camera):
            return True
        self._json(HTTPStatus.NOT_FOUND,
                   {"error": f"unknown camera {camera!r}", "cameras": self.sink.state.camera_names()})  # fmt: skip
        return False

    def _index(self) -> None:
        initial = {"stats": self.sink.state.stats(), "events": self.sink.state.events()}
        state = json.dumps(initial, default=_jsonable).replace("</", "<\\/")
        page = INDEX_HTML.read_text(encoding="utf-8").replace(STATE_MARKER, state)
        self._send(HTTPStatus.OK, "text/html; charset=utf-8", page.encode())

    def _snapshot(self, camera: str, raw: bool) -> None:
        state = self.sink.state
        if not raw:
            state.touch()
            if state.wait_frame(camera, 0, annotated=True, timeout=SNAPSHOT_WAIT_S) is None:
                self._json(HTTPStatus.SERVICE_UNAVAILABLE,
                           {"error": f"no annotated frame of {camera!r} yet; try again or add ?raw=1"})  # fmt: skip
                return
        got = state.jpeg(camera, annotated=not raw)
        if got is None:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"no frame of {camera!r} yet"})
            return
        _, frame, data = got
        self._send(HTTPStatus.OK, "image/jpeg", data, _frame_headers(frame))

    def _event_snapshot(self, event_id: str) -> None:
        data = self.sink.snapshots.read(event_id) if self.sink.snapshots is not None else None
        if data is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no snapshot for event {event_id!r}"})
            return
        self._send(HTTPStatus.OK, "image/jpeg", data)

    def _stream(self, camera: str, query: dict[str, str]) -> None:
        """MJPEG until the client leaves or the server closes; newest frame, at most max_fps."""
        try:
            fps = min(float(query.get("fps", self.sink.max_fps)), self.sink.max_fps)
        except ValueError:
            fps = self.sink.max_fps
        interval = 1.0 / max(fps, 0.1)
        state = self.sink.state
        state.client_opened()
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            seq, next_at = 0, 0.0
            while not state.closed.is_set():
                delay = next_at - time.monotonic()
                if delay > 0 and state.closed.wait(delay):
                    break
                if state.wait_frame(camera, seq, annotated=True, timeout=1.0) is None:
                    continue
                got = state.jpeg(camera, annotated=True)
                if got is None:
                    continue
                seq, frame, data = got
                headers = "".join(f"{k}: {v}\r\n" for k, v in _frame_headers(frame).items())
                part = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(data)}\r\n{headers}\r\n"
                self.wfile.write(part.encode() + data + b"\r\n")
                next_at = time.monotonic() + interval
        finally:
            state.client_closed()
        self.close_connection = True

    def _json(self, status: HTTPStatus, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body, default=_jsonable).encode()
        self._send(status, "application/json", data, headers)

    def _send(self, status: HTTPStatus, content_type: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


def _frame_headers(frame) -> dict[str, str]:
    """Which frame a JPEG shows, so clients can match it with the JSON of the same frame."""
    return {"X-Camera": quote(frame.camera), "X-Frame-Index": str(frame.index), "X-Timestamp": f"{frame.timestamp:.6f}"}


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
