"""The live-view page in a real headless Chromium (Debian package): video shown, counts rendered."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
from http_live import PERSON_BOX, Feeder, scene_image, write_scene_clip

from edgevision.http import HttpSink
from edgevision.sinks.draw import class_color

CHROMIUM = shutil.which("chromium")

TOKEN = "page-token"


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    assert CHROMIUM, "these tests need Debian's chromium: apt-get install chromium"
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--no-first-run", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--timeout=3000", "--window-size=1280,900", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=90)


def find_video(screenshot: np.ndarray) -> tuple[float, tuple[int, int], float]:
    """Where the clip's still background (the rocket) shows on the page: (score, top-left, scale).

    A coarse search over scales at quarter resolution, then a fine one around the best match.
    """
    patch = scene_image(0)[40:230, 430:630]  # above the sliding square, right of the person box
    small = cv2.resize(screenshot, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)
    _, where, scale = _best_match(small, patch, np.arange(0.5, 2.01, 0.05) / 4)
    x, y, margin = where[0] * 4, where[1] * 4, 12
    region = screenshot[max(y - margin, 0) :, max(x - margin, 0) :]
    height, width = (int(n * (scale * 4 + 0.05)) + 2 * margin for n in patch.shape[:2])
    region = region[:height, :width]
    score, (dx, dy), fine = _best_match(region, patch, np.arange(scale * 4 - 0.05, scale * 4 + 0.051, 0.01))
    return score, (max(x - margin, 0) + dx, max(y - margin, 0) + dy), fine


def _best_match(image: np.ndarray, patch: np.ndarray, scales: np.ndarray) -> tuple[float, tuple[int, int], float]:
    best = (-1.0, (0, 0), 1.0)
    for scale in scales:
        template = cv2.resize(patch, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if template.shape[0] > image.shape[0] or template.shape[1] > image.shape[1]:
            continue
        _, score, _, where = cv2.minMaxLoc(cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED))
        if score > best[0]:
            best = (float(score), where, float(scale))
    return best


def test_page_shows_the_annotated_video_and_the_counts(tmp_path):
    clip = write_scene_clip(tmp_path / "scene.avi")
    sink = HttpSink("127.0.0.1", 0, token=TOKEN, snapshot_dir=tmp_path / "snapshots")
    sink.start()
    feeder = Feeder(sink, clip)
    feeder.start()
    try:
        feeder.wait_frames(5)
        url = f"{sink.url}?token={TOKEN}"
        shot = tmp_path / "page.png"
        result = chromium(tmp_path, f"--screenshot={shot}", url)
        assert result.returncode == 0, result.stderr[-2000:]
        dom = chromium(tmp_path, "--dump-dom", url)
        assert dom.returncode == 0, dom.stderr[-2000:]
    finally:
        feeder.stop()
        sink.close()

    image = cv2.imread(str(shot))
    assert image.shape[:2] == (900, 1280)
    score, (left, top), scale = find_video(image)
    assert score > 0.8, f"the video frame is not on the page (best match {score:.2f})"
    # The person's box outline, where the frame is drawn on the page: the stream is annotated.
    x0, y0 = left - 430 * scale, top - 40 * scale  # the frame's top-left corner on the page
    x1, y1, _, y2 = PERSON_BOX
    edge = image[int(y0 + (y1 + 40) * scale) : int(y0 + (y2 - 5) * scale), int(round(x0 + x1 * scale))]
    assert np.abs(edge.astype(float).mean(axis=0) - class_color(1)).max() < 60, "boxes are drawn"

    counts = dict(re.findall(r'<tr class="count" data-label="([^"]+)"><td>[^<]*</td><td class="n">(\d+)</td>',
                             dom.stdout))  # fmt: skip
    assert counts == {"person": "1", "square": "1"}
    assert re.search(r"\d+\.\d fps · inference \d+\.\d ms", dom.stdout)
    assert re.search(r'<li class="event">person on yard \(new, 0\.90\)', dom.stdout)
