"""``edgevision run --http`` end to end: a real subprocess on a real clip with a real TFLite model.

The model (made by the project's own export code) gives the same boxes on every frame; the
published JSON lines on stdout say where, and the MJPEG frames must show them there.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from http_live import (
    COUNT_ROW,
    FRAMES,
    MjpegReader,
    box_edge_color,
    chromium,
    find_video,
    free_port,
    get,
    is_class_color,
    scene_image,
    write_scene_clip,
)
from model_factory import build_model
from prometheus_client.parser import text_string_to_metric_families

CLIP_FPS = 10.0
TOKEN = "run-token"


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("http-run")
    clip = write_scene_clip(folder / "scene.avi", fps=CLIP_FPS)
    labels = folder / "labels.txt"
    labels.write_text("square\nperson\nrocket\n")
    return clip, build_model("yolo-e2e", "float32"), labels


class Run:
    """``edgevision run`` in the background; stdout JSON lines collected by frame index."""

    def __init__(self, args: list[str]) -> None:
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edgevision", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        self.lines: dict[int, dict] = {}
        self.stderr: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            payload = json.loads(line)
            self.lines[payload["frame_index"]] = payload

    def _read_stderr(self) -> None:
        self.stderr.extend(self.process.stderr)

    def wait_serving(self, port: int, timeout: float = 60.0, need_lines: bool = True) -> None:
        """Until the port accepts connections (and, with ``need_lines``, results are coming)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, "".join(self.stderr)
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0 and (self.lines or not need_lines):
                    return
            assert time.monotonic() < deadline, "edgevision did not start serving"
            time.sleep(0.2)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture
def running(setup):
    clip, model, labels = setup
    port = free_port()
    run = Run(["run", "--source", str(clip), "--loop", "--realtime", "--model", str(model),
               "--labels", str(labels), "--http", f"127.0.0.1:{port}"])  # fmt: skip
    try:
        run.wait_serving(port)
        deadline = time.monotonic() + 30
        while len(run.lines) < 1.5 * CLIP_FPS:  # long enough for the fps window to settle
            assert time.monotonic() < deadline, "too few frames processed"
            time.sleep(0.1)
        yield run, f"http://127.0.0.1:{port}/"
    finally:
        assert run.stop() == 0, "".join(run.stderr)


def frames_per_second(run: Run, seconds: float) -> float:
    start, t0 = len(run.lines), time.monotonic()
    time.sleep(seconds)
    return (len(run.lines) - start) / (time.monotonic() - t0)


def test_stream_shows_the_boxes_the_json_lines_report(running):
    run, url = running
    reader = MjpegReader(url + "stream/scene.mjpg")
    parts = reader.frames(5)
    reader.close()
    checked = 0
    for headers, image in parts:
        assert image.shape == (480, 640, 3) and image.std() > 20
        payload = run.lines[int(headers["x-frame-index"])]
        detections = payload["models"][0]["detections"]
        assert detections, "the model reports boxes on every frame"
        for det in detections:
            assert is_class_color(box_edge_color(image, det["box"]), det["class_id"]), det
            checked += 1
    assert checked >= 5


def test_raw_snapshot_stays_clean_while_the_stream_is_drawn(running):
    # The HTTP sink keeps each clean frame, so the pipeline must draw on a copy, not the frame.
    run, url = running
    reader = MjpegReader(url + "stream/scene.mjpg")
    try:
        reader.frames(2)  # someone watches: every frame is drawn from now on
        status, headers, body = get(url + "snapshot/scene.jpg?raw=1")
    finally:
        reader.close()
    assert status == 200
    raw = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    index = int(headers["x-frame-index"])
    scene = scene_image(index % FRAMES)
    detections = run.lines[index]["models"][0]["detections"]
    assert detections
    for det in detections:
        assert np.abs(box_edge_color(raw, det["box"]) - box_edge_color(scene, det["box"])).max() < 20, det


def test_metrics_stats_and_404_from_the_running_pipeline(running):
    run, url = running
    status, _, body = get(url + "metrics")
    assert status == 200
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    fps = next(s.value for s in families["edgevision_fps"].samples if s.labels == {"camera": "scene"})
    assert fps > 0.7 * CLIP_FPS
    running = {s.labels["camera"]: s.value for s in families["edgevision_camera_running"].samples}
    assert running == {"scene": 1}, "the runner's own stats reach /metrics"
    assert [s.labels for s in families["edgevision_frames_dropped"].samples] == [{"camera": "scene"}]
    labels = {s.labels["label"] for s in families["edgevision_detections"].samples}
    assert labels <= {"square", "person", "rocket"} and labels
    stats = json.loads(get(url + "api/stats")[2])["cameras"]["scene"]
    assert sum(stats["counts"].values()) == len(stats["latest"]["models"][0]["detections"])
    status, _, body = get(url + "stream/nope.mjpg")
    assert status == 404 and json.loads(body)["cameras"] == ["scene"]


def test_clients_leaving_mid_stream_do_not_hurt_the_service(running):
    """The CLI restores SIGPIPE's default action (for ``| head``): a closed stream must not kill it."""
    run, url = running
    for _ in range(6):
        reader = MjpegReader(url + "stream/scene.mjpg")
        reader.frames(1)
        reader.close()
        time.sleep(0.3)  # the server writes more frames to the closed connection
    assert run.process.poll() is None, "".join(run.stderr)
    stats = json.loads(get(url + "api/stats")[2])
    assert stats["http"]["stream_clients"] == 0


def test_ten_streams_at_once_keep_the_pipeline_fps(running):
    run, url = running
    alone = frames_per_second(run, 3.0)
    readers = [MjpegReader(url + "stream/scene.mjpg") for _ in range(10)]
    counts = [0] * 10
    stop = threading.Event()

    def read(i: int) -> None:
        while not stop.is_set():
            readers[i].frames(1)
            counts[i] += 1

    threads = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(10)]
    for t in threads:
        t.start()
    watched = frames_per_second(run, 4.0)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    for reader in readers:
        reader.close()
    assert min(counts) >= 0.5 * 4.0 * CLIP_FPS, counts
    assert watched > 0.85 * alone, f"{alone:.1f} fps alone, {watched:.1f} fps with ten streams"


def test_a_token_is_needed_beyond_loopback_and_checked(setup):
    clip, model, labels = setup
    port = free_port()
    refused = subprocess.run(
        [sys.executable, "-m", "edgevision", "run", "--source", str(clip), "--model", str(model),
         "--http", f"0.0.0.0:{port}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "binding to 0.0.0.0 needs" in refused.stderr and "token" in refused.stderr
    assert "Traceback" not in refused.stderr
    run = Run(["run", "--source", str(clip), "--loop", "--realtime", "--model", str(model),
               "--http", f"0.0.0.0:{port}", "--http-token", TOKEN])  # fmt: skip
    try:
        run.wait_serving(port)
        assert "token required" in "".join(run.stderr)
        for path in ("", "api/stats", "metrics", "snapshot/scene.jpg"):
            assert get(f"http://127.0.0.1:{port}/{path}")[0] == 401
            assert get(f"http://127.0.0.1:{port}/{path}", token="wrong")[0] == 401
            assert get(f"http://127.0.0.1:{port}/{path}", token=TOKEN)[0] == 200
        assert get(f"http://127.0.0.1:{port}/snapshot/scene.jpg?raw=1&token={TOKEN}")[0] == 200
    finally:
        assert run.stop() == 0, "".join(run.stderr)


def test_port_in_use_is_a_clear_startup_error(setup):
    clip, model, _ = setup
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "edgevision", "run", "--source", str(clip), "--model", str(model),
             "--http", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot serve HTTP on 127.0.0.1:{port}: address already in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == "", "nothing was processed"


def test_page_in_chromium_shows_the_video_and_the_counts(setup, tmp_path):
    clip, model, labels = setup
    port = free_port()
    run = Run(["run", "--source", str(clip), "--loop", "--realtime", "--model", str(model), "--labels",
               str(labels), "--output", "none", "--http", f"127.0.0.1:{port}", "--http-token", TOKEN])  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        run.wait_serving(port, need_lines=False)
        deadline = time.monotonic() + 30
        while not json.loads(get(url + "api/stats", token=TOKEN)[2])["cameras"]:
            assert time.monotonic() < deadline, "no frame was processed"
            time.sleep(0.2)
        shot = tmp_path / "page.png"
        result = chromium(tmp_path, f"--screenshot={shot}", f"{url}?token={TOKEN}")
        assert result.returncode == 0, result.stderr[-2000:]
        dom = chromium(tmp_path, "--dump-dom", f"{url}?token={TOKEN}")
        stats = json.loads(get(url + "api/stats", token=TOKEN)[2])["cameras"]["scene"]
    finally:
        assert run.stop() == 0, "".join(run.stderr)
    score, _, _ = find_video(cv2.imread(str(shot)))
    assert score > 0.8, f"the video frame is not on the page (best match {score:.2f})"
    counts = {label: int(n) for label, n in re.findall(COUNT_ROW, dom.stdout)}
    assert counts and counts == stats["counts"]
