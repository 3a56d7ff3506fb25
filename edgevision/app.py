"""Wires what ``edgevision run`` was asked for into a pipeline and runs it."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

from edgevision.assets import default_model_path
from edgevision.errors import ModelError, UsageError
from edgevision.inference.model import Model, ModelOptions
from edgevision.pipeline import Pipeline, Sink
from edgevision.runtime.litert import runtime_name
from edgevision.sinks.stdout import JsonLinesSink
from edgevision.sources.factory import open_source

log = logging.getLogger(__name__)

RECORD_FPS_LIVE = 15.0


def resolve_threads(threads: int | str | None, model_path: Path, options: ModelOptions) -> int | None:
    """``auto`` becomes the fastest thread count found by a short probe on this machine."""
    if threads != "auto":
        return threads
    from edgevision.bench import probe_threads  # noqa: PLC0415

    chosen = probe_threads(model_path, options)
    log.info("--threads auto: using %d interpreter threads", chosen)
    return chosen


def load_models(options: dict[str, Any]) -> list[Model]:
    paths: list[Path] = list(options["models"]) or [default_model_path()]
    labels: list[Path] = list(options["labels"])
    if len(labels) > len(paths):
        raise UsageError(f"{len(labels)} --labels files for {len(paths)} models: give at most one per --model")
    if not options["models"] and not paths[0].exists():
        raise ModelError(
            f"the default model {paths[0]} is missing from this install; pass --model FILE.tflite"
        )
    models = []
    for i, path in enumerate(paths):
        model_options = ModelOptions(
            labels_path=labels[i] if i < len(labels) else None,
            threads=resolve_threads(options["threads"], path, ModelOptions(delegate=options["delegate"])),
            delegate=options["delegate"],
            delegate_fallback=options["delegate_fallback"],
            family=options["family"],
            score_threshold=options["score_threshold"],
            iou_threshold=options["iou_threshold"],
        )
        models.append(Model(path, model_options))
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise UsageError(f"two models are both named {names}: rename one of the files")
    return models


def build_sinks(options: dict[str, Any], source_fps: float | None) -> list[Sink]:
    sinks: list[Sink] = []
    if options["output"] == "stdout":
        sinks.append(JsonLinesSink())
    if options["record"]:
        from edgevision.sinks.record import RecordSink  # noqa: PLC0415

        sinks.append(RecordSink(options["record"], fps=source_fps or RECORD_FPS_LIVE))
    if options["display"]:
        from edgevision.sinks.display import DisplaySink  # noqa: PLC0415

        sinks.append(DisplaySink())
    return sinks


def _source_spec(options: dict[str, Any]) -> str:
    if options["source"] and options["camera"]:
        raise UsageError("give either --source or --camera, not both")
    if options["camera"]:
        return options["camera"]
    if options["source"]:
        return options["source"]
    return default_source()


def default_source() -> str:
    """The first camera where one exists, else the bundled demo clip."""
    if Path("/dev/video0").exists():
        log.info("no --source given: using camera 0")
        return "0"
    log.info("no --source given and no camera found: playing the bundled demo clip")
    return "demo"


def run_from_options(options: dict[str, Any]) -> None:
    models = load_models(options)
    log.info("runtime %s", runtime_name())
    source = open_source(
        _source_spec(options),
        camera_name=options["camera_name"],
        loop=options["loop"],
        realtime=options["realtime"],
    )
    try:
        sinks = build_sinks(options, getattr(source, "fps", None))
    except BaseException:
        source.close()
        raise
    pipeline = Pipeline(source, models, sinks, options["max_frames"], options["polygons"])
    for sink in sinks:
        if hasattr(sink, "on_quit"):
            sink.on_quit = pipeline.stop

    def request_stop(signum: int, _frame: object) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        pipeline.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    pipeline.run()
