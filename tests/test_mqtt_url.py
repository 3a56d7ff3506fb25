"""``--mqtt`` URLs and flags to MqttSettings: what is accepted, and one clear line otherwise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgevision.errors import UsageError
from edgevision.sinks.mqtt import MqttSettings
from edgevision.sinks.mqtt.settings import default_client_id
from edgevision.sinks.mqtt.topics import Topics, topic_part


@pytest.mark.parametrize(
    "url, expected",
    [
        ("mqtt://localhost", ("localhost", 1883, "edgevision", None, None, False)),
        ("mqtt://broker.lan:1884/", ("broker.lan", 1884, "edgevision", None, None, False)),
        ("mqtts://broker.lan/home/cams", ("broker.lan", 8883, "home/cams", None, None, True)),
        ("mqtt://u:p%40ss%2F@10.0.0.2:1/x", ("10.0.0.2", 1, "x", "u", "p@ss/", False)),
        ("mqtt://user@[::1]:1885/ev", ("::1", 1885, "ev", "user", None, False)),
        ("mqtt://u:@h", ("h", 1883, "edgevision", "u", "", False)),
    ],
)
def test_good_urls(url: str, expected: tuple) -> None:
    s = MqttSettings.from_url(url)
    assert (s.host, s.port, s.prefix, s.username, s.password, s.tls) == expected


@pytest.mark.parametrize(
    "url, why",
    [
        ("localhost", "scheme must be mqtt:// or mqtts://"),
        ("http://localhost", "scheme must be mqtt:// or mqtts://"),
        ("mqtt://", "no host"),
        ("mqtt://:1883", "no host"),
        ("mqtt://host:port", "port must be a number"),
        ("mqtt://host:70000", "port must be a number"),
        ("mqtt://host/a/#", "'#' is not allowed"),
        ("mqtt://host/a/+/b", "must not contain"),
        ("mqtt://host/a//b", "empty levels"),
        ("mqtt://host/x?qos=1", "no ?query"),
    ],
)
def test_bad_urls_are_one_line_usage_errors(url: str, why: str) -> None:
    with pytest.raises(UsageError) as error:
        MqttSettings.from_url(url)
    message = str(error.value)
    assert message.startswith(f"bad --mqtt URL {url!r}: ") and why in message
    assert "expected mqtt://[user:pass@]host[:port][/prefix]" in message and "\n" not in message


def test_passwords_never_appear_in_errors_or_logs() -> None:
    with pytest.raises(UsageError) as error:
        MqttSettings.from_url("mqtt://bob:hunter2@host/a/#")
    assert "hunter2" not in str(error.value) and "bob:***@host" in str(error.value)
    s = MqttSettings.from_url("mqtts://bob:hunter2@host:8884/ev")
    assert s.display == "mqtts://bob@host:8884/ev"
    assert "hunter2" not in repr(s.display)


def test_tls_flags(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("x")
    s = MqttSettings.from_url("mqtts://h", ca_file=ca, cert_file=ca, key_file=str(ca), insecure=True)
    assert (s.ca_file, s.cert_file, s.key_file, s.insecure) == (ca, ca, ca, True)
    with pytest.raises(UsageError, match="need an mqtts:// URL"):
        MqttSettings.from_url("mqtt://h", ca_file=ca)
    with pytest.raises(UsageError, match="need an mqtts:// URL"):
        MqttSettings.from_url("mqtt://h", insecure=True)
    with pytest.raises(UsageError, match="--mqtt-key needs --mqtt-cert"):
        MqttSettings.from_url("mqtts://h", key_file=ca)
    with pytest.raises(UsageError, match=r"--mqtt-ca file .*missing.crt does not exist"):
        MqttSettings.from_url("mqtts://h", ca_file=tmp_path / "missing.crt")


def test_protocol_rate_and_client_id() -> None:
    assert MqttSettings.from_url("mqtt://h", protocol="5").protocol == "5"
    assert MqttSettings.from_url("mqtt://h", protocol="311").protocol == "3.1.1"
    with pytest.raises(UsageError, match="--mqtt-protocol '4'"):
        MqttSettings.from_url("mqtt://h", protocol="4")
    assert MqttSettings.from_url("mqtt://h", rate_hz=2.5).rate_hz == 2.5
    with pytest.raises(UsageError, match="--mqtt-rate 0"):
        MqttSettings.from_url("mqtt://h", rate_hz=0)
    assert MqttSettings.from_url("mqtt://h", client_id="door-pi").client_id == "door-pi"
    assert MqttSettings.from_url("mqtt://h").client_id == default_client_id()
    assert re.fullmatch(r"edgevision-[A-Za-z0-9_-]+-[0-9a-f]{12}", default_client_id())


def test_topics() -> None:
    topics = Topics("home/ev")
    assert topics.available == "home/ev/available"
    assert topics.count("Front Door", "traffic light") == "home/ev/Front_Door/traffic_light"
    assert topics.detections("a/b#+") == "home/ev/a_b__/detections"
    assert topics.detect_set("porch") == "home/ev/porch/detect/set"
    assert topic_part("") == "_"
