"""Small real video clips for source, RTSP and recording tests.

Frame ``i`` is a flat grey of level ``i * STEP``, so a reader can tell which frame it got even
after lossy compression (H.264, JPEG) and check order and completeness.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np

STEP = 8


def frame_image(i: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    width, height = size
    return np.full((height, width, 3), (i * STEP) % 256, np.uint8)


def frame_number(image: np.ndarray) -> int:
    """Which frame of a clip made here this decoded image is (nearest grey level)."""
    return int(round(float(image.mean()) / STEP))


def write_clip(path: Path, frames: int = 20, *, fps: float = 10.0, fourcc: str = "mp4v",
               size: tuple[int, int] = (64, 48)) -> Path:  # fmt: skip
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} to {path}"
    for i in range(frames):
        writer.write(frame_image(i, size))
    writer.release()
    return path


def write_h264_clip(path: Path, frames: int = 20, *, fps: int = 10, size: tuple[int, int] = (64, 48)) -> Path:
    """H.264 through Debian's ffmpeg (OpenCV's pip build cannot encode H.264)."""
    raw = b"".join(frame_image(i, size).tobytes() for i in range(frames))
    width, height = size
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
         "-s", f"{width}x{height}", "-r", str(fps), "-i", "-", "-c:v", "libx264",
         "-pix_fmt", "yuv420p", "-g", "5", "-crf", "12", str(path)],
        input=raw, check=True,
    )  # fmt: skip
    return path
