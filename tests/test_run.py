"""``edgevision run`` end to end on real models and real video files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from cli_runner import REPO, edgevision
from model_factory import build_model
from video_clips import write_clip

from edgevision.decoders.nms import box_iou
from edgevision.inference.model import Model
from edgevision.pipeline import Pipeline, decode_threads_for
from edgevision.sources.factory import open_source

SCHEMA = json.loads((REPO / "edgevision/schema/frame.schema.json").read_text())


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", frames=12, size=(160, 96))


def test_json_lines_follow_the_schema_for_every_task(clip):
    models = [build_model(f, "uint8") for f in ("ssd", "classification", "segmentation-nhwc")]
    args = [a for m in models for a in ("--model", m)]
    result = edgevision("run", *args, "--source", clip, "--max-frames", "4", "--polygons")
    assert result.returncode == 0, result.stderr
    lines = result.json_lines()
    assert [line["frame_index"] for line in lines] == [0, 1, 2, 3]
    for line in lines:
        jsonschema.validate(line, SCHEMA)
        assert (line["width"], line["height"]) == (160, 96)
        assert [m["task"] for m in line["models"]] == ["detection", "classification", "segmentation"]
    detections = lines[0]["models"][0]["detections"]
    assert detections and all(0 <= d["box"][0] < d["box"][2] <= 160 for d in detections)


def test_schema_rejects_a_malformed_line(clip):
    line = edgevision("run", "--model", build_model("ssd", "uint8"), "--source", clip, "--max-frames", "1").json_lines()[0]
    line["models"][0]["detections"][0]["box"] = [1, 2, 3]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(line, SCHEMA)


def test_logs_never_reach_stdout(clip):
    result = edgevision("--log-level", "debug", "run", "--model", build_model("ssd", "uint8"), "--source", clip)
    assert result.returncode == 0
    assert len(result.json_lines()) == 12  # every stdout line parses as JSON
    assert "processed 12 frames" in result.stderr


def test_output_none_prints_nothing(clip):
    result = edgevision("run", "--model", build_model("ssd", "uint8"), "--source", clip, "--output", "none")
    assert result.returncode == 0 and result.stdout == ""


def test_runtime_never_imports_tensorflow(clip):
    probe = (
        "import sys, atexit\n"
        "atexit.register(lambda: print('TENSORFLOW', any(m.split('.')[0] in ('tensorflow', 'keras')"
        " for m in sys.modules), file=sys.stderr))\n"
        "from edgevision.cli import main\n"
        "main()\n"
    )
    model = build_model("ssd", "uint8")
    proc = subprocess.run(
        [sys.executable, "-c", probe, "run", "--model", str(model), "--source", str(clip), "--max-frames", "2"],
        capture_output=True, text=True, cwd=REPO, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "TENSORFLOW False" in proc.stderr


def _collect(clip: Path, threaded: bool) -> list:
    class Collect:
        needs_image = False
        keeps_frame = False
        needs_payload = True
        results: list = []

        def handle(self, result, payload, annotated):
            self.results.append(payload)

        def close(self):
            pass

    sink = Collect()
    sink.results = []
    models = [Model(build_model("ssd", "uint8")), Model(build_model("segmentation-nhwc", "uint8"))]
    Pipeline(open_source(str(clip)), models, [sink], threaded=threaded).run()
    return sink.results


def _without_timings(payload: dict) -> dict:
    body = {k: v for k, v in payload.items() if k not in ("timings_ms", "timestamp")}
    body["models"] = [{k: v for k, v in m.items() if k != "timings_ms"} for m in payload["models"]]
    return body


def test_threaded_pipeline_matches_serial_frame_for_frame(clip):
    before = threading.active_count()
    threaded = _collect(clip, threaded=True)
    serial = _collect(clip, threaded=False)
    assert len(threaded) == len(serial) == 12
    assert [_without_timings(p) for p in threaded] == [_without_timings(p) for p in serial]
    assert threading.active_count() == before  # no thread left behind


@pytest.mark.parametrize(
    ("cores", "threads", "expected"), [(2, 1, 1), (2, None, 1), (4, None, 2), (4, 2, 1), (4, 4, 1), (8, 2, 5)]
)
def test_decoding_gets_the_cores_the_interpreter_and_publishing_leave(monkeypatch, cores, threads, expected):
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert decode_threads_for(threads) == expected


def test_run_decodes_with_the_threads_asked_for_or_by_the_rule(clip):
    def decode_threads_logged(*args: str) -> list[str]:
        result = edgevision("--debug", "run", "--model", build_model("ssd", "uint8"), "--source", clip,
                            "--max-frames", "1", "--output", "none", *args)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return [line.split(": ")[-1] for line in result.stderr.splitlines() if "FFmpeg decoding threads" in line]

    assert decode_threads_logged("--decode-threads", "3") == ["3 FFmpeg decoding threads"]
    assert decode_threads_logged("--threads", "1") == [f"{decode_threads_for(1)} FFmpeg decoding threads"]


def test_max_frames_stops_early(clip):
    result = edgevision("run", "--model", build_model("ssd", "uint8"), "--source", clip, "--max-frames", "3")
    assert [line["frame_index"] for line in result.json_lines()] == [0, 1, 2]


def _overlapping_pairs_of_two_classes(line: dict) -> int:
    """Pairs of detections in one frame that overlap (IoU > 0.5) and name different classes."""
    dets = line["models"][0]["detections"]
    boxes = np.array([d["box"] for d in dets], np.float32).reshape(-1, 4)
    classes = np.array([d["class_id"] for d in dets])
    pairs = 0
    for i in range(len(dets) - 1):
        overlapping = box_iou(boxes[i], boxes[i + 1:]) > 0.5
        pairs += int(np.sum(overlapping & (classes[i + 1:] != classes[i])))
    return pairs


def test_agnostic_nms_flag_leaves_one_box_per_digit_on_the_demo():
    """The shipped detector's NMS runs per class, so an uncertain digit can get two boxes;
    ``--agnostic-nms`` keeps the better one."""
    args = ("run", "--source", "demo", "--max-frames", "60")
    plain = sum(_overlapping_pairs_of_two_classes(line) for line in edgevision(*args).json_lines())
    merged = edgevision(*args, "--agnostic-nms").json_lines()
    assert plain > 0
    assert len(merged) == 60 and sum(_overlapping_pairs_of_two_classes(line) for line in merged) == 0
