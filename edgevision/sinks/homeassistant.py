"""Home Assistant MQTT discovery: the entities HA creates for an edgevision device by itself.

Per camera: a count sensor per label and for ``all``, an "object present" binary sensor and a
switch for detection. Each follows ``<prefix>/available`` so HA shows it unavailable when the
runtime stops or dies (last will). Payload keys follow
https://www.home-assistant.io/integrations/mqtt/#mqtt-discovery.
"""

from __future__ import annotations

from edgevision import __version__
from edgevision.sinks.mqtt.topics import Topics, topic_part

ALL = "all"


def discovery_configs(
    topics: Topics,
    discovery_prefix: str,
    node_id: str,
    cameras: list[str],
    labels: list[str],
) -> list[tuple[str, dict]]:
    """``(config topic, config payload)`` for every entity; publish them retained."""
    node = topic_part(node_id)
    common = {
        "availability_topic": topics.available,
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": {
            "identifiers": [node],
            "name": node_id,
            "manufacturer": "edgevision",
            "model": "edgevision runtime",
            "sw_version": __version__,
        },
        "origin": {"name": "edgevision", "sw_version": __version__},
    }
    configs = []
    for camera in cameras:
        cam = topic_part(camera)
        for label in [*labels, ALL]:
            object_id = f"{cam}_{topic_part(label)}_count"
            configs.append((
                f"{discovery_prefix}/sensor/{node}/{object_id}/config",
                {
                    **common,
                    "name": f"{camera} {label} count",
                    "unique_id": f"{node}_{object_id}",
                    "state_topic": topics.count(camera, label),
                    "state_class": "measurement",
                    "icon": "mdi:counter",
                },
            ))
        configs.append((
            f"{discovery_prefix}/binary_sensor/{node}/{cam}_object/config",
            {
                **common,
                "name": f"{camera} object present",
                "unique_id": f"{node}_{cam}_object",
                "state_topic": topics.count(camera, ALL),
                "value_template": "{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}",
                "payload_on": "ON",
                "payload_off": "OFF",
                "device_class": "occupancy",
            },
        ))
        configs.append((
            f"{discovery_prefix}/switch/{node}/{cam}_detect/config",
            {
                **common,
                "name": f"{camera} detect",
                "unique_id": f"{node}_{cam}_detect",
                "command_topic": topics.detect_set(camera),
                "state_topic": topics.detect_state(camera),
                "payload_on": "ON",
                "payload_off": "OFF",
                "icon": "mdi:motion-sensor",
            },
        ))
    return configs
