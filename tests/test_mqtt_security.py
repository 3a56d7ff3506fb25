"""Logins and TLS against real mosquitto listeners: what works connects, and what cannot work
(wrong password, untrusted certificate, bad files) stops with one clear line."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from edgevision.errors import EdgevisionError, UsageError
from edgevision.sinks.mqtt import MqttSink
from edgevision.sinks.payload import frame_payload
from mosquitto import Certs, Mosquitto, Subscriber, make_certs
from mqtt_helpers import detections, feed, frame_result, settings, walk_through

USERS = {"bob": "s3/@cret"}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def auth_broker(tmp_path: Path):
    broker = Mosquitto(tmp_path / "auth", users=USERS).start()
    yield broker
    broker.stop()


@pytest.fixture
def tls_broker(tmp_path: Path, certs: Certs):
    broker = Mosquitto(tmp_path / "tls", certs=certs).start()
    yield broker
    broker.stop()


def test_username_and_password(auth_broker: Mosquitto) -> None:
    sub = Subscriber(auth_broker.port, "ev/#", username="bob", password=USERS["bob"])
    url = f"mqtt://bob:s3%2F%40cret@127.0.0.1:{auth_broker.port}/ev"  # percent-encoded "/@"
    sink = MqttSink(settings(auth_broker.port, url=url), ["porch"], ["person"])
    sink.start()
    feed(sink, walk_through())
    sink.close()
    assert sub.wait(lambda s: [e["type"] for e in s.json("ev/events")][-1:] == ["end"])
    assert sub.wait(lambda s: s.payloads("ev/available") == ["online", "offline"])
    sub.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_wrong_password_is_an_error_not_a_retry_loop(auth_broker: Mosquitto, protocol: str) -> None:
    url = f"mqtt://bob:nope@127.0.0.1:{auth_broker.port}/ev"
    sink = MqttSink(settings(auth_broker.port, url=url, protocol=protocol), ["porch"], ["person"])
    with pytest.raises(EdgevisionError) as error:
        sink.start()
    message = str(error.value)
    assert "\n" not in message and "nope" not in message
    assert f"127.0.0.1:{auth_broker.port}" in message and "refused the login as user 'bob'" in message
    assert "--mqtt URL" in message
    time.sleep(1.0)  # backoff is 0.1-0.4 s: a retry loop would have tried again by now
    sink.close()
    assert auth_broker.log().count("Sending CONNACK") == 1


def test_missing_login_is_an_error(auth_broker: Mosquitto) -> None:
    sink = MqttSink(settings(auth_broker.port), ["porch"], ["person"])
    with pytest.raises(EdgevisionError, match="not authorized: give a user:pass"):
        sink.start()
    sink.close()


def test_login_refused_after_starting_without_a_broker_stops_the_frame_loop(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "later", users=USERS)  # not started yet
    sink = MqttSink(settings(broker.port), ["porch"], ["person"])
    sink.start()  # unreachable is not an error
    broker.start()
    deadline = time.monotonic() + 10
    with pytest.raises(EdgevisionError, match="refused the login"):
        for i in range(10_000):
            result = frame_result(i, detections([]))
            sink.publish(result, frame_payload(result))
            time.sleep(0.02)
            assert time.monotonic() < deadline
    sink.close()
    broker.stop()


def test_tls_with_the_ca(tls_broker: Mosquitto, certs: Certs) -> None:
    sub = Subscriber(tls_broker.port, "ev/#", ca=certs.ca)
    sink = MqttSink(settings(tls_broker.port, scheme="mqtts", ca_file=certs.ca), ["porch"], ["person"])
    sink.start()
    feed(sink, walk_through())
    sink.close()
    assert sub.wait(lambda s: [e["type"] for e in s.json("ev/events")][-1:] == ["end"])
    sub.close()


@pytest.mark.parametrize("trust", ["system", "other_ca"])
def test_untrusted_certificate_is_an_error(tls_broker: Mosquitto, certs: Certs, trust: str) -> None:
    ca = None if trust == "system" else certs.other_ca
    sink = MqttSink(settings(tls_broker.port, scheme="mqtts", ca_file=ca), ["porch"], ["person"])
    with pytest.raises(EdgevisionError) as error:
        sink.start()
    message = str(error.value)
    assert "certificate that is not trusted" in message and "--mqtt-ca" in message
    assert "--mqtt-insecure" in message and "\n" not in message
    sink.close()


def test_insecure_flag_skips_the_certificate_check(tls_broker: Mosquitto, certs: Certs) -> None:
    sub = Subscriber(tls_broker.port, "ev/#", ca=certs.ca)
    sink = MqttSink(settings(tls_broker.port, scheme="mqtts", insecure=True), ["porch"], ["person"])
    sink.start()
    assert sub.wait(lambda s: s.payloads("ev/available") == ["online"])
    sink.close()
    sub.close()


def test_client_certificate(tmp_path: Path, certs: Certs, caplog: pytest.LogCaptureFixture) -> None:
    broker = Mosquitto(tmp_path / "mtls", certs=certs, require_client_cert=True).start()
    try:
        sub = Subscriber(broker.port, "ev/#", ca=certs.ca, certfile=str(certs.client_cert),
                         keyfile=str(certs.client_key))
        sink = MqttSink(
            settings(broker.port, scheme="mqtts", ca_file=certs.ca, cert_file=certs.client_cert,
                     key_file=certs.client_key),
            ["porch"],
            ["person"],
        )
        sink.start()
        assert sub.wait(lambda s: s.payloads("ev/available") == ["online"])
        sink.close()
        sub.close()
        # Without one: TLS 1.3 reports the broker's "certificate required" alert after the
        # handshake, and whether it is read before the connection closes is a race. Either way
        # the user gets one line that names the fix.
        caplog.set_level(logging.WARNING, logger="edgevision.sinks.mqtt")
        without = MqttSink(settings(broker.port, scheme="mqtts", ca_file=certs.ca), ["porch"], [])
        try:
            without.start()
        except EdgevisionError as error:
            lines = [str(error)]
            assert "rejected the client certificate" in lines[0]
        else:
            lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
            assert without.stats()["connected"] is False
        without.close()
        assert len(lines) == 1 and "--mqtt-cert and --mqtt-key" in lines[0], lines
    finally:
        broker.stop()


def test_unreadable_tls_files_are_usage_errors(tmp_path: Path, certs: Certs) -> None:
    not_a_cert = tmp_path / "ca.pem"
    not_a_cert.write_text("hello\n")
    with pytest.raises(UsageError, match="cannot load the MQTT TLS files"):
        MqttSink(settings(8883, scheme="mqtts", ca_file=not_a_cert), ["porch"], [])
    with pytest.raises(UsageError, match="cannot load the MQTT TLS files"):
        MqttSink(settings(8883, scheme="mqtts", cert_file=certs.client_cert, key_file=certs.server_key), ["porch"], [])
