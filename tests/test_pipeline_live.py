"""The pipelined runtime on a live-rate source that is faster than its consumer."""

from __future__ import annotations

import threading
import time

import numpy as np
from model_factory import build_model
from video_clips import write_clip

from edgevision.inference.model import Model
from edgevision.pipeline import Pipeline
from edgevision.sources.factory import open_source

SINK_DELAY_S = 0.05


class SlowSink:
    """Stands for a slow output (a Pi drawing and publishing): 50 ms per frame."""

    needs_image = False
    keeps_frame = False
    needs_payload = False

    def __init__(self) -> None:
        self.indices: list[int] = []

    def handle(self, result, payload, annotated: np.ndarray | None) -> None:
        time.sleep(SINK_DELAY_S)
        self.indices.append(result.frame.index)

    def close(self) -> None:
        pass


def test_freshest_frames_win_and_latency_stays_bounded(tmp_path):
    # 100 fps live-rate source, consumer at 20 fps: most frames must be skipped, not queued.
    clip = write_clip(tmp_path / "clip.mp4", frames=100, fps=100.0, size=(96, 64))
    source = open_source(str(clip), realtime=True)
    sink = SlowSink()
    before = threading.active_count()
    stats = Pipeline(source, [Model(build_model("ssd", "uint8"))], [sink]).run()

    assert source.frames_dropped + stats.dropped > 30
    assert stats.frames == len(sink.indices) < 70
    assert sink.indices == sorted(sink.indices)  # never an older frame after a newer one
    # No build-up: a frame is published a bounded time after capture, not after a growing queue.
    latencies = np.array(stats.latencies_ms)
    assert np.percentile(latencies, 95) < 6 * SINK_DELAY_S * 1e3
    assert threading.active_count() == before


def test_a_file_processes_every_frame_however_slow_the_consumer(tmp_path):
    clip = write_clip(tmp_path / "clip.mp4", frames=15, fps=100.0, size=(96, 64))
    sink = SlowSink()
    Pipeline(open_source(str(clip)), [Model(build_model("ssd", "uint8"))], [sink]).run()
    assert sink.indices == list(range(15))
