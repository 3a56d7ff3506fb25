"""Helpers for the live-view HTTP tests: a scene clip, a small pipeline feeding the sink, an MJPEG reader.

The clip is a real photo (scikit-image's astronaut) with a white square sliding across it, so
frames are not blank and the square's box is known for every frame. :class:`Feeder` plays the
clip through the real file source, tracker, event builder, payload and drawing code, with
detections built from that known geometry, and hands every frame to the sink as the pipeline
does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np
from skimage import data as skdata

from edgevision.core import Detections, FrameResult, Labels, ModelResult
from edgevision.sinks.draw import class_color, draw_frame_result
from edgevision.sinks.payload import frame_payload
from edgevision.sources.factory import open_source
from edgevision.tracking import EventBuilder, IouTracker

FRAMES = 40
SIZE = (640, 480)  # width, height
SQUARE = 60
LABELS = Labels.from_list(["square", "person"])
PERSON_BOX = (190.0, 20.0, 330.0, 190.0)  # the astronaut's head, in the resized photo
MODEL = "shapes"


def square_box(index: int) -> tuple[float, float, float, float]:
    x = 40 + 12 * (index % FRAMES)
    return (float(x), 240.0, float(x + SQUARE), 240.0 + SQUARE)


def scene_image(index: int) -> np.ndarray:
    photo = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    image = cv2.resize(photo, SIZE, interpolation=cv2.INTER_AREA)
    x1, y1, x2, y2 = (int(v) for v in square_box(index))
    image[y1:y2, x1:x2] = 255
    return image


def write_scene_clip(path: Path, fps: float = 20.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SIZE)
    assert writer.isOpened()
    for i in range(FRAMES):
        writer.write(scene_image(i))
    writer.release()
    return path


def detections_for(index: int) -> Detections:
    """The square (score rising over the clip, so events get better snapshots) and the person."""
    return Detections(
        xyxy=np.array([square_box(index), PERSON_BOX], np.float32),
        scores=np.array([0.5 + 0.01 * (index % FRAMES), 0.9], np.float32),
        class_ids=np.array([0, 1], np.int32),
    )


class Feeder(threading.Thread):
    """Plays the clip into ``sink`` at ``fps`` (looping), the way the pipeline calls a sink."""

    def __init__(self, sink, clip: Path, *, fps: float = 20.0, camera: str = "yard",
                 max_frames: int | None = None) -> None:  # fmt: skip
        super().__init__(daemon=True)
        self.sink, self.clip, self.fps, self.camera = sink, clip, fps, camera
        self.max_frames = max_frames
        self.frames = 0
        self.drawn = 0
        self.events: list[dict] = []
        self.payloads: OrderedDict[int, dict] = OrderedDict()
        self.lateness: list[float] = []  # seconds behind schedule, per frame
        self.error: BaseException | None = None
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def _run(self) -> None:
        source = open_source(str(self.clip), camera_name=self.camera, loop=True)
        tracker = IouTracker(min_hits=2)
        events = EventBuilder(self.camera, LABELS, update_interval_s=0.2)
        start = time.monotonic()
        try:
            for frame in source:
                if self._stop_event.is_set():
                    break
                due = start + self.frames / self.fps
                self.lateness.append(max(0.0, time.monotonic() - due))
                self._stop_event.wait(max(0.0, due - time.monotonic()))
                t0 = time.perf_counter()
                tracked, ended = tracker.update(detections_for(frame.index), frame.timestamp)
                ms = (time.perf_counter() - t0) * 1e3
                model = ModelResult(MODEL, tracked, LABELS, {"preprocess": 0.1, "invoke": ms, "decode": 0.1})
                result = FrameResult(frame, (model,), {"inference": ms + 0.2})
                payload = frame_payload(result)
                annotated = draw_frame_result(frame.image, result, self.fps) if self.sink.needs_image else None
                self.drawn += annotated is not None
                self.sink.handle(result, payload, annotated)
                size = (frame.width, frame.height)
                for event in events.update(tracked, frame.timestamp, size, [t.id for t in ended]):
                    self.events.append(event)
                    self.sink.add_event(event)
                self.payloads[frame.index] = payload
                while len(self.payloads) > 400:
                    self.payloads.popitem(last=False)
                self.frames += 1
                if self.max_frames is not None and self.frames >= self.max_frames:
                    break
        finally:
            source.close()

    def wait_frames(self, n: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.frames < n:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, f"only {self.frames} of {n} frames fed in {timeout} s"
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
        if self.error is not None:
            raise self.error


def get(url: str, token: str | None = None, timeout: float = 10.0):
    """(status, headers, body) of a GET, HTTP errors included."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


class MjpegReader:
    """Reads ``multipart/x-mixed-replace`` parts from a live stream, one at a time."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0) -> None:
        request = urllib.request.Request(url)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        self.response = urllib.request.urlopen(request, timeout=timeout)
        content_type = self.response.headers["Content-Type"]
        assert content_type.startswith("multipart/x-mixed-replace"), content_type
        self.boundary = b"--" + content_type.split("boundary=")[1].strip().encode()

    def next_part(self) -> tuple[dict[str, str], bytes]:
        line = self.response.readline()
        while line.strip() != self.boundary:
            assert line, "stream ended"
            line = self.response.readline()
        headers = {}
        while (line := self.response.readline().strip()):
            key, value = line.decode().split(":", 1)
            headers[key.strip().lower()] = value.strip()
        body = self.response.read(int(headers["content-length"]))
        return headers, body

    def frames(self, n: int) -> list[tuple[dict[str, str], np.ndarray]]:
        out = []
        for _ in range(n):
            headers, body = self.next_part()
            assert headers["content-type"] == "image/jpeg"
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
            assert image is not None, "a part is not a valid JPEG"
            out.append((headers, image))
        return out

    def close(self) -> None:
        self.response.close()


def box_edge_color(image: np.ndarray, box: list[float]) -> np.ndarray:
    """Mean BGR along the left edge of ``box``, below the label tag, where the outline is drawn."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    return image[y1 + 25 : y2 - 3, x1].reshape(-1, 3).astype(float).mean(axis=0)


def is_class_color(color: np.ndarray, class_id: int, tolerance: float = 45.0) -> bool:
    return bool(np.abs(color - np.array(class_color(class_id), float)).max() < tolerance)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CHROMIUM = shutil.which("chromium")
COUNT_ROW = r'<tr class="count" data-label="([^"]+)"><td>[^<]*</td><td class="n">(\d+)</td>'


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium as DESIGN.md says; ``--timeout`` because a live MJPEG page never finishes loading."""
    assert CHROMIUM, "these tests need Debian's chromium: apt-get install chromium"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--timeout=3000", "--window-size=1280,900", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=90)


def find_video(screenshot: np.ndarray) -> tuple[float, tuple[int, int], float]:
    """Where the clip's still background (the rocket) shows on the page: (score, top-left, scale).

    A coarse search over scales at quarter resolution, then a fine one around the best match.
    """
    patch = scene_image(0)[40:230, 430:630]  # above the sliding square, right of the person box
    small = cv2.resize(screenshot, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    _, where, scale = _best_match(small, patch, np.arange(0.5, 2.01, 0.05) / 4)
    x, y, margin = where[0] * 4, where[1] * 4, 12
    region = screenshot[max(y - margin, 0) :, max(x - margin, 0) :]
    height, width = (int(n * (scale * 4 + 0.05)) + 2 * margin for n in patch.shape[:2])
    region = region[:height, :width]
    score, (dx, dy), fine = _best_match(region, patch, np.arange(scale * 4 - 0.05, scale * 4 + 0.051, 0.01))
    return score, (max(x - margin, 0) + dx, max(y - margin, 0) + dy), fine


def _best_match(image: np.ndarray, patch: np.ndarray, scales: np.ndarray) -> tuple[float, tuple[int, int], float]:
    best = (-1.0, (0, 0), 1.0)
    for scale in scales:
        template = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if template.shape[0] > image.shape[0] or template.shape[1] > image.shape[1]:
            continue
        _, score, _, where = cv2.minMaxLoc(cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED))
        if score > best[0]:
            best = (float(score), where, float(scale))
    return best
