"""``edgevision bench``: invoke-only, decode-only, pipelined end-to-end, a plain serial loop and
the pipeline at the source's own frame rate, measured in one run on the same model and source.

Invoke-only is measured the way TFLite's ``benchmark_model`` does it: warm-up runs, then at
least N runs and at least one second. The serial loop is what the official Raspberry Pi
examples do: read, resize, invoke, decode, draw, one frame at a time. Every measurement reads
the source with the same FFmpeg decoding threads (by default the pipelined runtime's choice),
so decode-only, end-to-end and the serial loop do the same work. End-to-end reads a file as
fast as it can, so its queues are full by design; the live-rate run shows the latency a camera
would see.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edgevision.core import Frame, FrameResult
from edgevision.inference.model import Model, ModelOptions
from edgevision.pipeline import Pipeline
from edgevision.runtime.litert import runtime_name
from edgevision.sinks.draw import draw_frame_result
from edgevision.sources.base import Source
from edgevision.sources.factory import open_source

log = logging.getLogger(__name__)

BENCH_SCHEMA_VERSION = 3
WARMUP_RUNS = 5
MIN_SECONDS = 1.0
THREAD_PROBE_RUNS = 20
LIVE_FRAMES = 150  # at most, for the live-rate run: 5 s of a 30 fps source


def summarize_ms(samples_ms: list[float] | np.ndarray) -> dict[str, float]:
    a = np.asarray(samples_ms, np.float64)
    return {
        "count": int(a.size),
        "mean": float(a.mean()),
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "p95": float(np.percentile(a, 95)),
        "min": float(a.min()),
        "max": float(a.max()),
    }


def invoke_only(model: Model, runs: int) -> dict[str, Any]:
    """Invoke on a fixed input: warm-up, then at least ``runs`` runs and one second."""
    interpreter = model._interpreter  # noqa: SLF001 - the benchmark measures the interpreter itself
    spec = model.inputs[0]
    value = np.zeros(spec.shape, spec.dtype)
    interpreter.set_tensor(spec.index, value)
    for _ in range(WARMUP_RUNS):
        interpreter.invoke()
    samples = []
    started = time.perf_counter()
    while len(samples) < runs or time.perf_counter() - started < MIN_SECONDS:
        t0 = time.perf_counter()
        interpreter.invoke()
        samples.append((time.perf_counter() - t0) * 1e3)
    stats = summarize_ms(samples)
    stats["fps"] = 1e3 / stats["mean"]
    return stats


def _timed_loop(
    source_spec: str, frames: int, decode_threads: int | None, work: Callable[[Frame], object]
) -> dict[str, Any]:
    """Frames per second of ``work`` done on each of the source's first ``frames`` frames."""
    source = open_source(source_spec, decode_threads=decode_threads)
    count = 0
    started = time.perf_counter()
    try:
        for frame in source:
            work(frame)
            count += 1
            if count >= frames:
                break
    finally:
        source.close()
    elapsed = time.perf_counter() - started
    return {"frames": count, "seconds": elapsed, "fps": count / elapsed if elapsed else 0.0}


def decode_only(source_spec: str, frames: int, decode_threads: int | None) -> dict[str, Any]:
    """How fast the source alone delivers frames (capture and video decode)."""
    return _timed_loop(source_spec, frames, decode_threads, lambda frame: None)


class _DrawingNullSink:
    """Stands for a real output: asks for the annotated frame, throws it away."""

    needs_image = True
    keeps_frame = False
    needs_payload = False

    def handle(self, result: FrameResult, payload: dict | None, annotated: np.ndarray | None) -> None:
        pass

    def close(self) -> None:
        pass


def _pipelined(model: Model, source: Source, frames: int) -> dict[str, Any]:
    """The real pipeline on ``frames`` frames, drawing every frame as a recording would."""
    pipeline = Pipeline(source, [model], [_DrawingNullSink()], max_frames=frames)
    started = time.perf_counter()
    stats = pipeline.run()
    elapsed = time.perf_counter() - started
    per_frame = {k: v / max(stats.frames, 1) for k, v in sorted(stats.stage_ms.items())}
    return {
        "frames": stats.frames,
        "seconds": elapsed,
        "fps": stats.frames / elapsed if elapsed else 0.0,
        "stage_ms_per_frame": per_frame,
        "latency_ms": summarize_ms(list(stats.latencies_ms)) if stats.latencies_ms else None,
        "dropped_frames": source.frames_dropped + stats.dropped,
        "first_result_s": stats.first_result_s,
    }


def end_to_end(model: Model, source_spec: str, frames: int, decode_threads: int | None) -> dict[str, Any]:
    """Every frame of the source, as fast as the pipeline takes them."""
    return _pipelined(model, open_source(source_spec, decode_threads=decode_threads), frames)


def live_rate(
    model: Model, source_spec: str, frames: int, decode_threads: int | None, latency_limit_ms: float | None
) -> dict[str, Any]:
    """The pipeline on the source at its own frame rate (a file played as ``--realtime`` plays it),
    where queues hold one frame: the frame-to-result latency a camera would see."""
    source = open_source(source_spec, realtime=True, decode_threads=decode_threads)
    report = _pipelined(model, source, min(frames, LIVE_FRAMES))
    return {**report, "source_fps": getattr(source, "fps", None) or None, "latency_limit_ms": latency_limit_ms}


def serial_loop(model: Model, source_spec: str, frames: int, decode_threads: int | None) -> dict[str, Any]:
    """One frame at a time, nothing overlapped: the official Raspberry Pi examples' loop.

    It draws on the frame itself, as the pipeline does when no sink keeps the clean frame.
    """

    def read_infer_draw(frame: Frame) -> None:
        draw_frame_result(frame.image, FrameResult(frame, (model.predict(frame.image),)), in_place=True)

    return _timed_loop(source_spec, frames, decode_threads, read_infer_draw)


def thread_candidates(cpu_count: int | None = None) -> range:
    """Interpreter thread counts worth probing: 1 to one less than the cores, at least 1.

    In the pipeline, capture and decoding (and drawing) run beside inference: an interpreter
    on every core has the fastest invoke alone and slows everything else. On 2 cores two
    interpreter threads gave 0.76-0.81 of the decoder's fps end to end against 0.90-0.94 with
    one, and a worse live latency (docs/performance.md).
    """
    cores = cpu_count if cpu_count is not None else os.cpu_count() or 1
    return range(1, max(1, cores - 1) + 1)


def probe_threads(model_path: Path, options: ModelOptions) -> int:
    """The interpreter thread count with the fastest invoke among :func:`thread_candidates`."""
    best_threads, best_ms = 1, float("inf")
    for threads in thread_candidates():
        model = Model(model_path, ModelOptions(**{**options.__dict__, "threads": threads}))
        mean = invoke_only(model, THREAD_PROBE_RUNS)["mean"]
        log.info("threads=%d: %.2f ms per invoke", threads, mean)
        if mean < best_ms * 0.95:
            best_threads, best_ms = threads, mean
    return best_threads


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def compare_models(model: Model, other_path: Path, runs: int, options: ModelOptions) -> dict[str, Any]:
    """Invoke speed and file size of another build of the same model (e.g. float32 vs int8)."""
    other = Model(other_path, options)
    mine, theirs = invoke_only(model, runs), invoke_only(other, runs)
    return {
        "model": str(other_path),
        "model_size_bytes": other_path.stat().st_size,
        "input": {"shape": list(other.inputs[0].shape), "dtype": other.inputs[0].dtype.name},
        "invoke_only": theirs,
        "speedup": theirs["mean"] / mine["mean"],
        "size_ratio": model.path.stat().st_size / other_path.stat().st_size,
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median fps (the slower middle one for an even count), with every run's fps."""
    ordered = sorted(runs, key=lambda run: run["fps"])
    return {**ordered[(len(ordered) - 1) // 2], "fps_runs": [run["fps"] for run in runs]}


def run_bench(
    model_path: Path,
    source_spec: str,
    frames: int,
    options: ModelOptions,
    decode_threads: int | None,
    compare: Path | None = None,
    repeat: int = 3,
) -> dict[str, Any]:
    """Every measurement on ``frames`` frames; ``decode_threads`` as the source setting for all.

    Decode-only, end-to-end and the serial loop run ``repeat`` times, interleaved, and each
    reports its median run: one pass of a few seconds swings by a quarter on a shared machine,
    and interleaving spreads slow spells over all three alike.
    """
    model = Model(model_path, options)
    report: dict[str, Any] = {
        "schema_version": BENCH_SCHEMA_VERSION,
        "model": str(model_path),
        "model_size_bytes": model_path.stat().st_size,
        "input": {"shape": list(model.inputs[0].shape), "dtype": model.inputs[0].dtype.name},
        "source": source_spec,
        "frames": frames,
        "threads": options.threads,
        "decode_threads": decode_threads,
        "repeat": repeat,
        "runtime": runtime_name(),
        "delegate": model.delegate.description,
        "cpu_count": os.cpu_count(),
    }
    report["invoke_only"] = invoke_only(model, frames)
    rounds = [
        (
            decode_only(source_spec, frames, decode_threads),
            end_to_end(model, source_spec, frames, decode_threads),
            serial_loop(model, source_spec, frames, decode_threads),
        )
        for _ in range(repeat)
    ]
    for key, runs in zip(("decode_only", "end_to_end", "serial_loop"), zip(*rounds)):
        report[key] = median_run(list(runs))
    decode_fps = report["decode_only"]["fps"]
    limit_ms = 2 * (1e3 / decode_fps + report["invoke_only"]["mean"]) if decode_fps else None
    live = report["live_rate"] = live_rate(model, source_spec, frames, decode_threads, limit_ms)
    bound = min(report["invoke_only"]["fps"], decode_fps)
    report["ratios"] = {
        "end_to_end_vs_bound": report["end_to_end"]["fps"] / bound if bound else None,
        "end_to_end_vs_serial": report["end_to_end"]["fps"] / report["serial_loop"]["fps"]
        if report["serial_loop"]["fps"]
        else None,
        "live_latency_p95_vs_limit": live["latency_ms"]["p95"] / limit_ms
        if live["latency_ms"] and limit_ms
        else None,
    }
    if compare is not None:
        report["compare"] = compare_models(model, compare, frames, options)
    report["peak_rss_mb"] = peak_rss_mb()
    return report


def format_report(report: dict[str, Any]) -> str:
    inv, dec, e2e, ser = (report[k] for k in ("invoke_only", "decode_only", "end_to_end", "serial_loop"))
    lines = [
        f"model       {report['model']} ({report['model_size_bytes']:,} bytes, {report['input']['dtype']} "
        f"{report['input']['shape']}) on {report['delegate']}, threads={report['threads']}",
        f"source      {report['source']} ({report['frames']} frames, "
        f"decode threads {report['decode_threads'] or 'FFmpeg default'})",
        f"invoke      mean {inv['mean']:.2f} ms  p50 {inv['p50']:.2f}  p90 {inv['p90']:.2f}  "
        f"min {inv['min']:.2f}  max {inv['max']:.2f}  ({inv['count']} runs, {inv['fps']:.1f}/s)",
        f"decode      {dec['fps']:.1f} fps{_runs(dec)}",
        f"end-to-end  {e2e['fps']:.1f} fps  ({report['ratios']['end_to_end_vs_bound']:.2f} x the slower of "
        f"decode and invoke){_runs(e2e)}",
        "  per frame " + "  ".join(f"{k} {v:.2f} ms" for k, v in e2e["stage_ms_per_frame"].items()),
    ]
    if e2e["latency_ms"]:
        lines.append(f"  latency   p50 {e2e['latency_ms']['p50']:.1f} ms  p95 {e2e['latency_ms']['p95']:.1f} ms")
    lines += [
        f"  dropped   {e2e['dropped_frames']}   first result {e2e['first_result_s']:.2f} s",
        f"serial      {ser['fps']:.1f} fps  (pipelined is {report['ratios']['end_to_end_vs_serial']:.2f} x){_runs(ser)}",
        *_format_live(report["live_rate"]),
        f"peak RSS    {report['peak_rss_mb']:.0f} MB",
    ]
    if "compare" in report:
        cmp = report["compare"]
        lines.append(
            f"compared    {cmp['model']} ({cmp['model_size_bytes']:,} bytes, {cmp['input']['dtype']}): invoke "
            f"{cmp['invoke_only']['mean']:.2f} ms; this model is {cmp['speedup']:.2f} x as fast at "
            f"{cmp['size_ratio']:.0%} of the size"
        )
    return "\n".join(lines)


def _runs(measurement: dict[str, Any]) -> str:
    runs = measurement["fps_runs"]
    if len(runs) < 2:
        return ""
    return f"  [median of {len(runs)} runs: " + ", ".join(f"{fps:.1f}" for fps in runs) + "]"


def _format_live(live: dict[str, Any]) -> list[str]:
    source_fps = f"{live['source_fps']:.1f} fps" if live["source_fps"] else "an unknown frame rate"
    lines = [f"live rate   {live['frames']} frames at the source's {source_fps}, dropped {live['dropped_frames']}"]
    if live["latency_ms"]:
        limit = f"{live['latency_limit_ms']:.1f} ms" if live["latency_limit_ms"] is not None else "unknown"
        lines.append(
            f"  latency   p50 {live['latency_ms']['p50']:.1f} ms  p95 {live['latency_ms']['p95']:.1f} ms  "
            f"(limit 2 x (decode + invoke) = {limit})"
        )
    return lines
