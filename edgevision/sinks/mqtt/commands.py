"""Command payloads from MQTT, parsed strictly, with one warning per kind of bad input.

Anyone on the broker can publish anything; a typo in an automation must neither crash the
runtime nor write a log line per message.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def parse_on_off(payload: bytes) -> bool | None:
    """``ON`` -> True, ``OFF`` -> False (any case, surrounding spaces ignored), else None."""
    try:
        text = payload.decode("utf-8").strip().upper()
    except UnicodeDecodeError:
        return None
    return {"ON": True, "OFF": False}.get(text)


class LogOnce:
    """Logs a warning the first time each key is seen, and only at debug level after that."""

    def __init__(self) -> None:
        self._seen: set[tuple] = set()

    def warning(self, key: tuple, message: str, *args: object) -> None:
        if key in self._seen:
            log.debug(message, *args)
            return
        self._seen.add(key)
        log.warning(message + " (further ones are not logged)", *args)


def preview(payload: bytes, limit: int = 40) -> str:
    """A short printable form of a payload for a log line."""
    text = payload[:limit].decode("utf-8", "replace")
    return repr(text + ("..." if len(payload) > limit else ""))
