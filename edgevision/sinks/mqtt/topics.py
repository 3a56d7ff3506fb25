"""Topic names under the prefix, in one place so the docs, the sink and Home Assistant agree."""

from __future__ import annotations

import re


def topic_part(name: str) -> str:
    """A camera or label name as one topic level: ``traffic light`` -> ``traffic_light``.

    MQTT wildcards and level separators would change what a topic means, and Home Assistant
    object ids allow only ``[A-Za-z0-9_-]``, so everything else becomes ``_``.
    """
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) or "_"


class Topics:
    """``<prefix>/...`` topic names."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.available = f"{prefix}/available"
        self.events = f"{prefix}/events"
        self.stats = f"{prefix}/stats"
        self.detect_set_filter = f"{prefix}/+/detect/set"

    def detections(self, camera: str) -> str:
        return f"{self.prefix}/{topic_part(camera)}/detections"

    def count(self, camera: str, label: str) -> str:
        """Retained object count; ``label`` is ``all`` for every label together."""
        return f"{self.prefix}/{topic_part(camera)}/{topic_part(label)}"

    def detect_set(self, camera: str) -> str:
        return f"{self.prefix}/{topic_part(camera)}/detect/set"

    def detect_state(self, camera: str) -> str:
        return f"{self.prefix}/{topic_part(camera)}/detect/state"
