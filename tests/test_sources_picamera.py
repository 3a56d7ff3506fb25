"""The Pi camera module off the Pi: colour order, config, errors, with a stand-in camera.

picamera2 cannot be imported here, so a small object with the same methods stands in for
``Picamera2``; it returns arrays in the memory order the picamera2 manual documents.
"""

from __future__ import annotations

import importlib.util
import threading

import numpy as np
import pytest

from edgevision.errors import SourceError, UsageError
from edgevision.sources import open_source
from edgevision.sources.live import Backoff, LiveSource
from edgevision.sources.picamera import PicameraGrabber, parse_spec, to_bgr

RED_BGR = (0, 0, 255)


class StandInCamera:
    """Captures a pure red scene, laid out in memory as picamera2 lays out ``fmt``."""

    memory_order = {"RGB888": "BGR", "BGR888": "RGB", "XRGB8888": "BGRX", "XBGR8888": "RGBX"}

    def __init__(self, index: int, fail_after: int | None = None) -> None:
        self.index = index
        self.calls: list[str] = []
        self.config: dict | None = None
        self.fail_after = fail_after
        self.captures = 0

    def create_video_configuration(self, main: dict, **kwargs: object) -> dict:
        return {"main": dict(main)}

    def configure(self, config: dict) -> None:
        self.config = config
        self.calls.append("configure")

    def start(self) -> None:
        self.calls.append("start")

    def capture_array(self, name: str = "main") -> np.ndarray:
        if self.fail_after is not None and self.captures >= self.fail_after:
            raise RuntimeError("camera timed out")
        self.captures += 1
        assert self.config is not None
        width, height = self.config["main"]["size"]
        value = {"R": 255, "G": 0, "B": 0, "X": 255}
        order = self.memory_order[self.config["main"]["format"]]
        pixel = [value[c] for c in order]
        return np.tile(np.array(pixel, np.uint8), (height, width, 1))

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


@pytest.mark.parametrize("fmt", ["RGB888", "BGR888", "XRGB8888", "XBGR8888"])
def test_every_format_comes_out_bgr(fmt: str) -> None:
    camera = StandInCamera(0)
    grabber = PicameraGrabber(0, size=(32, 24), fmt=fmt, factory=lambda i: camera)
    image = grabber.read()
    grabber.release()
    assert image is not None and image.shape == (24, 32, 3) and image.dtype == np.uint8
    assert tuple(image[0, 0]) == RED_BGR
    assert image.flags["C_CONTIGUOUS"]
    assert camera.config == {"main": {"size": (32, 24), "format": fmt}}
    assert camera.calls == ["configure", "start", "stop", "close"]


def test_default_format_needs_no_channel_swap() -> None:
    """RGB888 is already B, G, R in memory: the default costs no copy of reordered channels."""
    array = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    assert np.array_equal(to_bgr(array, "RGB888"), array)
    assert np.array_equal(to_bgr(array, "BGR888"), array[:, :, ::-1])


def test_bad_arrays_and_formats() -> None:
    with pytest.raises(UsageError, match="unsupported Pi camera format 'YUV420'"):
        to_bgr(np.zeros((2, 2, 3), np.uint8), "YUV420")
    with pytest.raises(SourceError, match="expected HxWx3/4 uint8"):
        to_bgr(np.zeros((2, 2), np.uint8), "RGB888")


def test_live_source_over_stand_in_camera_and_loss() -> None:
    """Capture failure counts as a lost camera: the reader reconnects through a new camera object."""
    cameras: list[StandInCamera] = []

    def connect() -> PicameraGrabber:
        cameras.append(StandInCamera(0, fail_after=3))
        return PicameraGrabber(0, size=(16, 8), factory=lambda i: cameras[-1])

    source = LiveSource("picamera2:0", connect, camera_name="picam0", backoff=Backoff(0.01, 0.05))
    frames = iter(source)
    got = [next(frames) for _ in range(8)]
    source.close()
    assert all(tuple(f.image[0, 0]) == RED_BGR for f in got)
    assert {f.camera for f in got} == {"picam0"}
    assert source.reconnects >= 2 and len(cameras) >= 3
    assert all(c.calls[-2:] == ["stop", "close"] for c in cameras)  # every camera released
    assert not [t for t in threading.enumerate() if t.name.startswith("grab-picamera2")]


def test_camera_that_fails_to_start_is_closed() -> None:
    class Broken(StandInCamera):
        def start(self) -> None:
            raise RuntimeError("Camera __init__ sequence did not complete")

    camera = Broken(0)
    with pytest.raises(SourceError, match="cannot start Pi camera 0"):
        PicameraGrabber(0, factory=lambda i: camera)
    assert camera.calls[-1] == "close"


@pytest.mark.parametrize("spec,index", [("picam", 0), ("picamera2:0", 0), ("picamera2:1", 1)])
def test_specs(spec: str, index: int) -> None:
    assert parse_spec(spec) == index


@pytest.mark.parametrize("spec", ["picamera2:", "picamera2:a", "picamera2:-1", "picamera2:0:1"])
def test_bad_specs(spec: str) -> None:
    with pytest.raises(UsageError, match="bad Pi camera source.*picamera2:N"):
        open_source(spec)


@pytest.mark.skipif(importlib.util.find_spec("picamera2") is not None, reason="picamera2 is installed here")
def test_without_picamera2_says_what_to_install() -> None:
    with pytest.raises(UsageError, match="picamera2, which is not installed.*apt install python3-picamera2"):
        open_source("picam")
