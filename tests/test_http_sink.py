"""The live-view HTTP sink over real HTTP, fed real frames of a real clip as the pipeline does."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from edgevision.errors import EdgevisionError, UsageError
from edgevision.http import HttpSink
from http_live import (
    MODEL,
    PERSON_BOX,
    Feeder,
    MjpegReader,
    box_edge_color,
    get,
    is_class_color,
    write_scene_clip,
)

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_scene_clip(tmp_path_factory.mktemp("clip") / "scene.avi")


@pytest.fixture
def sink(tmp_path):
    sink = HttpSink("127.0.0.1", 0, snapshot_dir=tmp_path / "snapshots", max_fps=15)
    sink.start()
    yield sink
    sink.close()


@pytest.fixture
def fed(sink, clip):
    feeder = Feeder(sink, clip)
    feeder.start()
    feeder.wait_frames(3)
    yield sink, feeder
    feeder.stop()


def wait_until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_stream_frames_are_jpegs_with_boxes_where_the_json_says(fed):
    sink, feeder = fed
    reader = MjpegReader(sink.url + "stream/yard.mjpg")
    try:
        parts = reader.frames(6)
    finally:
        reader.close()
    indexes = [int(h["x-frame-index"]) for h, _ in parts]
    assert indexes == sorted(set(indexes)), "each part is a newer frame"
    for headers, image in parts:
        assert image.shape == (480, 640, 3)
        assert image.std() > 20, "a real picture, not a blank frame"
        payload = feeder.payloads[int(headers["x-frame-index"])]
        for det in payload["models"][0]["detections"]:
            assert is_class_color(box_edge_color(image, det["box"]), det["class_id"]), det


def test_snapshot_matches_stats_json_and_raw_has_no_boxes(fed):
    sink, feeder = fed
    status, headers, body = get(sink.url + "snapshot/yard.jpg")  # makes the pipeline draw
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    feeder.wait_frames(feeder.frames + 3)
    feeder.stop()  # now the latest frame, its JSON and both snapshots agree
    status, headers, body = get(sink.url + "snapshot/yard.jpg")
    annotated = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    status_raw, headers_raw, body_raw = get(sink.url + "snapshot/yard.jpg?raw=1")
    raw = cv2.imdecode(np.frombuffer(body_raw, np.uint8), cv2.IMREAD_COLOR)
    latest = json.loads(get(sink.url + "api/stats")[2])["cameras"]["yard"]["latest"]
    assert status_raw == 200
    assert int(headers["X-Frame-Index"]) == int(headers_raw["X-Frame-Index"]) == latest["frame_index"]
    detections = latest["models"][0]["detections"]
    assert [d["label"] for d in detections] == ["square", "person"]
    for det in detections:
        assert is_class_color(box_edge_color(annotated, det["box"]), det["class_id"])
        assert not is_class_color(box_edge_color(raw, det["box"]), det["class_id"])


def test_each_client_gets_at_most_the_rate_it_asked_for(fed):
    sink, feeder = fed  # the clip plays at 20 fps, the server caps streams at 15
    for asked, expected in ((5, 5.0), (100, 15.0)):
        reader = MjpegReader(sink.url + f"stream/yard.mjpg?fps={asked}")
        reader.frames(1)
        start = time.monotonic()
        parts = reader.frames(10)
        rate = 10 / (time.monotonic() - start)
        reader.close()
        assert 0.7 * expected < rate < 1.1 * expected, f"asked {asked} fps, got {rate:.1f}"
        indexes = [int(h["x-frame-index"]) for h, _ in parts]
        assert indexes[-1] - indexes[0] > len(indexes) - 1, "frames in between were dropped for it"


def test_nothing_is_encoded_or_drawn_while_nobody_watches(fed):
    sink, feeder = fed
    feeder.wait_frames(feeder.frames + 10)
    assert not sink.needs_image
    assert feeder.drawn == 0
    stats = json.loads(get(sink.url + "api/stats")[2])
    assert stats["http"] == {"stream_clients": 0, "jpeg_encodes": 0}
    reader = MjpegReader(sink.url + "stream/yard.mjpg")
    reader.frames(2)
    assert sink.needs_image and feeder.drawn > 0
    reader.close()
    wait_until(lambda: not sink.needs_image, what="the stream client to be forgotten")
    drawn = feeder.drawn
    feeder.wait_frames(feeder.frames + 5)
    assert feeder.drawn - drawn <= 1, "drawing stops once the last client left"


def test_stats_and_events_json(fed):
    sink, feeder = fed
    wait_until(lambda: any(e["type"] == "new" for e in feeder.events), what="a tracking event")
    stats = json.loads(get(sink.url + "api/stats")[2])
    camera = stats["cameras"]["yard"]
    assert camera["counts"] == {"person": 1, "square": 1}
    assert camera["fps"] > 5 and camera["frames"] >= 3
    assert camera["inference_ms"] > 0
    assert set(camera["timings_ms"]) >= {"inference", f"{MODEL}/invoke", f"{MODEL}/decode"}
    events = json.loads(get(sink.url + "api/events")[2])["events"]
    assert {e["after"]["label"] for e in events} == {"square", "person"}
    assert all(e["after"]["camera"] == "yard" for e in events)


def test_metrics_parse_with_the_prometheus_parser(fed):
    sink, feeder = fed
    sink.update_stats({
        "cameras": {"yard": {"running": True, "frames_dropped": 7, "reconnects": 2}, "gate": {"running": False}},
        "mqtt": {"connected": True, "reconnects": 1, "events_queued": 3, "events_dropped": 4, "messages_dropped": 5},
    })  # the shape the runner sends: source counters per camera, MQTT's own
    feeder.wait_frames(feeder.frames + 5)
    status, headers, body = get(sink.url + "metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    value = {name: {tuple(sorted(s.labels.items())): s.value for s in f.samples} for name, f in families.items()}
    frames = value["edgevision_frames"][(("camera", "yard"),)]
    assert frames >= 5
    assert value["edgevision_fps"][(("camera", "yard"),)] > 5
    assert value["edgevision_inference_ms"][(("camera", "yard"),)] > 0
    assert (("camera", "yard"), ("model", MODEL), ("stage", "invoke")) in value["edgevision_stage_ms"]
    detected = value["edgevision_detections"]
    for label in ("square", "person"):
        key = (("camera", "yard"), ("label", label), ("model", MODEL))
        assert detected[key] >= frames  # counted by the time the frame counter was read
        assert value["edgevision_objects"][key] == 1
    assert value["edgevision_frames_dropped"] == {(("camera", "yard"),): 7, (("camera", "gate"),): 0}
    assert value["edgevision_reconnects"][(("camera", "yard"),)] == 2
    assert value["edgevision_camera_running"] == {(("camera", "yard"),): 1, (("camera", "gate"),): 0}
    assert value["edgevision_mqtt_queue_depth"][()] == 3
    assert value["edgevision_mqtt_connected"][()] == 1
    assert value["edgevision_mqtt_dropped"] == {(("kind", "event"),): 4, (("kind", "other"),): 5}
    assert families["edgevision_frames"].type == "counter"
    assert families["edgevision_fps"].type == "gauge"


def test_unknown_camera_and_path_are_404_json(fed):
    sink, _ = fed
    for path in ("stream/garage.mjpg", "snapshot/garage.jpg", "events/nope.jpg", "nothing/here"):
        status, headers, body = get(sink.url + path)
        assert status == 404, path
        assert headers["Content-Type"] == "application/json"
        assert "error" in json.loads(body)
    assert json.loads(get(sink.url + "stream/garage.mjpg")[2])["cameras"] == ["yard"]


ENDPOINTS = ("", "api/stats", "api/events", "metrics", "snapshot/yard.jpg?raw=1", "stream/yard.mjpg")


def test_token_is_checked_on_every_endpoint(tmp_path, clip, caplog):
    caplog.set_level(logging.DEBUG, logger="edgevision.http.server")
    sink = HttpSink("127.0.0.1", 0, token=TOKEN)
    sink.start()
    feeder = Feeder(sink, clip)
    feeder.start()
    try:
        feeder.wait_frames(2)
        for path in ENDPOINTS:
            url = sink.url + path
            assert get(url)[0] == 401, path
            assert get(url, token="wrong")[0] == 401, path
            status, headers, _ = get(url + ("&" if "?" in url else "?") + "token=nope")
            assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), path
            if path.startswith("stream/"):
                for reader in (MjpegReader(url, token=TOKEN), MjpegReader(url + "?token=" + TOKEN)):
                    assert len(reader.frames(1)) == 1
                    reader.close()
            else:
                assert get(url, token=TOKEN)[0] == 200, path
                assert get(url + ("&" if "?" in url else "?") + "token=" + TOKEN)[0] == 200, path
    finally:
        feeder.stop()
        sink.close()
    assert "token=***" in caplog.text and TOKEN not in caplog.text, "request logs hide the token"


def test_binding_beyond_loopback_needs_a_token():
    with pytest.raises(UsageError, match="0.0.0.0 needs --http-token"):
        HttpSink("0.0.0.0", 0)
    sink = HttpSink("0.0.0.0", 0, token=TOKEN)
    sink.start()
    try:
        port = sink.port
        assert get(f"http://127.0.0.1:{port}/api/stats")[0] == 401
        assert get(f"http://127.0.0.1:{port}/api/stats", token=TOKEN)[0] == 200
    finally:
        sink.close()


def test_ipv6_loopback_needs_no_token():
    sink = HttpSink("::1", 0)
    sink.start()
    try:
        assert sink.url == f"http://[::1]:{sink.port}/"
        assert get(sink.url + "api/stats")[0] == 200
    finally:
        sink.close()


def test_port_in_use_is_one_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sink = HttpSink("127.0.0.1", port)
        with pytest.raises(EdgevisionError, match=f"127.0.0.1:{port}: address already in use"):
            sink.start()


def test_ten_streams_at_once_keep_the_pipeline_fps(fed):
    sink, feeder = fed
    readers = [MjpegReader(sink.url + "stream/yard.mjpg") for _ in range(10)]
    counts = [0] * 10

    def read(i: int) -> None:
        for _ in range(20):
            readers[i].frames(1)
            counts[i] += 1

    start_frames, start = feeder.frames, time.monotonic()
    encodes_before = sink.state.jpeg_encodes
    late_before = len(feeder.lateness)
    threads = [threading.Thread(target=read, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    elapsed = time.monotonic() - start
    fps = (feeder.frames - start_frames) / elapsed
    for reader in readers:
        reader.close()
    assert counts == [20] * 10
    encodes = sink.state.jpeg_encodes - encodes_before
    assert encodes <= feeder.frames - start_frames + 1, "one encode per frame, shared by all ten clients"
    assert fps > 0.85 * feeder.fps, f"pipeline fell to {fps:.1f} fps with ten streams"
    assert max(feeder.lateness[late_before:]) < 0.5
    wait_until(lambda: json.loads(get(sink.url + "api/stats")[2])["http"]["stream_clients"] == 0,
               what="all ten clients to be gone")  # fmt: skip


def test_a_client_that_stops_reading_or_vanishes_leaves_nothing_behind(fed):
    sink, feeder = fed
    threads_before = threading.active_count()
    stuck = socket.create_connection(("127.0.0.1", sink.port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.sendall(b"GET /stream/yard.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads
    vanishing = [MjpegReader(sink.url + "stream/yard.mjpg") for _ in range(3)]
    for reader in vanishing:
        reader.frames(1)
        reader.response.fp.raw._sock.shutdown(socket.SHUT_RDWR)  # gone mid-stream
        reader.close()
    start_frames, start = feeder.frames, time.monotonic()
    healthy = MjpegReader(sink.url + "stream/yard.mjpg")
    assert len(healthy.frames(15)) == 15, "a stuck client does not hold back the others"
    fps = (feeder.frames - start_frames) / (time.monotonic() - start)
    assert fps > 0.85 * feeder.fps
    healthy.close()
    stuck.close()
    wait_until(lambda: json.loads(get(sink.url + "api/stats")[2])["http"]["stream_clients"] == 0,
               what="every stream client to be gone")  # fmt: skip
    wait_until(lambda: threading.active_count() <= threads_before, what="handler threads to end")


def test_event_snapshots_show_the_best_frame_and_are_served(fed, tmp_path):
    sink, feeder = fed
    wait_until(lambda: sum(e["type"] == "update" for e in feeder.events) >= 2, what="event updates")
    events = json.loads(get(sink.url + "api/events")[2])["events"]
    square = next(e for e in events if e["after"]["label"] == "square")
    assert square["after"]["has_snapshot"]
    files = sorted(p.name for p in (tmp_path / "snapshots").iterdir())
    assert f"{square['after']['id']}.jpg" in files
    status, headers, body = get(sink.url + f"events/{square['after']['id']}.jpg")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3) and image.std() > 20
    person = next(e for e in events if e["after"]["label"] == "person")
    assert person["after"]["has_snapshot"]  # the person's best frame is its first: drawn box
    status, _, body = get(sink.url + f"events/{person['after']['id']}.jpg")
    image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    x1, y1, x2, y2 = (int(v) for v in PERSON_BOX)
    outline = image[y1 + 20 : y2 - 3, x1].astype(float).mean(axis=0)
    assert np.abs(outline - (0, 255, 0)).max() < 60, "the event's box is drawn on its snapshot"


SIGPIPE_SERVER = """
import signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # as the CLI does, for `edgevision run | head`
from http_live import Feeder
from edgevision.http import HttpSink
sink = HttpSink("127.0.0.1", 0)
sink.start()
feeder = Feeder(sink, sys.argv[1])
feeder.start()
feeder.wait_frames(2)
print(sink.port, flush=True)
sys.stdin.read()
"""


def test_closed_streams_do_not_kill_a_process_with_default_sigpipe(clip):
    tests = Path(__file__).resolve().parent
    server = subprocess.Popen(
        [sys.executable, "-c", SIGPIPE_SERVER, str(clip)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True, cwd=tests, env={**os.environ, "PYTHONPATH": f"{tests}:{tests.parent}"},
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/"
        for _ in range(6):
            reader = MjpegReader(url + "stream/yard.mjpg")
            reader.frames(1)
            reader.close()
            time.sleep(0.3)  # the server writes more frames to the closed connection
        assert server.poll() is None, f"the server died with {server.returncode}"
        assert get(url + "api/stats")[0] == 200
    finally:
        server.kill()
        server.wait()
