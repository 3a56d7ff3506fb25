"""The live-view page in a real headless Chromium (Debian package): video shown, counts rendered."""

from __future__ import annotations

import re

import cv2
import numpy as np
from http_live import COUNT_ROW, PERSON_BOX, Feeder, chromium, find_video, write_scene_clip

from edgevision.http import HttpSink
from edgevision.sinks.draw import class_color

TOKEN = "page-token"


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
    # The page scales the frame, so the outline may land a pixel either side of where it maps.
    rows = slice(int(y0 + (y1 + 40) * scale), int(y0 + (y2 - 5) * scale))
    column = int(round(x0 + x1 * scale))
    misses = [
        np.abs(image[rows, x].astype(float).mean(axis=0) - class_color(1)).max() for x in range(column - 2, column + 3)
    ]
    assert min(misses) < 60, f"boxes are drawn (colour off by {min(misses):.0f})"

    counts = dict(re.findall(COUNT_ROW, dom.stdout))
    assert counts == {"person": "1", "square": "1"}
    assert re.search(r"\d+\.\d fps · inference \d+\.\d ms", dom.stdout)
    assert re.search(r'<li class="event">person on yard \(new, 0\.90\)', dom.stdout)
