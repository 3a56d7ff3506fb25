"""Every bad input a user can give ``edgevision run`` ends in one clear line and a non-zero
exit code, with no traceback unless --debug. Bad sources, --record and --display: test_sources_cli.py."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_runner import edgevision
from model_factory import build_model
from video_clips import write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", frames=5, size=(96, 64))


@pytest.fixture(scope="module")
def ssd() -> Path:
    return build_model("ssd", "uint8")


def assert_one_line_error(result, *fragments: str, code: int = 2) -> None:
    assert result.returncode == code, result.stderr
    lines = result.error_lines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("edgevision: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_model(clip):
    assert_one_line_error(edgevision("run", "--model", "nope.tflite", "--source", clip), "nope.tflite")


def test_empty_model(tmp_path, clip):
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    assert_one_line_error(edgevision("run", "--model", empty, "--source", clip), "empty.tflite", "empty")


def test_truncated_model(tmp_path, clip, ssd):
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(ssd.read_bytes()[: ssd.stat().st_size // 2])
    assert_one_line_error(edgevision("run", "--model", truncated, "--source", clip), "truncated.tflite")


def test_not_a_tflite_file(tmp_path, clip):
    png = tmp_path / "picture.tflite"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    assert_one_line_error(edgevision("run", "--model", png, "--source", clip), "picture.tflite")


def test_model_that_fits_no_family_names_shapes_and_flag(tmp_path, clip):
    import keras
    from export.convert import convert

    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Reshape((2, 3, 4, 2))(keras.layers.Dense(48)(keras.layers.Flatten()(inputs)))
    odd = tmp_path / "odd.tflite"
    odd.write_bytes(convert(keras.Model(inputs, outputs), "float32"))
    result = edgevision("run", "--model", odd, "--source", clip)
    assert_one_line_error(result, "[1, 2, 3, 4, 2]", "--family")


@pytest.mark.parametrize("family", ["classification", "ssd"])
def test_label_file_longer_than_the_model(tmp_path, clip, family):
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"class{i}" for i in range(50)))
    model = build_model(family, "uint8")
    assert_one_line_error(edgevision("run", "--model", model, "--labels", labels, "--source", clip), "labels.txt")


def test_unknown_delegate_fails_when_asked_to(clip, ssd):
    result = edgevision("run", "--model", ssd, "--source", clip, "--delegate", "/nonexistent/libdelegate.so",
                        "--delegate-fallback", "fail")  # fmt: skip
    assert_one_line_error(result, "libdelegate.so", "--delegate-fallback cpu")


def test_unknown_delegate_falls_back_to_cpu_and_says_so(clip, ssd):
    result = edgevision("run", "--model", ssd, "--source", clip, "--delegate", "edgetpu", "--max-frames", "2")
    assert result.returncode == 0, result.stderr
    assert "running on CPU" in result.stderr
    assert len(result.json_lines()) == 2


def test_debug_shows_the_traceback(clip):
    result = edgevision("--debug", "run", "--model", "nope.tflite", "--source", clip)
    assert result.returncode != 0
    assert "Traceback" in result.stderr


@pytest.mark.parametrize("command", ["run", "bench"])
def test_decode_threads_below_one(clip, ssd, command):
    result = edgevision(command, "--model", ssd, "--source", clip, "--decode-threads", "0")
    assert_one_line_error(result, "--decode-threads must be 1 or more, got 0")


def test_source_and_camera_together(clip, ssd):
    assert_one_line_error(edgevision("run", "--model", ssd, "--source", clip, "--camera", "0"), "--camera")


def test_train_without_tensorflow_says_which_extra(tmp_path):
    # A 'tensorflow' that cannot be imported, as on a device with the runtime install only.
    blocker = tmp_path / "tensorflow"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('No module named tensorflow', name='tensorflow')\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    data = tmp_path / "data"
    for name in ("cat", "dog"):
        (data / name).mkdir(parents=True)
        cv2.imwrite(str(data / name / "1.png"), np.zeros((8, 8, 3), np.uint8))
    result = edgevision("train", "classify", data, "--out", tmp_path / "run", env=env)
    assert_one_line_error(result, "edgevision[train]")


@pytest.mark.parametrize("args, fragment", [
    (("run", "--no-such-flag"), "'--no-such-flag'"),
    (("run", "--max-frames", "0"), "--max-frames"),
    (("no-such-command",), "'no-such-command'"),
])
def test_command_line_mistakes_are_one_line(args, fragment):
    """Click's own errors too: one line that points at --help, no usage banner."""
    assert_one_line_error(edgevision(*args), fragment, "--help'")
