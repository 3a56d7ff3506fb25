"""Soak benchmark: does ``edgevision run`` keep a flat memory footprint over many frames?

Runs the real command (``python -m edgevision run --loop``) on a looping clip, counts the JSON
lines it prints, and samples the child's resident memory (``VmRSS`` in ``/proc/<pid>/status``)
and thread count after a warm-up and then every ``--every`` frames. At ``--frames`` it stops the
child with SIGTERM (which must exit 0) and reports the growth from warm-up to the end.

    python scripts/soak.py                       # 20,000 frames, shipped model or a test model
    python scripts/soak.py --frames 2000 --json soak.json -- --threads 2

Uses the shipped ``models/digit_detector.tflite`` when it exists, else a tiny SSD made by
``tests/model_factory.py`` (needs TensorFlow, desktop only). Not part of CI: minutes of CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = REPO / "models" / "digit_detector.tflite"
LIMIT_MB = 10.0


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB, from the kernel's own accounting."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def default_model() -> Path:
    if SHIPPED_MODEL.is_file():
        return SHIPPED_MODEL
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    from model_factory import build_model  # noqa: PLC0415 - needs TensorFlow

    return build_model("ssd", "uint8")


def write_clip(path: Path, frames: int = 150, size: tuple[int, int] = (640, 480), fps: float = 15.0) -> Path:
    """A textured clip with moving digits, so decoding and inference do real work every frame."""
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    width, height = size
    rng = np.random.default_rng(0)
    texture = cv2.GaussianBlur(rng.integers(0, 256, (height, width * 2, 3), dtype=np.uint8), (0, 0), 3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        image = np.ascontiguousarray(texture[:, i * 4 % width : i * 4 % width + width])
        for k in range(3):
            origin = ((i * 5 + k * 200) % (width - 60), 80 + k * 140)
            cv2.putText(image, str((i + k) % 10), origin, cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 8)
        writer.write(image)
    writer.release()
    return path


class FrameCounter:
    """Counts the child's stdout lines (one per processed frame) on a thread."""

    def __init__(self, stream) -> None:  # noqa: ANN001 - a binary pipe
        self.count = 0
        self._stream = stream
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for _ in self._stream:
            self.count += 1

    def wait_for(self, frames: int, process: subprocess.Popen, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while self.count < frames:
            if process.poll() is not None:
                raise RuntimeError(f"edgevision exited ({process.returncode}) after {self.count} frames")
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.count} of {frames} frames within {timeout_s:.0f} s")
            time.sleep(0.05)


class Child:
    """``python -m edgevision run ARGS`` with its frames counted and its stderr kept."""

    def __init__(self, run_args: list[str]) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("NOTIFY_SOCKET", None)
        self.process = subprocess.Popen([sys.executable, "-m", "edgevision", "run", *run_args],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO, env=env)  # fmt: skip
        self.stderr: list[bytes] = []
        threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True).start()
        self.frames = FrameCounter(self.process.stdout)

    def wait_for(self, frames: int, timeout_s: float) -> None:
        self.frames.wait_for(frames, self.process, timeout_s)

    def sample(self) -> dict:
        pid = self.process.pid
        return {"frames": self.frames.count, "rss_mb": round(rss_mb(pid), 2), "threads": thread_count(pid)}

    def stop(self) -> None:
        """SIGTERM, which must end it with exit 0."""
        try:
            self.process.send_signal(signal.SIGTERM)
            code = self.process.wait(10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        if code != 0:
            raise RuntimeError(f"edgevision exited {code} on SIGTERM:\n{b''.join(self.stderr).decode()[-2000:]}")


def summary(samples: list[dict], **details: object) -> dict:
    first, last = samples[0], samples[-1]
    growth = last["rss_mb"] - first["rss_mb"]
    return {
        **details,
        "frames": last["frames"],
        "rss_warmup_mb": first["rss_mb"],
        "rss_end_mb": last["rss_mb"],
        "rss_peak_mb": max(s["rss_mb"] for s in samples),
        "rss_growth_mb": round(growth, 2),
        "threads_warmup": first["threads"],
        "threads_end": last["threads"],
        "limit_mb": LIMIT_MB,
        "ok": growth < LIMIT_MB and last["threads"] <= first["threads"],
        "samples": samples,
    }


def soak(model: Path, source: Path, frames: int, warmup: int, every: int, run_args: list[str],
         timeout_s: float) -> dict:  # fmt: skip
    """A looping file for ``frames`` frames."""
    child = Child(["--model", str(model), "--source", str(source), "--loop", *run_args])
    samples: list[dict] = []
    try:
        child.wait_for(warmup, timeout_s)
        started, start_frames = time.monotonic(), child.frames.count
        for target in [*range(warmup, frames, every), frames]:
            child.wait_for(target, timeout_s)
            samples.append(child.sample())
        fps = (child.frames.count - start_frames) / (time.monotonic() - started)
    finally:
        child.stop()
    return summary(samples, model=str(model), source=str(source), warmup_frames=warmup, fps=round(fps, 1))


def soak_reconnects(model: Path, workdir: Path, cycles: int, run_args: list[str], timeout_s: float) -> dict:
    """A real GStreamer RTSP server (``tests/rtsp_server.py``) killed and restarted ``cycles`` times."""
    import yaml  # noqa: PLC0415

    sys.path.insert(0, str(REPO / "tests"))
    from rtsp_server import RtspServer  # noqa: PLC0415 - needs /usr/bin/python3 with GstRtspServer

    samples: list[dict] = []
    with RtspServer(fps=15) as server:
        camera = {"source": server.url, "open_timeout_s": 2, "read_timeout_s": 1, "models": [{"path": str(model)}]}
        config = workdir / "reconnects.yaml"
        config.write_text(yaml.safe_dump({"cameras": {"street": camera}}))
        child = Child(["--config", str(config), *run_args])
        try:
            child.wait_for(30, timeout_s)
            for cycle in range(cycles + 1):  # the first cycle is the warm-up
                server.stop()
                time.sleep(1.5)  # longer than the read timeout: the loss is noticed
                server.start()
                child.wait_for(child.frames.count + 30, timeout_s)
                if cycle == 0 or cycle % 10 == 0 or cycle == cycles:
                    samples.append({**child.sample(), "reconnects": cycle + 1})
        finally:
            child.stop()
    reconnected = b"".join(child.stderr).decode().count(": reconnected")
    return summary(samples, model=str(model), source="rtsp (restarted)", reconnects=reconnected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=20_000, help="frames to run (default 20000)")
    parser.add_argument("--warmup", type=int, default=1_000, help="frames before the first sample (default 1000)")
    parser.add_argument("--every", type=int, default=1_000, help="frames between samples (default 1000)")
    parser.add_argument("--model", type=Path, help="model file (default: shipped, else a test model)")
    parser.add_argument("--source", type=Path, help="video file, looped (default: a generated 640x480 clip)")
    parser.add_argument("--reconnects", type=int, default=0,
                        help="instead: restart a local RTSP server this many times (needs GStreamer)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per sample")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("run_args", nargs="*", help="extra `edgevision run` flags, after --")
    args = parser.parse_args(argv)
    if args.warmup >= args.frames:
        parser.error("--warmup must be below --frames")
    with tempfile.TemporaryDirectory(prefix="edgevision-soak-") as tmp:
        workdir = Path(tmp)
        model = args.model or default_model()
        source = args.source or write_clip(workdir / "soak.mp4")
        if args.reconnects:
            report = soak_reconnects(model, workdir, args.reconnects, args.run_args, args.timeout)
        else:
            report = soak(model, source, args.frames, args.warmup, args.every, args.run_args, args.timeout)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
