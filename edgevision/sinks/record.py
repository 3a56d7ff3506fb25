"""Writing the annotated video to a file with OpenCV's VideoWriter."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from edgevision.core import FrameResult
from edgevision.errors import UsageError

log = logging.getLogger(__name__)

# Codecs that OpenCV's pip wheels can write (they have no H.264 encoder).
FOURCC_BY_SUFFIX = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


class VideoRecorder:
    """Frames to a video file; opened on the first frame, whose size every later frame takes.

    The path is checked in ``__init__`` so a bad ``--record`` fails before the camera starts,
    not minutes later; ``close`` finalizes the file (an mp4 without it is unplayable).
    """

    def __init__(self, path: str | Path, fps: float = 15.0) -> None:
        self.path = Path(path)
        self.fps = float(fps)
        if self.fps <= 0:
            raise UsageError(f"recording frame rate must be positive, got {fps}")
        if self.path.is_dir():
            raise UsageError(f"cannot record to {self.path}: it is a folder; give a file such as {self.path / 'out.mp4'}")
        suffix = self.path.suffix.lower()
        if suffix not in FOURCC_BY_SUFFIX:
            raise UsageError(
                f"cannot record to {self.path}: use a file name ending in {', '.join(FOURCC_BY_SUFFIX)}"
            )
        self.fourcc = FOURCC_BY_SUFFIX[suffix]
        parent = self.path.parent
        if not parent.is_dir() or not os.access(parent, os.W_OK):
            raise UsageError(
                f"cannot record to {self.path}: {parent} is not a writable folder; choose another --record path"
            )
        self._writer: cv2.VideoWriter | None = None
        self.size: tuple[int, int] | None = None
        self.frames_written = 0

    def write(self, image: np.ndarray) -> None:
        if self._writer is None:
            self._open(image)
        assert self._writer is not None and self.size is not None
        if (image.shape[1], image.shape[0]) != self.size:  # a reconnected camera may change size
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames_written += 1

    def _open(self, image: np.ndarray) -> None:
        self.size = (int(image.shape[1]), int(image.shape[0]))
        writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*self.fourcc), self.fps, self.size)
        if not writer.isOpened():
            writer.release()
            raise UsageError(f"cannot record to {self.path}: OpenCV could not open it for writing ({self.fourcc})")
        log.info("recording %dx%d at %.1f fps to %s", *self.size, self.fps, self.path)
        self._writer = writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.info("recorded %d frames to %s", self.frames_written, self.path)

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class RecordSink:
    """The pipeline sink for ``--record``: writes each annotated frame."""

    needs_image = True
    keeps_frame = False
    needs_payload = False

    def __init__(self, path: str | Path, fps: float = 15.0) -> None:
        self.recorder = VideoRecorder(path, fps)

    def handle(self, result: FrameResult, payload: dict | None, annotated: np.ndarray | None) -> None:
        self.recorder.write(annotated if annotated is not None else result.frame.image)

    def close(self) -> None:
        self.recorder.close()
