"""Prometheus text exposition (format 0.0.4), written by hand.

The runtime must not grow a dependency for a few dozen lines of text; the tests parse the
output with ``prometheus_client``'s own parser so the format stays honest.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from edgevision.http.state import WINDOW

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Sample = tuple[Mapping[str, str], float]


class MetricsText:
    """Collects metric families and renders them; one ``# HELP``/``# TYPE`` header per family."""

    def __init__(self, prefix: str = "edgevision_") -> None:
        self._prefix = prefix
        self._lines: list[str] = []

    def add(self, name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> None:
        """Add a ``gauge`` or ``counter`` family; counters get the ``_total`` suffix here."""
        if kind not in ("gauge", "counter"):
            raise ValueError(f"metric kind must be gauge or counter, got {kind!r}")
        full = self._prefix + name + ("_total" if kind == "counter" else "")
        self._lines.append(f"# HELP {full} {_escape_help(help_text)}")
        self._lines.append(f"# TYPE {full} {kind}")
        for labels, value in samples:
            self._lines.append(f"{full}{_labels(labels)} {_number(value)}")

    def render(self) -> str:
        return "\n".join(self._lines) + "\n"


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    body = ",".join(f'{key}="{_escape_value(str(value))}"' for key, value in labels.items())
    return "{" + body + "}"


def _escape_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


def render_metrics(samples: dict, snapshots: tuple[int, int] | None = None) -> str:
    """``/metrics`` from :meth:`LiveState.metric_samples`; ``snapshots`` is (files, bytes)."""
    out = MetricsText()
    cameras = samples["cameras"]
    out.add("frames", "counter", "Frames processed.",
            [({"camera": c}, s["frames"]) for c, s in cameras.items()])  # fmt: skip
    out.add("fps", "gauge", f"Frames per second over the last {WINDOW} frames.",
            [({"camera": c}, s["fps"]) for c, s in cameras.items()])  # fmt: skip
    out.add("inference_ms", "gauge", "Mean time to run all models on a frame, milliseconds.",
            [({"camera": c}, s["timings"].get("inference", 0.0)) for c, s in cameras.items()])  # fmt: skip
    stages = []
    for camera, s in cameras.items():
        for key, value in s["timings"].items():
            if "/" in key:
                model, stage = key.rsplit("/", 1)
                stages.append(({"camera": camera, "model": model, "stage": stage}, value))
    out.add("stage_ms", "gauge", "Mean time per model stage (preprocess, invoke, decode), milliseconds.", stages)
    detections, objects = [], []
    for camera, s in cameras.items():
        for (model, label), total in sorted(s["detections_total"].items()):
            labels = {"camera": camera, "model": model, "label": label}
            detections.append((labels, total))
            objects.append((labels, s["counts"].get((model, label), 0)))
    out.add("detections", "counter", "Detections per label since start.", detections)
    out.add("objects", "gauge", "Detections per label in the latest frame.", objects)
    _add_runner_stats(out, samples["pipeline"])
    events = [({"camera": c, "label": lb, "type": t}, n) for (c, lb, t), n in sorted(samples["events"].items())]
    out.add("events", "counter", "Tracked-object event messages by type.", events)
    out.add("http_stream_clients", "gauge", "MJPEG clients connected now.", [({}, samples["stream_clients"])])
    out.add("jpeg_encodes", "counter", "JPEG frames encoded for HTTP clients.", [({}, samples["jpeg_encodes"])])
    if snapshots is not None:
        out.add("snapshot_files", "gauge", "Event snapshots kept on disk.", [({}, snapshots[0])])
        out.add("snapshot_bytes", "gauge", "Bytes of event snapshots kept on disk.", [({}, snapshots[1])])
    return out.render()


def _add_runner_stats(out: MetricsText, stats: dict) -> None:
    """What only the runner knows (``HttpSink.update_stats``): sources per camera, and MQTT."""
    sources = stats.get("cameras", {})
    out.add("camera_running", "gauge", "1 while the camera's pipeline runs, 0 after it failed.",
            [({"camera": c}, 1 if s.get("running") else 0) for c, s in sources.items()])  # fmt: skip
    out.add("frames_dropped", "counter", "Frames the source skipped because processing was slower.",
            [({"camera": c}, s.get("frames_dropped", 0)) for c, s in sources.items()])  # fmt: skip
    out.add("reconnects", "counter", "Times a live source reconnected after losing its stream.",
            [({"camera": c}, s.get("reconnects", 0)) for c, s in sources.items()])  # fmt: skip
    mqtt = stats.get("mqtt")
    if mqtt is None:
        return
    out.add("mqtt_queue_depth", "gauge", "MQTT event messages queued or in flight.",
            [({}, mqtt.get("events_queued", 0))])  # fmt: skip
    out.add("mqtt_connected", "gauge", "1 while connected to the MQTT broker.",
            [({}, 1 if mqtt.get("connected") else 0)])  # fmt: skip
    out.add("mqtt_reconnects", "counter", "Times the MQTT connection was made again.",
            [({}, mqtt.get("reconnects", 0))])  # fmt: skip
    dropped = [({"kind": "event"}, mqtt.get("events_dropped", 0)), ({"kind": "other"}, mqtt.get("messages_dropped", 0))]
    out.add("mqtt_dropped", "counter", "MQTT messages dropped while the broker was away.", dropped)
