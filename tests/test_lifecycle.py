"""The service lifecycle end to end: the real ``edgevision run`` in a subprocess, stopped and
reloaded by signals, watched by a stand-in for systemd's notify socket, publishing to a real
mosquitto; files that end or loop; and the bad-input rows that end the process at start."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import pytest
from lifecycle_helpers import NotifyReceiver, Running, recorded_frames, write_config
from model_factory import build_model
from mosquitto import Mosquitto, Subscriber
from service_helpers import WITHOUT_DAC, run_cli
from video_clips import write_clip

CLIP_FRAMES = 30
STOP_LIMIT_S = 2.0


@pytest.fixture(scope="module")
def model() -> Path:
    return build_model("ssd", "uint8")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", frames=CLIP_FRAMES, fps=15.0, size=(160, 96))


@pytest.fixture
def notify(tmp_path):
    receiver = NotifyReceiver(tmp_path / "notify.sock")
    yield receiver
    receiver.close()


@pytest.fixture
def broker(tmp_path):
    server = Mosquitto(tmp_path / "mosquitto").start()
    yield server
    server.stop()


# --- stopping -------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_finalizes_and_exits_0_within_2_s(tmp_path, model, clip, notify, broker, signum):
    out = tmp_path / "out.mp4"
    url = f"mqtt://127.0.0.1:{broker.port}/lc"
    with Running("--model", model, "--source", clip, "--loop", "--realtime", "--record", out, "--mqtt", url,
                 notify=notify) as child:  # fmt: skip
        child.wait_frames(CLIP_FRAMES + 5)  # looped at least once
        assert notify.messages("READY"), "READY=1 not sent after the first frame"
        sent = time.monotonic()
        child.signal(signum)
        code = child.wait(10)
        took = time.monotonic() - sent
    assert code == 0, child.stderr()
    assert took < STOP_LIMIT_S, f"took {took:.2f} s to stop"
    assert "Traceback" not in child.stderr()
    assert recorded_frames(out) == len(child.frames())  # finalized, and every published frame is in it
    assert notify.messages("STOPPING", since=sent)
    late = Subscriber(broker.port, "lc/available")  # a newcomer sees the retained state
    try:
        assert late.wait(lambda s: s.on("lc/available"), 5), "nothing retained on lc/available"
        message = late.on("lc/available")[-1]
        assert message.payload == b"offline" and message.retain
    finally:
        late.close()


def test_a_file_ends_with_exit_0(model, clip, notify):
    with Running("--model", model, "--source", clip, notify=notify) as child:
        code = child.wait(60)
    assert code == 0, child.stderr()
    assert [f["frame_index"] for f in child.frames()] == list(range(CLIP_FRAMES))
    assert notify.messages("READY") and notify.messages("STOPPING")


def test_loop_keeps_going_until_stopped(model, clip):
    with Running("--model", model, "--source", clip, "--loop") as child:
        child.wait_frames(3 * CLIP_FRAMES)
        assert child.process.poll() is None
        assert child.stop() == 0, child.stderr()
    indexes = [f["frame_index"] for f in child.frames()]
    assert indexes == list(range(len(indexes)))  # passes follow each other without a gap or a repeat


# --- reloading ------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sighup_applies_a_new_config_in_the_same_process(tmp_path, model, clip, notify):
    looping = {"source": str(clip), "loop": True, "realtime": True}
    config = write_config(tmp_path / "cfg.yaml", {"porch": looping}, model)
    with Running("--config", config, notify=notify) as child:
        child.wait_frames(5, "porch")
        write_config(config, {"porch": looping, "garage": looping}, model)
        reload_at = time.monotonic()
        child.signal(signal.SIGHUP)
        child.wait_frames(5, "garage", timeout=20)
        child.wait_frames(5, "porch", since=time.monotonic())  # both run, in the same process
        assert child.process.poll() is None
        assert child.log_lines("reloading config")
        got = [m for m in notify.messages(since=reload_at) if "RELOADING" in m or "READY" in m]
        assert "RELOADING" in got[0] and "READY" in got[1], got

        config.write_text("cameras:\n  porch: {source: [unclosed\n")
        broken_at = time.monotonic()
        child.signal(signal.SIGHUP)
        child.wait_for(lambda: child.log_lines("config reload failed", since=broken_at), 10, "reload error")
        child.wait_frames(5, "porch", since=time.monotonic())  # the old config keeps running
        child.wait_frames(5, "garage", since=time.monotonic())
        errors = child.log_lines("ERROR", since=broken_at)
        assert len(errors) == 1 and "invalid YAML" in errors[0], errors

        # Valid, but its only camera cannot be opened: back to the running config.
        dead = {"source": f"rtsp://127.0.0.1:{closed_port()}/stream", "open_timeout_s": 1}
        write_config(config, {"gate": dead}, model)
        unreachable_at = time.monotonic()
        child.signal(signal.SIGHUP)
        child.wait_for(lambda: child.log_lines("config reload failed", since=unreachable_at), 10, "reload error")
        child.wait_frames(5, "porch", since=time.monotonic(), timeout=20)
        child.wait_frames(5, "garage", since=time.monotonic())
        errors = child.log_lines("ERROR", since=unreachable_at)
        assert len(errors) == 1 and "cannot open stream" in errors[0], errors
        assert child.stop() == 0, child.stderr()
    assert "Traceback" not in child.stderr()


# --- several cameras ------------------------------------------------------------------------


def test_cameras_share_models_and_a_dead_camera_does_not_stop_the_others(tmp_path, model, clip, notify):
    looping = {"source": str(clip), "loop": True, "realtime": True}
    dead = {"source": f"rtsp://127.0.0.1:{closed_port()}/stream", "open_timeout_s": 1, "read_timeout_s": 1}
    config = write_config(tmp_path / "cfg.yaml", {"porch": looping, "garage": looping, "gate": dead}, model)
    with Running("--config", config, notify=notify) as child:
        child.wait_frames(10, "porch")
        child.wait_frames(10, "garage")
        later = time.monotonic()
        child.wait_frames(10, "porch", since=later)
        child.wait_frames(10, "garage", since=later)
        assert len(child.log_lines(" on CPU")) == 1, child.stderr()  # one interpreter for three cameras
        assert child.log_lines("camera gate not started: cannot open stream")
        assert not child.frames("gate")
        assert child.stop() == 0, child.stderr()
    statuses = [m["STATUS"] for m in notify.messages("STATUS")]
    assert any("gate" in status for status in statuses), statuses


# --- bad input at start ---------------------------------------------------------------------


def one_error_line(stderr: str) -> list[str]:
    """The lines a user sees besides the INFO/WARNING logs."""
    return [line for line in stderr.splitlines() if line.strip() and " INFO " not in line and " WARNING " not in line
            and not line.startswith("INFO: ")]  # fmt: skip


def assert_fails(proc, code: int, fragment: str) -> None:
    lines = one_error_line(proc.stderr)
    assert proc.returncode == code, proc.stderr
    assert len(lines) == 1 and lines[0].startswith("edgevision: error: "), lines
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


def test_camera_that_never_opens(model):
    assert_fails(run_cli("run", "--model", str(model), "--camera", "9"), 1, "cannot open camera 9")


def test_http_port_in_use(model, clip):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_cli("run", "--model", str(model), "--source", str(clip), "--http", f"127.0.0.1:{port}")
    assert_fails(proc, 1, f"127.0.0.1:{port}")
    assert "in use" in proc.stderr


def test_unwritable_record_path(tmp_path, model, clip):
    folder = tmp_path / "readonly"
    folder.mkdir(mode=0o555)
    proc = run_cli("run", "--model", str(model), "--source", str(clip), "--record", str(folder / "out.mp4"),
                   prefix=WITHOUT_DAC)  # fmt: skip
    assert_fails(proc, 2, str(folder))
    assert not (folder / "out.mp4").exists()


def test_missing_model_file(tmp_path, clip):
    assert_fails(run_cli("run", "--model", str(tmp_path / "gone.tflite"), "--source", str(clip)), 2, "gone.tflite")


def test_missing_model_file_in_config(tmp_path, clip):
    config = write_config(tmp_path / "cfg.yaml", {"porch": {"source": str(clip)}}, tmp_path / "gone.tflite")
    assert_fails(run_cli("run", "--config", str(config)), 2, "cameras.porch.models[0].path")


def test_invalid_yaml(tmp_path):
    config = tmp_path / "cfg.yaml"
    config.write_text("cameras:\n  porch: {source: [unclosed\n")
    assert_fails(run_cli("run", "--config", str(config)), 2, "invalid YAML")


def test_model_pool_shares_and_lets_go_after_a_reload(tmp_path, model, clip):
    from edgevision.config import load_config  # noqa: PLC0415
    from edgevision.runner import ModelPool  # noqa: PLC0415

    other = build_model("classification", "uint8")
    cameras = {"porch": {"source": str(clip)}, "gate": {"source": str(clip)}}
    first = load_config(write_config(tmp_path / "a.yaml", cameras, model))
    pool = ModelPool(first)
    porch, gate = pool.for_camera(first.cameras["porch"]), pool.for_camera(first.cameras["gate"])
    assert porch[0] is gate[0]  # one interpreter for both cameras
    second = load_config(write_config(tmp_path / "b.yaml", {"porch": {"source": str(clip)}}, other))
    reloaded = pool.for_camera(second.cameras["porch"])
    pool.keep_only(reloaded)
    assert pool.for_camera(second.cameras["porch"])[0] is reloaded[0]
    assert pool.for_camera(first.cameras["porch"])[0] is not porch[0]  # the old one was let go, so it loads anew
