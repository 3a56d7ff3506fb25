"""The soak benchmark as a test: 20,000 frames, and 30 stream reconnects, through
``edgevision run`` with flat memory and a constant thread count.

Slow (minutes with the shipped model), so not part of CI; run it with ``pytest -m slow tests/test_soak.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rtsp_server import gst_rtsp_available

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_20000_frames_without_memory_or_thread_growth(tmp_path):
    report_path = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "soak.py"), "--json", str(report_path)],
        capture_output=True, text=True, cwd=REPO, timeout=1800,
    )  # fmt: skip
    assert report_path.exists(), proc.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["frames"] >= 20_000
    assert report["rss_growth_mb"] < 10.0, report
    assert report["threads_end"] <= report["threads_warmup"], report
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.skipif(not gst_rtsp_available(), reason="needs /usr/bin/python3 with GstRtspServer")
def test_30_reconnects_without_memory_or_thread_growth(tmp_path):
    report_path = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "soak.py"), "--reconnects", "30", "--json", str(report_path)],
        capture_output=True, text=True, cwd=REPO, timeout=1800,
    )  # fmt: skip
    assert report_path.exists(), proc.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["reconnects"] >= 31  # the warm-up cycle and 30 more
    assert report["rss_growth_mb"] < 10.0, report
    assert report["threads_end"] <= report["threads_warmup"], report
    assert proc.returncode == 0, proc.stderr[-3000:]
