"""MQTT output: tracked events, retained counts and Home Assistant discovery (docs/mqtt.md)."""

from edgevision.sinks.mqtt.settings import MqttSettings
from edgevision.sinks.mqtt.sink import MqttSink

__all__ = ["MqttSettings", "MqttSink"]
