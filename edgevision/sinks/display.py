"""A window showing the annotated video, where OpenCV was built with a GUI.

The ``opencv-python-headless`` wheel (our default dependency, right for servers and the Pi
as a service) has no GUI backend: ``imshow`` there raises a cryptic error on the first frame.
So the check happens when the sink is made, with a message that says what to do instead.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable

import cv2
import numpy as np

from edgevision.core import FrameResult
from edgevision.errors import UsageError

log = logging.getLogger(__name__)

_QUIT_KEYS = {ord("q"), 27}  # q, Esc


def gui_backend(build_information: str | None = None) -> str | None:
    """OpenCV's GUI backend (``GTK3``, ``QT5``, ``WIN32UI``, …), or None for a headless build."""
    info = cv2.getBuildInformation() if build_information is None else build_information
    match = re.search(r"^\s*GUI:\s*(\S+)", info, re.MULTILINE)
    if not match or match.group(1).upper() == "NONE":
        return None
    return match.group(1)


def check_display(build_information: str | None = None, environ: dict[str, str] | None = None) -> str:
    """The GUI backend to use, or a :class:`UsageError` saying why there is no window here."""
    backend = gui_backend(build_information)
    if backend is None:
        raise UsageError(
            "--display needs OpenCV with a GUI, but this OpenCV is headless (opencv-python-headless): "
            "use --record out.mp4 or the HTTP view instead, or `pip install opencv-python` on a desktop"
        )
    env = os.environ if environ is None else environ
    if sys.platform.startswith("linux") and not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        raise UsageError(
            "--display needs a desktop session, but DISPLAY is not set (e.g. over ssh or as a service): "
            "use --record out.mp4 or the HTTP view instead"
        )
    return backend


class DisplaySink:
    """Shows each annotated frame; closing the window or pressing q/Esc calls ``on_quit``.

    Set ``on_quit`` to the pipeline's stop; without it, quitting raises KeyboardInterrupt.
    The window is made on the first frame, in the thread that draws, as Qt requires.
    """

    needs_image = True
    keeps_frame = False
    needs_payload = False

    def __init__(self, title: str = "edgevision", on_quit: Callable[[], None] | None = None) -> None:
        self.backend = check_display()
        self.title = title
        self.on_quit = on_quit
        self.closed_by_user = False
        self._window_open = False

    def handle(self, result: FrameResult, payload: dict | None, annotated: np.ndarray | None) -> None:
        if self.closed_by_user:
            return
        if not self._window_open:
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL)
            self._window_open = True
            log.info("showing video in a %s window; press q to stop", self.backend)
        cv2.imshow(self.title, annotated if annotated is not None else result.frame.image)
        key = cv2.waitKey(1) & 0xFF
        if key in _QUIT_KEYS or cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self.closed_by_user = True
            if self.on_quit is None:
                raise KeyboardInterrupt
            self.on_quit()

    def close(self) -> None:
        if not self._window_open:
            return
        try:
            cv2.destroyWindow(self.title)
        except cv2.error:
            pass  # already closed by the user
