"""What the pipeline hands its sinks: the annotated frame is drawn on the decoded frame itself
unless a sink keeps that frame, and the JSON payload is built only when a sink reads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from model_factory import build_model
from video_clips import write_clip

from edgevision.inference.model import Model
from edgevision.pipeline import Pipeline
from edgevision.sources.factory import open_source


class Recorder:
    """A sink that remembers what it was handed: (frame image, payload, annotated) per frame."""

    def __init__(self, *, needs_image: bool = False, keeps_frame: bool = False, needs_payload: bool = False) -> None:
        self.needs_image, self.keeps_frame, self.needs_payload = needs_image, keeps_frame, needs_payload
        self.calls: list[tuple[np.ndarray, dict | None, np.ndarray | None]] = []

    def handle(self, result, payload, annotated) -> None:
        self.calls.append((result.frame.image, payload, annotated))

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("sinks") / "clip.mp4", frames=6, size=(160, 96))


@pytest.fixture(scope="module")
def clean(clip) -> list[np.ndarray]:
    with open_source(str(clip)) as source:
        return [frame.image for frame in source]


def run(clip: Path, *sinks: Recorder) -> None:
    Pipeline(open_source(str(clip)), [Model(build_model("ssd", "uint8"))], list(sinks)).run()


def test_without_a_sink_keeping_the_frame_drawing_goes_onto_it(clip, clean):
    drawer = Recorder(needs_image=True)
    run(clip, drawer)
    assert len(drawer.calls) == len(clean)
    for (image, _, annotated), original in zip(drawer.calls, clean):
        assert annotated is image
        assert not np.array_equal(image, original)  # the info line at least


def test_a_sink_that_keeps_the_frame_gets_it_clean(clip, clean):
    drawer, keeper = Recorder(needs_image=True), Recorder(keeps_frame=True)
    run(clip, drawer, keeper)
    assert len(keeper.calls) == len(clean)
    for (image, _, _), (_, _, annotated), original in zip(keeper.calls, drawer.calls, clean):
        assert np.array_equal(image, original)
        assert annotated is not image and not np.array_equal(annotated, original)


def test_payload_is_built_only_when_a_sink_reads_it(clip, clean):
    quiet = Recorder(needs_image=True)
    run(clip, quiet)
    assert [payload for _, payload, _ in quiet.calls] == [None] * len(clean)
    reader, other = Recorder(needs_payload=True), Recorder()
    run(clip, reader, other)
    assert [payload["frame_index"] for _, payload, _ in reader.calls] == list(range(len(clean)))
    assert [payload for _, payload, _ in other.calls] == [payload for _, payload, _ in reader.calls]
