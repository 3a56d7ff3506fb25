"""Golden results: the shipped default detector on the shipped demo clip.

``edgevision run`` with no ``--model`` and ``--source demo`` must keep giving the detections
recorded in ``tests/golden/demo_detections.json`` (boxes within 1.5 px, scores within 0.02).
After retraining the shipped model on purpose, record them again with
``python tests/test_golden.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_runner import REPO, edgevision

GOLDEN = REPO / "tests/golden/demo_detections.json"
FRAMES = 40
BOX_TOLERANCE_PX = 1.5
SCORE_TOLERANCE = 0.02


def current_detections() -> list[list[dict]]:
    result = edgevision("run", "--source", "demo", "--max-frames", str(FRAMES), "--threads", "1")
    assert result.returncode == 0, result.stderr
    lines = result.json_lines()
    assert [line["models"][0]["name"] for line in lines] == ["digit_detector"] * FRAMES
    return [line["models"][0]["detections"] for line in lines]


def test_default_model_on_demo_clip_matches_golden():
    golden = json.loads(GOLDEN.read_text())
    current = current_detections()
    assert sum(map(len, golden)) > 0, "the golden file must contain detections"
    for index, (want, got) in enumerate(zip(golden, current, strict=True)):
        assert [d["label"] for d in got] == [d["label"] for d in want], f"frame {index}"
        for w, g in zip(want, got):
            assert g["score"] == pytest.approx(w["score"], abs=SCORE_TOLERANCE), f"frame {index}"
            assert g["box"] == pytest.approx(w["box"], abs=BOX_TOLERANCE_PX), f"frame {index}"


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "tests"))
    GOLDEN.write_text(json.dumps(current_detections(), indent=1) + "\n")
    print(f"recorded {GOLDEN}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "pytest", "-q", __file__], check=True)
