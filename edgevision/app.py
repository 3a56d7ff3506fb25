"""Turns what ``edgevision run`` was asked for (flags, a config file, or both) into a running
:class:`~edgevision.runner.Runner`."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from edgevision.config import apply_overrides, load_config
from edgevision.inference.model import ModelOptions
from edgevision.runner import Runner
from edgevision.runtime.litert import runtime_name

log = logging.getLogger(__name__)


def default_source() -> str:
    """The first camera where one exists, else the bundled demo clip."""
    if Path("/dev/video0").exists():
        log.info("no --source given: using camera 0")
        return "0"
    log.info("no --source given and no camera found: playing the bundled demo clip")
    return "demo"


def resolve_threads(threads: int | str | None, model_path: Path, options: ModelOptions) -> int | None:
    """``auto`` becomes the fastest thread count found by a short probe on this machine."""
    if threads != "auto":
        return threads  # type: ignore[return-value]
    from edgevision.bench import probe_threads  # noqa: PLC0415

    chosen = probe_threads(model_path, options)
    log.info("--threads auto: using %d interpreter threads", chosen)
    return chosen


def run_from_options(options: dict[str, Any]) -> None:
    """``options`` holds only the flags the user gave; they win over the config file."""
    config_path = options.pop("config", None)
    config = load_config(config_path) if config_path else None
    if options.get("threads") == "auto":
        from edgevision.assets import default_model_path  # noqa: PLC0415

        first_model = Path(options["models"][0]) if options.get("models") else default_model_path()
        options["threads"] = resolve_threads("auto", first_model, ModelOptions(delegate=options.get("delegate")))
    needs_source = config is None and not options.get("source") and not options.get("camera")
    config = apply_overrides(config, options, default_source() if needs_source else "demo")
    log.info("runtime %s", runtime_name())
    runner = Runner(config, Path(config_path) if config_path else None)

    signal.signal(signal.SIGTERM, lambda *_: runner.request_stop())
    signal.signal(signal.SIGINT, lambda *_: runner.request_stop())
    signal.signal(signal.SIGHUP, lambda *_: runner.request_reload())
    runner.run()
    if runner.stuck_cameras:
        # A thread is still inside a driver read of a hung stream. Outputs are closed; skip the
        # interpreter's teardown, which aborts the process when that thread wakes up during it.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
