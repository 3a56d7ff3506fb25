"""The display sink on this headless OpenCV, and the GUI checks against real build texts."""

from __future__ import annotations

import cv2
import pytest

from edgevision.errors import UsageError
from edgevision.sinks.display import DisplaySink, check_display, gui_backend

GTK_BUILD = "  GUI:                           GTK3\n    GTK+:                        YES (ver 3.24.38)\n"


def test_this_opencv_is_headless_and_the_sink_says_what_to_do() -> None:
    if gui_backend() is not None:
        pytest.skip("this OpenCV has a GUI backend")
    assert "GUI:                           NONE" in cv2.getBuildInformation()
    with pytest.raises(UsageError, match=r"headless.*--record out\.mp4 or the HTTP view"):
        DisplaySink()


def test_gui_backend_from_build_information() -> None:
    assert gui_backend(GTK_BUILD) == "GTK3"
    assert gui_backend("  GUI:   QT5\n") == "QT5"
    assert gui_backend("  GUI:                           NONE\n") is None
    assert gui_backend("nothing about a GUI") is None


def test_gui_build_without_a_desktop_session() -> None:
    with pytest.raises(UsageError, match="DISPLAY is not set"):
        check_display(GTK_BUILD, environ={})
    assert check_display(GTK_BUILD, environ={"DISPLAY": ":0"}) == "GTK3"
    assert check_display(GTK_BUILD, environ={"WAYLAND_DISPLAY": "wayland-0"}) == "GTK3"
