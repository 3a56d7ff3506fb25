"""``--http`` addresses: parsing and whether they stay on this machine (then no token needed)."""

from __future__ import annotations

import ipaddress

from edgevision.errors import UsageError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``[IPv6]:PORT`` as given to ``--http``."""
    text = text.strip()
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or default_host
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(f"--http {text!r} is not HOST:PORT with a port 1-65535, e.g. 127.0.0.1:8080")
    return host, int(port)
