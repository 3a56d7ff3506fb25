"""The pieces behind the live view: the snapshot ring's bounds and the metrics text format."""

from __future__ import annotations

import math
import os
import time

import cv2
import numpy as np
import pytest
from http_live import scene_image
from prometheus_client.parser import text_string_to_metric_families

from edgevision.errors import UsageError
from edgevision.http import parse_address
from edgevision.http.metrics import MetricsText
from edgevision.http.snapshots import SnapshotRing, is_safe_id
from edgevision.http.state import encode_jpeg


def jpeg(index: int, quality: int = 80) -> bytes:
    return encode_jpeg(scene_image(index), quality)


def test_ring_keeps_at_most_count_files_dropping_the_oldest(tmp_path):
    ring = SnapshotRing(tmp_path, max_count=3, max_bytes=10**9)
    for i in range(5):
        ring.save(f"event-{i}", jpeg(i))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["event-2.jpg", "event-3.jpg", "event-4.jpg"]
    assert ring.read("event-0") is None
    image = cv2.imdecode(np.frombuffer(ring.read("event-4"), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (480, 640, 3)


def test_ring_keeps_at_most_max_bytes(tmp_path):
    sizes = [len(jpeg(i)) for i in range(4)]
    limit = sizes[2] + sizes[3] + 10  # room for the last two only
    ring = SnapshotRing(tmp_path, max_count=100, max_bytes=limit)
    for i in range(4):
        ring.save(f"e{i}", jpeg(i))
    assert ring.count == 2 and ring.total_bytes == sizes[2] + sizes[3]
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) <= limit


def test_saving_an_event_again_replaces_it_and_makes_it_newest(tmp_path):
    ring = SnapshotRing(tmp_path, max_count=2, max_bytes=10**9)
    ring.save("a", jpeg(0))
    ring.save("b", jpeg(1))
    better = jpeg(5, quality=95)
    ring.save("a", better)  # a better frame of event a: a is now the newest
    ring.save("c", jpeg(2))
    assert ring.read("a") == better and ring.read("b") is None and ring.count == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_a_restarted_ring_adopts_old_files_within_its_bounds(tmp_path):
    for i in range(4):
        path = tmp_path / f"old{i}.jpg"
        path.write_bytes(jpeg(i))
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))
    (tmp_path / "notes.txt").write_text("not ours")
    ring = SnapshotRing(tmp_path, max_count=2, max_bytes=10**9)
    assert sorted(p.name for p in tmp_path.glob("*.jpg")) == ["old2.jpg", "old3.jpg"]
    assert (tmp_path / "notes.txt").exists()
    assert ring.read("old3") is not None


@pytest.mark.parametrize("event_id", ["../x", "a/b", "", "..", "a b", "x" * 200])
def test_unsafe_event_ids_never_become_paths(tmp_path, event_id):
    ring = SnapshotRing(tmp_path / "ring")
    assert not is_safe_id(event_id)
    assert ring.read(event_id) is None
    with pytest.raises(ValueError, match="unsafe event id"):
        ring.save(event_id, jpeg(0))
    assert list((tmp_path / "ring").iterdir()) == []


def test_bad_ring_settings_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="must be positive"):
        SnapshotRing(tmp_path, max_count=0)
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot create the snapshot directory"):
        SnapshotRing(tmp_path / "file" / "snaps")


def test_metrics_text_escapes_labels_and_special_values():
    text = MetricsText()
    text.add("things", "counter", 'Things "seen"\nby label.', [({"label": 'a "b"\\c\nd'}, 3), ({"label": "x"}, 2.5)])
    text.add("temperature", "gauge", "Odd values.", [({}, math.inf), ({"k": "v"}, math.nan)])
    families = {f.name: f for f in text_string_to_metric_families(text.render())}
    things = families["edgevision_things"]
    assert things.type == "counter"
    assert [(s.labels["label"], s.value) for s in things.samples] == [('a "b"\\c\nd', 3), ("x", 2.5)]
    values = [s.value for s in families["edgevision_temperature"].samples]
    assert values[0] == math.inf and math.isnan(values[1])
    with pytest.raises(ValueError, match="gauge or counter"):
        text.add("h", "histogram", "no", [])


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:8080", ("127.0.0.1", 8080)), ("0.0.0.0:80", ("0.0.0.0", 80)), (":9000", ("127.0.0.1", 9000)),
     ("9000", ("127.0.0.1", 9000)), ("[::1]:8081", ("::1", 8081)), ("pi.local:8080", ("pi.local", 8080))],
)  # fmt: skip
def test_http_address_forms(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:http", "1.2.3.4:0", "1.2.3.4:70000"])
def test_bad_http_addresses_are_usage_errors(text):
    with pytest.raises(UsageError, match="is not HOST:PORT"):
        parse_address(text)
