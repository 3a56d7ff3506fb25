"""A real GStreamer RTSP server for tests, in a subprocess under the system Python.

The pyenv Python that runs the tests has no ``gi``; Debian's ``/usr/bin/python3`` has it (with
``gir1.2-gst-rtsp-server-1.0``). So this file is both the server (run as a script there) and
:class:`RtspServer`, which starts, kills, restarts, pauses (SIGSTOP) and resumes it from the
tests on a fixed free loopback port, so the stream URL survives a restart.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
MOUNT = "/stream"
_ENCODE = (
    "videoconvert ! video/x-raw,format=I420 ! "
    "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=5 bitrate=2000 ! "
    "rtph264pay name=pay0 pt=96 config-interval=1"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gst_rtsp_available() -> bool:
    """Whether the system Python can run the server (used to skip with a reason otherwise)."""
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    return subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True).returncode == 0


class RtspServer:
    """Serve ``video`` or a live test pattern as H.264; each client gets the file from its start.

    ``.mp4``/``.mov`` files must hold H.264 (see ``video_clips.write_h264_clip``) and are sent as
    they are; other files (MJPG ``.avi``) are decoded and encoded with x264 at ``fps``.
    """

    def __init__(self, video: Path | None = None, *, port: int | None = None, fps: int = 15) -> None:
        self.video = video
        self.port = port or free_port()
        self.fps = fps
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{MOUNT}"

    def start(self, timeout_s: float = 15.0) -> RtspServer:
        cmd = [SYSTEM_PYTHON, __file__, "--port", str(self.port), "--fps", str(self.fps)]
        if self.video is not None:
            cmd += ["--file", str(self.video)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], timeout_s)
        line = self.process.stdout.readline() if ready else ""  # READY once it listens
        if line.strip() != "READY":
            self.stop()
            raise RuntimeError(f"RTSP server did not start within {timeout_s} s: {line!r}")
        return self

    def stop(self) -> None:
        """Kill the server (as a crashed camera would vanish) and reap it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGCONT)  # a stopped process cannot die of SIGKILL until continued on some kernels
            self.process.kill()
        self.process.wait(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        self.process = None

    def restart(self) -> RtspServer:
        self.stop()
        return self.start()

    def pause(self) -> None:
        """SIGSTOP: the socket stays open but nothing is answered, like a hung camera."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGCONT)

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _serve(port: int, video: str | None, fps: int) -> None:
    import gi  # noqa: PLC0415 - only under the system Python

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer  # noqa: PLC0415

    Gst.init(None)
    if video and video.endswith((".mp4", ".mov")):  # H.264 as a camera sends it: no re-encode
        launch = f"filesrc location={video} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1"
    elif video:  # e.g. MJPG .avi (Debian's GStreamer has no MPEG-4 part 2 decoder for mp4v)
        launch = f"filesrc location={video} ! decodebin ! videorate ! video/x-raw,framerate={fps}/1 ! {_ENCODE}"
    else:
        launch = (
            f"videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate={fps}/1 "
            f"! {_ENCODE}"
        )
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {launch} )")
    factory.set_shared(False)  # every client gets the file from its first frame
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    server.get_mount_points().add_factory(MOUNT, factory)
    if server.attach(None) == 0:
        print(f"cannot listen on port {port}", flush=True)
        sys.exit(1)
    print("READY", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file")
    parser.add_argument("--fps", type=int, default=15)
    args = parser.parse_args()
    _serve(args.port, args.file, args.fps)
