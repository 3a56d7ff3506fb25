"""The MQTT sink against a real mosquitto: availability, detections, events, counts,
discovery, commands and stats, checked by a paho subscriber."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgevision.sinks.mqtt import MqttSink
from edgevision.sinks.payload import frame_payload
from mosquitto import Mosquitto, Subscriber
from mqtt_helpers import detections, feed, frame_result, settings, walk_through


@pytest.fixture
def broker(tmp_path: Path):
    broker = Mosquitto(tmp_path / "broker").start()
    yield broker
    broker.stop()


@pytest.fixture
def sub(broker: Mosquitto):
    subscriber = Subscriber(broker.port, "#")
    yield subscriber
    subscriber.close()


@pytest.fixture
def sink(broker: Mosquitto):
    sink = MqttSink(settings(broker.port, rate_hz=None), ["porch"], ["person", "car"])
    sink.start()
    yield sink
    sink.close()


def test_available_online_then_offline_on_clean_close(broker: Mosquitto, sub: Subscriber) -> None:
    sink = MqttSink(settings(broker.port), ["porch"], ["person"])
    start = time.monotonic()
    sink.start()
    assert time.monotonic() - start < 1.0  # a reachable broker answers at once
    assert sub.wait(lambda s: s.payloads("ev/available") == ["online"])
    assert sink.stats()["connected"] is True
    sink.close()
    assert sub.wait(lambda s: s.payloads("ev/available") == ["online", "offline"])
    time.sleep(0.3)
    assert sub.payloads("ev/available") == ["online", "offline"]  # no last will after a clean close
    late = Subscriber(broker.port, "ev/available")  # retained: a newcomer learns it is offline
    assert late.wait(lambda s: s.payloads("ev/available") == ["offline"])
    assert late.on("ev/available")[0].retain
    late.close()


CHILD = """
import sys, time
from edgevision.sinks.mqtt import MqttSettings, MqttSink
sink = MqttSink(MqttSettings.from_url(sys.argv[1], client_id="child"), ["porch"], ["person"])
sink.start()
print("started", flush=True)
time.sleep(60)
"""


def test_last_will_says_offline_when_the_runtime_is_killed(broker: Mosquitto, sub: Subscriber) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, f"mqtt://127.0.0.1:{broker.port}/ev"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        assert child.stdout.readline().strip() == "started"
        assert sub.wait(lambda s: s.payloads("ev/available") == ["online"])
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        assert sub.wait(lambda s: s.payloads("ev/available") == ["online", "offline"])
        late = Subscriber(broker.port, "ev/available")  # the will was retained
        assert late.wait(lambda s: s.payloads("ev/available") == ["offline"])
        late.close()
    finally:
        child.kill()


def test_detections_carry_the_per_frame_payload(sink: MqttSink, sub: Subscriber) -> None:
    results = [
        frame_result(i, detections([(10 + i, 20, 60 + i, 90, 0.9, 0), (100, 100, 150, 200, 0.7, 1)]))
        for i in range(5)
    ]
    payloads = [frame_payload(r) for r in results]
    for result, payload in zip(results, payloads):
        sink.publish(result, payload)
        time.sleep(0.12)  # QoS 0 keeps only the newest unsent frame per topic; let each go out
    assert sub.wait(lambda s: len(s.on("ev/porch/detections")) == 5)
    got = sub.json("ev/porch/detections")
    assert got == json.loads(json.dumps(payloads))
    assert got[0]["models"][0]["detections"][0]["label"] == "person"
    assert all(m.qos == 0 and not m.retain for m in sub.on("ev/porch/detections"))


def test_detections_rate_limit(broker: Mosquitto, sub: Subscriber) -> None:
    sink = MqttSink(settings(broker.port, rate_hz=2.0), ["porch"], ["person"])
    sink.start()
    try:
        t0 = time.time()
        for i in range(40):  # 4 s of frames at 10 fps
            result = frame_result(i, detections([]), timestamp=t0 + i / 10)
            sink.publish(result, frame_payload(result))
            time.sleep(0.01)
    finally:
        sink.close()
    assert sub.wait(lambda s: s.payloads("ev/available")[-1:] == ["offline"])
    indexes = [p["frame_index"] for p in sub.json("ev/porch/detections")]
    assert indexes == [0, 5, 10, 15, 20, 25, 30, 35]


def test_object_entering_and_leaving_makes_new_updates_and_one_end(sink: MqttSink, sub: Subscriber) -> None:
    feed(sink, walk_through())
    assert sub.wait(lambda s: [e["type"] for e in s.json("ev/events")][-1:] == ["end"])
    events = sub.json("ev/events")
    kinds = [e["type"] for e in events]
    assert kinds[0] == "new" and kinds.count("new") == 1 and kinds.count("end") == 1
    assert set(kinds[1:-1]) == {"update"}
    assert len({e["after"]["id"] for e in events}) == 1
    end = events[-1]["after"]
    assert end["camera"] == "porch" and end["label"] == "person" and end["end_time"] is not None
    assert end["top_score"] == pytest.approx(0.6 + 0.015 * 19)
    # Confirmed on its third frame (index 5), last seen at index 22, at 10 fps.
    assert end["end_time"] - end["start_time"] == pytest.approx(1.7, abs=1e-3)
    assert end["position_changes"] >= 2
    assert all(m.qos == 1 and not m.retain for m in sub.on("ev/events"))


def test_pre_tracked_detections_are_used_as_they_are(sink: MqttSink, sub: Subscriber) -> None:
    # Two people with the pipeline's track ids; the second is an unconfirmed (-1) blip.
    frames = [detections([(0, 0, 50, 100, 0.9, 0), (200, 0, 250, 100, 0.5, 0)], [4, -1])]
    # The connect-time state goes out from the network thread; on a busy machine it can follow
    # the first frame and already say "1".
    assert sub.wait(lambda s: s.payloads("ev/porch/person") == ["0"])
    feed(sink, frames)
    assert sub.wait(lambda s: s.payloads("ev/porch/person") == ["0", "1"])  # the blip is not counted
    feed(sink, [detections([], [])] * 12, start_index=1)
    assert sub.wait(lambda s: [e["type"] for e in s.json("ev/events")] == ["new", "end"])


def test_counts_are_retained_and_follow_the_objects(sink: MqttSink, sub: Subscriber, broker: Mosquitto) -> None:
    assert sub.wait(lambda s: s.payloads("ev/porch/person") == ["0"] and s.payloads("ev/porch/all") == ["0"])
    two = detections([(0, 0, 50, 100, 0.9, 0), (100, 0, 150, 100, 0.9, 0), (200, 50, 300, 120, 0.8, 1)])
    feed(sink, [two] * 3)
    assert sub.wait(lambda s: s.payloads("ev/porch/all")[-1:] == ["3"])
    assert sub.payloads("ev/porch/person")[-1] == "2" and sub.payloads("ev/porch/car")[-1] == "1"
    late = Subscriber(broker.port, "ev/porch/+")
    assert late.wait(lambda s: s.payloads("ev/porch/person") == ["2"] and s.payloads("ev/porch/car") == ["1"])
    assert all(m.retain for m in late.messages if m.topic != "ev/porch/detections")
    late.close()
    feed(sink, [detections([])] * 12, start_index=3)
    assert sub.wait(lambda s: s.payloads("ev/porch/all")[-1:] == ["0"])
    assert sub.payloads("ev/porch/person")[-1] == "0"


def test_home_assistant_discovery_is_retained_and_resent_when_ha_restarts(
    sink: MqttSink, sub: Subscriber, broker: Mosquitto
) -> None:
    node = "edgevision-test-" + str(broker.port)
    count_topic = f"homeassistant/sensor/{node}/porch_person_count/config"
    present_topic = f"homeassistant/binary_sensor/{node}/porch_object/config"
    switch_topic = f"homeassistant/switch/{node}/porch_detect/config"
    assert sub.wait(lambda s: all(s.on(t) for t in (count_topic, present_topic, switch_topic)))
    config = sub.json(count_topic)[0]
    assert config["state_topic"] == "ev/porch/person"
    assert config["availability_topic"] == "ev/available"
    assert config["unique_id"] == f"{node}_porch_person_count"
    assert config["device"]["identifiers"] == [node]
    present = sub.json(present_topic)[0]
    assert present["state_topic"] == "ev/porch/all" and present["device_class"] == "occupancy"
    switch = sub.json(switch_topic)[0]
    assert switch["command_topic"] == "ev/porch/detect/set"
    assert switch["state_topic"] == "ev/porch/detect/state"
    sensors = [m.topic for m in sub.messages if m.topic.startswith("homeassistant/sensor/")]
    assert sorted(sensors) == sorted(
        f"homeassistant/sensor/{node}/porch_{label}_count/config" for label in ("person", "car", "all")
    )
    late = Subscriber(broker.port, "homeassistant/#")
    assert late.wait(lambda s: len(s.messages) == 5)
    assert all(m.retain for m in late.messages)
    late.close()
    sub.client.publish("homeassistant/status", "online")
    assert sub.wait(lambda s: len(s.on(count_topic)) == 2)


def test_detect_commands_switch_detection_and_are_echoed(
    sink: MqttSink, sub: Subscriber, caplog: pytest.LogCaptureFixture
) -> None:
    assert sub.wait(lambda s: s.payloads("ev/porch/detect/state") == ["ON"])
    caplog.set_level(logging.INFO, logger="edgevision.sinks.mqtt")
    person = detections([(0, 0, 50, 100, 0.9, 0)])
    feed(sink, [person] * 3)
    assert sub.wait(lambda s: [e["type"] for e in s.json("ev/events")] == ["new"])

    sub.client.publish("ev/porch/detect/set", " off ")
    assert sub.wait(lambda s: s.payloads("ev/porch/detect/state")[-1:] == ["OFF"])
    assert sink.detect_enabled("porch") is False
    feed(sink, [person], start_index=3)  # switched off: the open event ends at once
    assert sub.wait(lambda s: [e["type"] for e in s.json("ev/events")] == ["new", "end"])
    assert sub.wait(lambda s: s.payloads("ev/porch/all")[-1:] == ["0"])

    for bad in (b"maybe", b"\xff\xfe", b"", b"x" * 5000, b"maybe"):
        sub.client.publish("ev/porch/detect/set", bad)
    sub.client.publish("ev/garage/detect/set", "ON")
    sub.client.publish("ev/garage/detect/set", "ON")
    sub.client.publish("ev/porch/detect/set", "ON")
    assert sub.wait(lambda s: s.payloads("ev/porch/detect/state")[-1:] == ["ON"])
    assert sink.detect_enabled("porch") is True
    assert sink.detect_enabled("garage") is True  # a camera that does not exist was not created
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if "expected ON or OFF" in w]) == 1
    assert len([w for w in warnings if "no such camera" in w]) == 1
    feed(sink, [person] * 3, start_index=4)  # still alive and tracking
    assert sub.wait(lambda s: [e["type"] for e in s.json("ev/events")] == ["new", "end", "new"])


def test_stats_are_published(sink: MqttSink, sub: Subscriber) -> None:
    feed(sink, [detections([])] * 5)
    result = frame_result(9, detections([]))  # frames 5..8 never reached us: dropped
    sink.publish(result, frame_payload(result))
    sink.publish_stats({"source": {"frames_read": 10}})
    assert sub.wait(lambda s: len(s.on("ev/stats")) == 1)
    stats = sub.json("ev/stats")[0]
    assert stats["source"] == {"frames_read": 10}
    assert stats["cameras"]["porch"]["dropped_frames"] == 4
    assert stats["cameras"]["porch"]["inference_ms"] == 4.0
    assert stats["cameras"]["porch"]["fps"] > 0
    assert stats["uptime_s"] >= 0
    assert stats["mqtt"]["connected"] is True
    assert stats["mqtt"]["reconnects"] == 0 and stats["mqtt"]["events_dropped"] == 0


def test_stats_are_published_periodically_by_themselves(broker: Mosquitto, sub: Subscriber) -> None:
    sink = MqttSink(settings(broker.port, stats_interval_s=0.2), ["porch"], ["person"])
    sink.start()
    try:
        for i in range(12):
            result = frame_result(i, detections([]))
            sink.publish(result, frame_payload(result))
            time.sleep(0.05)
        assert sub.wait(lambda s: len(s.on("ev/stats")) >= 2)
    finally:
        sink.close()


def test_mqtt_5(broker: Mosquitto, sub: Subscriber) -> None:
    sink = MqttSink(settings(broker.port, protocol="5"), ["porch"], ["person"])
    sink.start()
    feed(sink, walk_through())
    sink.close()
    assert sub.wait(lambda s: [e["type"] for e in s.json("ev/events")][-1:] == ["end"])
    assert sub.wait(lambda s: s.payloads("ev/available") == ["online", "offline"])
    assert f"as edgevision-test-{broker.port} (p5," in broker.log()  # mosquitto names the version
