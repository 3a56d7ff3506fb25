"""The broker connection: one network thread owns the paho client; nothing else touches it.

Why a thread of our own instead of ``loop_start()``: the frame loop must never wait on the
network, and connect errors must be told apart (a refused login or an untrusted certificate is
the user's to fix and ends the run; an absent broker is retried with backoff), which paho's
own reconnect loop does not expose. The frame loop only drops messages into two bounded
:class:`~edgevision.sinks.mqtt.outbox.Outbox` queues (QoS 1 events, QoS 0 the rest), and this
thread moves them to paho while connected, at most ``LOOP_TIMEOUT_S`` later. State changes are logged once each; repeats only count.
"""

from __future__ import annotations

import logging
import random
import re
import ssl
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from edgevision.errors import EdgevisionError
from edgevision.sinks.mqtt.outbox import Message, Outbox
from edgevision.sinks.mqtt.settings import MqttSettings

log = logging.getLogger(__name__)

# QoS 1 messages handed to paho but not yet acknowledged; the rest wait in our bounded outbox.
INFLIGHT_WINDOW = 20
# QoS 0 messages waiting for a slow socket; a few seconds of frames, counts and stats.
QOS0_QUEUE_SIZE = 500
LOOP_TIMEOUT_S = 0.05
CLOSE_TIMEOUT_S = 3.0

# CONNACK reasons that retrying cannot fix (MQTT 5 codes; paho maps 3.1.1 codes onto them).
FATAL_REASONS = {
    132: "the broker does not speak this MQTT version: try --mqtt-protocol 3.1.1",
    133: "the broker rejected the client id: pass another --mqtt-client-id",
    134: "wrong user name or password: fix the user:pass in the --mqtt URL",
    135: "not authorized: give a user:pass in the --mqtt URL that the broker accepts",
    140: "the broker wants another authentication method",
}


# TLS alerts by which a broker rejects our client certificate: retrying sends the same one.
CLIENT_CERT_ALERT = re.compile(
    r"alert (certificate required|bad certificate|unknown ca|certificate unknown|"
    r"certificate expired|certificate revoked)",
    re.IGNORECASE,
)


class MqttConnection:
    """Connects, reconnects with capped exponential backoff, and delivers queued messages.

    ``connect_messages`` is asked for the retained state (availability, discovery, counts) on
    every connect, since a restarted broker may have lost it. ``on_message`` receives messages on
    ``subscriptions`` in the network thread; exceptions it raises are logged, never propagated.
    """

    def __init__(
        self,
        settings: MqttSettings,
        will: Message,
        subscriptions: list[str],
        on_message: Callable[[str, bytes], None],
        connect_messages: Callable[[], list[Message]],
    ) -> None:
        self.settings = settings
        self._will = will
        self._subscriptions = subscriptions
        self._on_message = on_message
        self._connect_messages = connect_messages
        self.outbox = Outbox(settings.queue_size)
        self.qos0 = Outbox(QOS0_QUEUE_SIZE)
        self._inflight: set[int] = set()
        self._stop = threading.Event()
        self._first_outcome = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mqtt", daemon=True)
        self._client = self._make_client()
        self._connected = False
        self._resend_state = False
        self._fatal: EdgevisionError | None = None
        self._fatal_raised = False
        self._last_error = ""
        self._outage_logged = False
        self._drop_logged = False
        self._final: Message | None = None
        self.connects = 0
        self.connect_failures = 0

    @property
    def connected(self) -> bool:
        return self._connected

    def start(self) -> None:
        """Start the network thread and wait briefly for the first outcome.

        Raises the fatal error (refused login, untrusted certificate) if it shows up in that
        time; an unreachable broker is only logged, and retried in the background.
        """
        self._thread.start()
        self._first_outcome.wait(self.settings.connect_wait_s)
        self.raise_if_failed()

    def raise_if_failed(self) -> None:
        if self._fatal is not None:
            self._fatal_raised = True
            raise self._fatal

    def send_event(self, message: Message) -> None:
        """Queue a QoS 1 message; kept through outages up to the outbox size."""
        if self.outbox.put(message) and not self._drop_logged:
            self._drop_logged = True
            log.warning(
                "MQTT event queue full (%d): dropping the oldest events until the broker is back",
                self.outbox.size,
            )

    def send(self, message: Message) -> None:
        """Queue a QoS 0 message while connected; offline it is dropped (and counted)."""
        if self._connected:
            self.qos0.put(message)
        else:
            self.qos0.count_drop()

    def resend_state(self) -> None:
        """Publish the connect-time state again (Home Assistant restarted and lost it)."""
        self._resend_state = True

    def stats(self) -> dict:
        return {
            "connected": self._connected,
            "reconnects": max(self.connects - 1, 0),
            "connect_failures": self.connect_failures,
            "events_queued": len(self.outbox) + len(self._inflight),
            "events_dropped": self.outbox.dropped,
            "messages_dropped": self.qos0.dropped,
        }

    def close(self, final: Message | None = None) -> None:
        """Deliver what can be delivered in a few seconds, publish ``final``, disconnect."""
        self._final = final
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(CLOSE_TIMEOUT_S + 2.0)
        if self._fatal is not None and not self._fatal_raised:
            log.error("%s", self._fatal)

    # ---- network thread ------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        s = self.settings
        v5 = s.protocol == "5"
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=s.client_id,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else True,
        )
        if s.username is not None:
            client.username_pw_set(s.username, s.password)
        if s.tls:
            client.tls_set_context(s.ssl_context())
            if s.insecure:
                client.tls_insecure_set(True)
        client.will_set(self._will.topic, self._will.payload, self._will.qos, self._will.retain)
        client.on_connect = self._handle_connect
        client.on_publish = self._handle_publish
        client.on_message = self._handle_message
        client.on_log = self._handle_log
        return client

    def _run(self) -> None:
        delay = self.settings.reconnect_min_s
        while not self._stop.is_set() and self._fatal is None:
            if self._open_socket():
                was_connected = self._serve()
                if was_connected:
                    delay = self.settings.reconnect_min_s
            if self._stop.is_set() or self._fatal is not None:
                break
            self._stop.wait(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.settings.reconnect_max_s)
        self._first_outcome.set()
        if self._connected:
            self._shutdown()
        self._report_undelivered()

    def _open_socket(self) -> bool:
        """TCP (+TLS) connect and send CONNECT; the CONNACK arrives later in :meth:`_serve`."""
        s = self.settings
        self._last_error = ""
        try:
            if s.protocol == "5":
                rc = self._client.connect(s.host, s.port, s.keepalive_s, clean_start=True)
            else:
                rc = self._client.connect(s.host, s.port, s.keepalive_s)
            if rc == mqtt.MQTT_ERR_SUCCESS:
                return True
            self._attempt_failed(self._last_error or mqtt.error_string(rc))
        except ssl.SSLCertVerificationError as exc:
            self._fail(
                f"MQTT broker {s.display} presented a certificate that is not trusted "
                f"({exc.verify_message}): pass the CA that signed it with --mqtt-ca, "
                "or --mqtt-insecure to skip the check"
            )
        except (OSError, ValueError) as exc:
            self._attempt_failed(str(exc) or type(exc).__name__)
        return False

    def _serve(self) -> bool:
        """Run the paho loop until the connection ends; True if it had been accepted."""
        accepted = False
        rc = mqtt.MQTT_ERR_SUCCESS
        while not self._stop.is_set() and self._fatal is None:
            rc = self._client.loop(LOOP_TIMEOUT_S)
            if self._connected:
                accepted = True
                self._deliver()
            if rc != mqtt.MQTT_ERR_SUCCESS:
                break
        if self._stop.is_set() or self._fatal is not None:
            return accepted
        reason = self._last_error or mqtt.error_string(rc)
        if self._connected:
            self._connected = False
            self.qos0.clear()
            self._outage_logged, self._drop_logged = True, False
            log.warning(
                "MQTT connection to %s lost (%s); reconnecting in the background, "
                "events wait in a queue of %d",
                self.settings.display,
                reason,
                self.settings.queue_size,
            )
        elif CLIENT_CERT_ALERT.search(reason):
            self._fail(
                f"MQTT broker {self.settings.display} rejected the client certificate ({reason}): "
                "pass --mqtt-cert and --mqtt-key with a certificate the broker's CA signed"
            )
        elif not accepted:
            self._attempt_failed(f"closed before the broker accepted us: {reason}")
        return accepted

    def _deliver(self) -> None:
        client = self._client
        if self._resend_state:
            self._resend_state = False
            for message in self._connect_messages():
                client.publish(message.topic, message.payload, message.qos, message.retain)
        while not client.want_write():  # hold QoS 0 while the socket has a backlog
            message = self.qos0.pop()
            if message is None:
                break
            client.publish(message.topic, message.payload, 0, message.retain)
        while len(self._inflight) < INFLIGHT_WINDOW:
            message = self.outbox.pop()
            if message is None:
                break
            self._inflight.add(client.publish(message.topic, message.payload, 1, message.retain).mid)

    def _shutdown(self) -> None:
        deadline = time.monotonic() + CLOSE_TIMEOUT_S
        while (len(self.outbox) or self._inflight) and self._connected and time.monotonic() < deadline:
            self._deliver()
            if self._client.loop(LOOP_TIMEOUT_S) != mqtt.MQTT_ERR_SUCCESS:
                return
        if self._final is not None:
            info = self._client.publish(self._final.topic, self._final.payload, 1, self._final.retain)
            while not info.is_published() and time.monotonic() < deadline:
                if self._client.loop(LOOP_TIMEOUT_S) != mqtt.MQTT_ERR_SUCCESS:
                    return
        self._client.disconnect()
        self._client.loop(LOOP_TIMEOUT_S)
        self._connected = False

    def _report_undelivered(self) -> None:
        left = len(self.outbox) + len(self._inflight)
        if left:
            log.warning("MQTT: %d events were not delivered before shutdown", left)

    def _attempt_failed(self, reason: str) -> None:
        self.connect_failures += 1
        if self.settings.tls and not self.settings.cert_file and "SSL" in reason.upper():
            reason += "; if the broker requires a client certificate, pass --mqtt-cert and --mqtt-key"
        if not self._outage_logged:
            self._outage_logged = True
            log.warning(
                "MQTT broker %s unreachable (%s); retrying in the background, "
                "events wait in a queue of %d",
                self.settings.display,
                reason,
                self.settings.queue_size,
            )
        else:
            log.debug("MQTT connect to %s failed again: %s", self.settings.display, reason)
        self._first_outcome.set()  # after the log line: start() returns to a complete log

    def _fail(self, message: str) -> None:
        self._fatal = EdgevisionError(message)
        self._first_outcome.set()

    # ---- paho callbacks (network thread) --------------------------------------------------

    def _handle_connect(self, client, userdata, flags, reason, properties) -> None:  # noqa: ANN001
        if reason.is_failure:
            fix = FATAL_REASONS.get(reason.value)
            if fix is None:
                self._last_error = f"refused: {reason}"
                return
            user = f" as user {self.settings.username!r}" if self.settings.username else ""
            self._fail(f"MQTT broker {self.settings.display} refused the login{user} ({reason}): {fix}")
            return
        self.connects += 1
        self._connected = True
        self._resend_state = True
        log.info("MQTT connected to %s", self.settings.display)
        self._first_outcome.set()
        self._outage_logged = self._drop_logged = False
        for topic in self._subscriptions:
            client.subscribe(topic, qos=1)

    def _handle_publish(self, client, userdata, mid, reason, properties) -> None:  # noqa: ANN001
        self._inflight.discard(mid)

    def _handle_message(self, client, userdata, message) -> None:  # noqa: ANN001
        try:
            self._on_message(message.topic, message.payload)
        except Exception:  # a bad command must never stop the connection
            log.exception("MQTT: handling a message on %s failed", message.topic)

    def _handle_log(self, client, userdata, level, text) -> None:  # noqa: ANN001
        if level == mqtt.MQTT_LOG_ERR and not self._last_error:
            self._last_error = text  # the first error of an attempt is the cause, the rest follow
