"""MQTT connection settings, from ``--mqtt mqtt[s]://[user:pass@]host[:port][/prefix]`` and flags."""

from __future__ import annotations

import re
import socket
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edgevision.errors import UsageError

URL_FORM = "mqtt://[user:pass@]host[:port][/prefix] or mqtts://..."
DEFAULT_PREFIX = "edgevision"
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
PROTOCOLS = {"3.1.1": "3.1.1", "311": "3.1.1", "5": "5", "5.0": "5"}
DEFAULT_QUEUE_SIZE = 1000


def default_client_id() -> str:
    """``edgevision-<hostname>-<MAC>``: stable per device, and distinct between Pis that all
    keep the default hostname ``raspberrypi`` (two clients with one id knock each other off)."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"
    return f"edgevision-{host}-{uuid.getnode():012x}"


@dataclass(frozen=True)
class MqttSettings:
    """Everything needed to reach the broker and name the topics; validated on creation."""

    host: str
    port: int = 1883
    prefix: str = DEFAULT_PREFIX
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    insecure: bool = False
    client_id: str = ""
    protocol: str = "3.1.1"
    rate_hz: float | None = None
    keepalive_s: int = 30
    queue_size: int = DEFAULT_QUEUE_SIZE
    discovery_prefix: str | None = "homeassistant"
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 30.0
    connect_wait_s: float = 3.0
    stats_interval_s: float = 15.0

    def __post_init__(self) -> None:
        if not self.client_id:
            object.__setattr__(self, "client_id", default_client_id())
        if self.protocol not in PROTOCOLS:
            raise UsageError(f"bad --mqtt-protocol {self.protocol!r}: use 3.1.1 or 5")
        object.__setattr__(self, "protocol", PROTOCOLS[self.protocol])
        if self.rate_hz is not None and self.rate_hz <= 0:
            raise UsageError(f"bad --mqtt-rate {self.rate_hz}: give a rate in Hz above 0")
        if self.queue_size < 1:
            raise UsageError(f"bad MQTT queue size {self.queue_size}: must be at least 1")
        if not self.tls and (self.ca_file or self.cert_file or self.key_file or self.insecure):
            raise UsageError("--mqtt-ca/--mqtt-cert/--mqtt-key/--mqtt-insecure need an mqtts:// URL")
        if self.key_file and not self.cert_file:
            raise UsageError("--mqtt-key needs --mqtt-cert (the client certificate it belongs to)")
        for flag, path in (("--mqtt-ca", self.ca_file), ("--mqtt-cert", self.cert_file), ("--mqtt-key", self.key_file)):
            if path is not None and not Path(path).is_file():
                raise UsageError(f"{flag} file {path} does not exist")

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        ca_file: str | Path | None = None,
        cert_file: str | Path | None = None,
        key_file: str | Path | None = None,
        insecure: bool = False,
        client_id: str | None = None,
        protocol: str = "3.1.1",
        rate_hz: float | None = None,
        **other: object,
    ) -> MqttSettings:
        """Parse ``--mqtt URL`` plus the TLS and client flags; raises UsageError with one line."""
        parts = _split(url)
        return cls(
            **parts,
            ca_file=Path(ca_file) if ca_file else None,
            cert_file=Path(cert_file) if cert_file else None,
            key_file=Path(key_file) if key_file else None,
            insecure=insecure,
            client_id=client_id or "",
            protocol=str(protocol),
            rate_hz=rate_hz,
            **other,  # type: ignore[arg-type]
        )

    @property
    def display(self) -> str:
        """The broker address for logs: never the password."""
        scheme = "mqtts" if self.tls else "mqtt"
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}/{self.prefix}"

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context: system CAs unless ``ca_file``; no checks at all only when ``insecure``."""
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file:
                context.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        except (ssl.SSLError, OSError) as exc:
            raise UsageError(
                f"cannot load the MQTT TLS files ({exc}): check --mqtt-ca, --mqtt-cert and --mqtt-key"
            ) from None
        if self.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _split(url: str) -> dict:
    def bad(why: str) -> UsageError:
        return UsageError(f"bad --mqtt URL {_redact(url)!r}: {why}; expected {URL_FORM}")

    if "#" in url:
        raise bad("'#' is not allowed (percent-encode it as %23 in a password)")
    parts = urlsplit(url.strip())
    if parts.scheme not in DEFAULT_PORTS:
        raise bad("the scheme must be mqtt:// or mqtts://")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise bad("the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise bad("no host")
    if parts.query:
        raise bad("no ?query allowed")
    prefix = parts.path.strip("/") or DEFAULT_PREFIX
    if any(c in prefix for c in "+#") or "//" in prefix:
        raise bad(f"the topic prefix {prefix!r} must not contain '+', '#' or empty levels")
    return {
        "host": parts.hostname,
        "port": port,
        "prefix": prefix,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password is not None else None,
        "tls": parts.scheme == "mqtts",
    }


def _redact(url: str) -> str:
    """The URL with any password replaced, so error lines can be logged and pasted safely."""
    return re.sub(r"(//[^:/@]*:)[^@/]*@", r"\1***@", url)
