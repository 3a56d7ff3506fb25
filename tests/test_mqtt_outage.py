"""The broker away: runtime started first, broker restarted mid-run, the queue bound, and a
frame loop that never waits. Every event the runtime made must arrive, in order."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest

from edgevision.sinks.mqtt import MqttSink
from edgevision.sinks.payload import frame_payload
from edgevision.tracking import EventBuilder
from mosquitto import Mosquitto, Subscriber
from mqtt_helpers import HEIGHT, LABELS, WIDTH, detections, frame_result, settings

T0 = 1_700_000_000.0
FPS = 10.0


def frames_with_new_objects(first: int, count: int) -> list:
    """Frame i shows a fresh tracked object i: each frame makes a ``new`` event, and objects
    unseen for longer than the builder's limit make ``end`` events."""
    return [detections([(i % 200, 10, i % 200 + 40, 90, 0.9, 0)], [i]) for i in range(first, first + count)]


def expected_events(frames: list, closed: bool = False) -> list[tuple]:
    """What the sink must publish for these frames (and, once closed, the ends of the objects
    still open), from a reference builder."""
    builder = EventBuilder("porch", LABELS)
    events = []
    for i, dets in enumerate(frames):
        events += builder.update(dets, T0 + i / FPS, (WIDTH, HEIGHT))
    if closed:
        events += builder.finish()
    return [key(e) for e in events]


def key(event: dict) -> tuple:
    after = event["after"]
    return (event["type"], after["start_time"], after["frame_time"])


def received(sub: Subscriber) -> list[tuple]:
    """Events in arrival order; a QoS 1 redelivery (same type and id) is counted once."""
    seen, out = set(), []
    for event in sub.json("ev/events"):
        ident = (event["type"], event["after"]["id"])
        if ident not in seen:
            seen.add(ident)
            out.append(key(event))
    return out


def publish_frames(sink: MqttSink, frames: list, start: int) -> list[float]:
    """Publish ``frames`` as indexes ``start``...; return how long each publish took."""
    durations = []
    for i, dets in enumerate(frames, start):
        result = frame_result(i, dets, timestamp=T0 + i / FPS)
        payload = frame_payload(result)
        t = time.perf_counter()
        sink.publish(result, payload)
        durations.append(time.perf_counter() - t)
    return durations


def subscriber_with_session(broker: Mosquitto) -> Subscriber:
    """Subscribe once so the broker keeps a persistent session (and queues for it) from now on."""
    return Subscriber(broker.port, "ev/#", client_id="events-consumer")


def test_broker_restarted_mid_run_every_event_arrives_in_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="edgevision.sinks.mqtt")
    broker = Mosquitto(tmp_path / "broker").start()
    sub = subscriber_with_session(broker)
    sink = MqttSink(settings(broker.port), ["porch"], ["person"])
    sink.start()
    frames = frames_with_new_objects(0, 60)
    try:
        publish_frames(sink, frames[:20], 0)
        time.sleep(0.02)  # stop while events are still on their way, some not yet acknowledged
        broker.stop()
        time.sleep(0.5)
        durations = publish_frames(sink, frames[20:40], 20)  # broker gone: these wait in the queue
        assert sink.stats()["connected"] is False
        assert sink.stats()["events_queued"] > 0
        broker.start()
        assert sub.wait(lambda s: s.payloads("ev/available")[-1:] == ["online"])
        publish_frames(sink, frames[40:], 40)
        assert sub.wait(lambda s: len(received(s)) == len(expected_events(frames)), timeout=20)
        stats = sink.stats()
        sink.close()
        assert sub.wait(lambda s: len(received(s)) == len(expected_events(frames, closed=True)))
    finally:
        sink.close()
        sub.close()
        broker.stop()
    assert received(sub) == expected_events(frames, closed=True)
    assert stats["reconnects"] == 1 and stats["events_dropped"] == 0
    assert max(durations) < 0.25  # blocking on the network would take seconds; 2 busy cores stall ~0.1 s
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([w for w in warnings if "lost" in w]) == 1, warnings
    assert len(warnings) == 1, warnings  # retries while it was down did not log one line each


def test_runtime_started_before_the_broker(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    broker = Mosquitto(tmp_path / "broker").start()
    subscriber_with_session(broker).close()
    broker.stop()
    caplog.set_level(logging.INFO, logger="edgevision.sinks.mqtt")
    sink = MqttSink(settings(broker.port), ["porch"], ["person"])
    started = time.monotonic()
    sink.start()  # nothing listens: must not raise, must not wait long
    assert time.monotonic() - started < 1.0
    frames = frames_with_new_objects(0, 15)
    try:
        durations = publish_frames(sink, frames, 0)
        time.sleep(1.0)  # several reconnect attempts
        assert sink.stats()["connect_failures"] >= 3
        broker.start()
        sub = subscriber_with_session(broker)
        assert sub.wait(lambda s: len(received(s)) == len(expected_events(frames)))
        assert received(sub) == expected_events(frames)
        assert sub.wait(lambda s: s.payloads("ev/available")[-1:] == ["online"])
        sub.close()
    finally:
        sink.close()
        broker.stop()
    assert max(durations) < 0.25  # blocking on the network would take seconds; 2 busy cores stall ~0.1 s
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == ["WARNING", "INFO"], messages
    assert "unreachable" in messages[0][1] and f"127.0.0.1:{broker.port}" in messages[0][1]
    assert "queue of 1000" in messages[0][1]
    assert "connected" in messages[1][1]


def test_queue_bound_drops_the_oldest_events_and_counts_them(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "broker").start()
    subscriber_with_session(broker).close()
    broker.stop()
    sink = MqttSink(settings(broker.port, queue_size=5), ["porch"], ["person"])
    sink.start()
    frames = frames_with_new_objects(0, 14)
    expected = expected_events(frames)
    assert len(expected) > 5
    try:
        publish_frames(sink, frames, 0)
        stats = sink.stats()
        assert stats["events_dropped"] == len(expected) - 5
        assert stats["events_queued"] == 5
        broker.start()
        sub = subscriber_with_session(broker)
        assert sub.wait(lambda s: len(received(s)) == 5)
        time.sleep(0.3)
        assert received(sub) == expected[-5:]
        sink.publish_stats({})
        assert sub.wait(lambda s: len(s.on("ev/stats")) == 1)
        assert sub.json("ev/stats")[0]["mqtt"]["events_dropped"] == len(expected) - 5
        sub.close()
    finally:
        sink.close()
        broker.stop()


def test_frame_loop_never_waits_on_an_unreachable_host() -> None:
    # A non-routable address: connecting hangs until paho's connect timeout, or fails at once
    # where there is no route. Either way the frame loop must not notice.
    sink = MqttSink(
        settings(1883, url="mqtt://10.255.255.1:1883/ev", connect_wait_s=0.2), ["porch"], ["person"]
    )
    started = time.monotonic()
    sink.start()
    assert time.monotonic() - started < 0.5
    durations = publish_frames(sink, frames_with_new_objects(0, 300), 0)
    assert max(durations) < 0.25  # blocking on the network would take seconds; 2 busy cores stall ~0.1 s
    assert float(np.median(durations)) < 0.005
    assert sink.stats()["events_queued"] > 0
    sink.close()
