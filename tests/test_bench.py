"""``edgevision bench`` on a real model and clip: its report follows the published schema."""

from __future__ import annotations

import json

import jsonschema
import pytest
from cli_runner import REPO, edgevision
from model_factory import build_model
from video_clips import write_clip

from edgevision.pipeline import decode_threads_for

SCHEMA = json.loads((REPO / "edgevision/schema/bench.schema.json").read_text())


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    clip = write_clip(tmp_path_factory.mktemp("bench") / "clip.mp4", frames=30, size=(320, 180))
    result = edgevision(
        "bench", "--model", build_model("ssd", "uint8"), "--source", clip, "--frames", "20",
        "--compare", build_model("ssd", "float32"), "--threads", "1", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_report_follows_the_schema(report):
    jsonschema.validate(report, SCHEMA)


def test_every_measurement_ran_on_the_requested_frames(report):
    assert report["invoke_only"]["count"] >= 20  # at least N runs (and one second)
    assert report["decode_only"]["frames"] == report["end_to_end"]["frames"] == report["serial_loop"]["frames"] == 20
    stages = report["end_to_end"]["stage_ms_per_frame"]
    assert {"capture", "preprocess", "invoke", "decode", "draw", "publish"} <= set(stages)
    assert report["end_to_end"]["latency_ms"]["count"] == 20


def test_every_measurement_decodes_with_the_pipelined_runtime_s_threads(report):
    assert report["decode_threads"] == decode_threads_for(1)


def test_comparison_reports_size_and_speed_ratios(report):
    compare = report["compare"]
    assert compare["input"]["dtype"] == "float32"
    assert compare["size_ratio"] == pytest.approx(report["model_size_bytes"] / compare["model_size_bytes"])


def test_schema_rejects_a_report_without_ratios(report):
    broken = {k: v for k, v in report.items() if k != "ratios"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_text_report_names_each_measurement(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=12, size=(160, 96))
    result = edgevision(
        "bench", "--model", build_model("ssd", "uint8"), "--source", clip, "--frames", "10", "--decode-threads", "3"
    )
    assert result.returncode == 0, result.stderr
    for heading in ("invoke", "decode", "end-to-end", "serial", "peak RSS"):
        assert heading in result.stdout
    assert "(10 frames, decode threads 3)" in result.stdout
