"""Recording annotated video to real files and reading them back with OpenCV."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgevision.core import Detections, Frame, FrameResult, Labels, ModelResult
from edgevision.errors import UsageError
from edgevision.sinks.draw import class_color, draw_frame_result
from edgevision.sinks.record import RecordSink, VideoRecorder
from video_clips import frame_image, frame_number


def read_back(path: Path) -> tuple[list[np.ndarray], float]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened(), f"{path} does not open"
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames, fps


@pytest.mark.parametrize("name", ["out.mp4", "out.avi"])
def test_writes_every_frame_at_the_given_rate(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with VideoRecorder(path, fps=12.0) as recorder:
        assert not path.exists()  # opened lazily, on the first frame's size
        for i in range(15):
            recorder.write(frame_image(i, (96, 64)))
        assert recorder.size == (96, 64)
    frames, fps = read_back(path)
    assert [frame_number(f) for f in frames] == list(range(15))
    assert frames[0].shape == (64, 96, 3)
    assert fps == pytest.approx(12.0, abs=0.01)


def test_later_frames_of_another_size_are_scaled(tmp_path: Path) -> None:
    path = tmp_path / "out.mp4"
    with VideoRecorder(path) as recorder:
        recorder.write(frame_image(1, (64, 48)))
        recorder.write(frame_image(2, (128, 96)))  # a camera that came back at another size
    frames, _ = read_back(path)
    assert [f.shape for f in frames] == [(48, 64, 3)] * 2
    assert [frame_number(f) for f in frames] == [1, 2]


def test_nothing_written_means_no_file(tmp_path: Path) -> None:
    recorder = VideoRecorder(tmp_path / "empty.mp4")
    recorder.close()
    recorder.close()
    assert not (tmp_path / "empty.mp4").exists()


def test_record_sink_writes_the_annotated_frames(tmp_path: Path) -> None:
    path = tmp_path / "annotated.avi"
    sink = RecordSink(path, fps=10.0)
    assert sink.needs_image
    image = np.full((720, 1280, 3), 40, np.uint8)  # full-size text and 3 px lines survive JPEG's chroma blur
    boxes = Detections(np.array([[100, 150, 1100, 600]], np.float32), np.array([0.9], np.float32), np.array([5]))
    drawn = []
    for i in range(3):
        result = FrameResult(Frame(image, i, 0.0, "cam"), (ModelResult("det", boxes, Labels()),))
        drawn.append(draw_frame_result(image, result, 10.0))
        sink.handle(result, {}, drawn[-1])
    sink.close()
    frames, _ = read_back(path)
    assert len(frames) == 3
    painted = (drawn[0] == class_color(5)).all(axis=2)  # box outline and label tag
    assert painted.sum() > 500
    recorded = frames[0][painted].astype(float)
    to_drawn = np.abs(recorded - drawn[0][painted]).mean()
    to_plain = np.abs(recorded - image[painted]).mean()
    assert to_drawn < to_plain / 3, (to_drawn, to_plain)
    assert abs(int(frames[0][400, 600].mean()) - 40) < 6  # inside the box: the plain frame


@pytest.mark.parametrize(
    "name,message",
    [
        ("missing-dir/out.mp4", "is not a writable folder"),
        ("out.gif", r"use a file name ending in \.mp4"),
        ("clips.mp4", "it is a folder"),
    ],
)
def test_bad_paths_fail_before_any_frame(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "clips.mp4").mkdir()
    with pytest.raises(UsageError, match=message):
        VideoRecorder(tmp_path / name)


def test_bad_fps() -> None:
    with pytest.raises(UsageError, match="frame rate must be positive"):
        VideoRecorder("out.mp4", fps=0)
