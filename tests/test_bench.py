"""``edgevision bench`` on a real model and clip: its report follows the published schema."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from cli_runner import REPO, edgevision
from model_factory import build_model
from video_clips import write_clip

from edgevision import bench
from edgevision.inference.model import Model
from edgevision.pipeline import decode_threads_for

SCHEMA = json.loads((REPO / "edgevision/schema/bench.schema.json").read_text())
CLIP_FPS = 10.0


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    clip = write_clip(tmp_path_factory.mktemp("bench") / "clip.mp4", frames=30, fps=CLIP_FPS, size=(320, 180))
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


def test_throughput_measurements_report_their_median_run(report):
    assert report["repeat"] == 3
    for key in ("decode_only", "end_to_end", "serial_loop"):
        runs = report[key]["fps_runs"]
        assert len(runs) == 3
        assert report[key]["fps"] == sorted(runs)[1]


def test_median_run_picks_the_middle_and_keeps_every_run():
    runs = [{"fps": 150.0, "frames": 1}, {"fps": 210.0, "frames": 2}, {"fps": 170.0, "frames": 3}]
    assert bench.median_run(runs) == {"fps": 170.0, "frames": 3, "fps_runs": [150.0, 210.0, 170.0]}
    assert bench.median_run(runs[:2])["fps"] == 150.0  # even count: the slower middle run
    assert bench.median_run(runs[:1])["fps_runs"] == [150.0]


def test_every_measurement_decodes_with_the_pipelined_runtime_s_threads(report):
    assert report["decode_threads"] == decode_threads_for(1)


def test_live_rate_plays_the_source_at_its_frame_rate_and_reports_latency_against_the_limit(report):
    live = report["live_rate"]
    assert live["source_fps"] == pytest.approx(CLIP_FPS)
    assert live["frames"] > 0 and live["latency_ms"]["count"] == live["frames"]
    taken = live["frames"] + live["dropped_frames"]
    assert 20 <= taken <= 30
    assert live["seconds"] >= 0.9 * (taken - 1) / CLIP_FPS  # paced, not read as fast as possible
    per_frame_ms = 1e3 / report["decode_only"]["fps"] + report["invoke_only"]["mean"]
    assert live["latency_limit_ms"] == pytest.approx(2 * per_frame_ms)
    assert report["ratios"]["live_latency_p95_vs_limit"] == pytest.approx(live["latency_ms"]["p95"] / (2 * per_frame_ms))


def test_live_rate_is_a_short_run(tmp_path, monkeypatch):
    clip = write_clip(tmp_path / "clip.mp4", frames=12, fps=CLIP_FPS, size=(96, 64))
    monkeypatch.setattr(bench, "LIVE_FRAMES", 4)
    live = bench.live_rate(Model(build_model("ssd", "uint8")), str(clip), 10, 1, 5.0)
    assert 0 < live["frames"] <= 4 <= live["frames"] + live["dropped_frames"]  # 4 frames taken, not 10
    assert live["latency_limit_ms"] == 5.0


def test_comparison_reports_size_and_speed_ratios(report):
    compare = report["compare"]
    assert compare["input"]["dtype"] == "float32"
    assert compare["size_ratio"] == pytest.approx(report["model_size_bytes"] / compare["model_size_bytes"])


@pytest.mark.parametrize(
    "breakage",
    [
        lambda r: r.pop("ratios"),
        lambda r: r.pop("decode_threads"),
        lambda r: r["live_rate"].pop("latency_limit_ms"),
        lambda r: r["end_to_end"].update(source_fps=12.0),  # only the live-rate run has a source rate
        lambda r: r["live_rate"].update(speed=1.0),
        lambda r: r["serial_loop"].pop("fps_runs"),
        lambda r: r["end_to_end"].update(fps_runs=[]),
        lambda r: r["live_rate"].update(fps_runs=[1.0]),  # one paced run, no repeats
    ],
)
def test_schema_rejects_a_broken_report(report, breakage):
    broken = json.loads(json.dumps(report))
    breakage(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


def test_text_report_names_each_measurement(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=12, size=(160, 96))
    result = edgevision(
        "bench", "--model", build_model("ssd", "uint8"), "--source", clip, "--frames", "10", "--decode-threads", "3"
    )
    assert result.returncode == 0, result.stderr
    for heading in ("invoke", "decode", "end-to-end", "serial", "live rate", "peak RSS"):
        assert heading in result.stdout
    assert "(limit 2 x (decode + invoke) = " in result.stdout
    assert "(10 frames, decode threads 3)" in result.stdout
    assert "[median of 3 runs: " in result.stdout


@pytest.mark.parametrize(("cores", "expected"), [(1, [1]), (2, [1]), (4, [1, 2, 3]), (8, list(range(1, 8)))])
def test_thread_probe_leaves_a_core_for_capture_and_decoding(cores, expected):
    assert list(bench.thread_candidates(cores)) == expected


def test_run_with_threads_auto_uses_a_probed_count(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=3, fps=CLIP_FPS, size=(320, 180))
    result = edgevision("run", "--model", build_model("ssd", "uint8"), "--source", clip, "--threads", "auto")
    assert result.returncode == 0, result.stderr
    assert len(result.json_lines()) == 3
    chosen = re.search(r"--threads auto: using (\d+) interpreter threads", result.stderr)
    assert chosen is not None, result.stderr
    assert int(chosen.group(1)) in bench.thread_candidates()
