"""Runs every camera of a config in one process.

Models are loaded once and shared by the cameras that use them; each camera has its own
pipeline thread, so one camera failing (or its stream going away) never stops the others.
Outputs that serve every camera (stdout, MQTT, HTTP) are opened once. The main thread only
waits: it relays signals (stop, reload), keeps the systemd watchdog honest and publishes
stats.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgevision.assets import default_model_path
from edgevision.config import CameraConfig, Config, ModelEntry, load_config
from edgevision.core import FrameResult
from edgevision.errors import EdgevisionError
from edgevision.filters import CameraFilter
from edgevision.inference.model import Model, ModelOptions
from edgevision.pipeline import FrameHook, Pipeline, Sink, decode_threads_for
from edgevision.service.notify import Notifier, Watchdog
from edgevision.sinks.stdout import JsonLinesSink
from edgevision.sources.factory import open_source
from edgevision.tracking.hook import TrackFrames
from edgevision.tracking.hub import EventHub

log = logging.getLogger(__name__)

RECORD_FPS_LIVE = 15.0
STATS_INTERVAL_S = 5.0
STOP_GRACE_S = 1.5


class ModelPool:
    """One loaded :class:`Model` per distinct model entry, shared by every camera using it."""

    def __init__(self, config: Config) -> None:
        self.runtime = config.runtime
        self._models: dict[tuple, Model] = {}

    def for_camera(self, camera: CameraConfig) -> list[Model]:
        entries = camera.models or [ModelEntry(path=default_model_path())]
        return [self.get(entry) for entry in entries]

    def get(self, entry: ModelEntry) -> Model:
        options = ModelOptions(
            labels_path=entry.labels,
            threads=self.runtime.threads,
            delegate=self.runtime.delegate,
            delegate_fallback=self.runtime.delegate_fallback,
            family=entry.family,
            score_threshold=entry.score_threshold,
            iou_threshold=entry.iou_threshold,
            agnostic_nms=entry.agnostic_nms,
        )
        key = (Path(entry.path).resolve(), options)
        if key not in self._models:
            self._models[key] = Model(entry.path, options)
        return self._models[key]

    def keep_only(self, models: list[Model]) -> None:
        """After a reload: let go of the models no camera uses any more, so reloads never pile them up."""
        self._models = {key: model for key, model in self._models.items() if any(model is m for m in models)}


class _Shared:
    """A sink used by every camera: each pipeline hands it frames, the runner closes it."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    @property
    def needs_image(self) -> bool:
        return self.sink.needs_image

    @property
    def keeps_frame(self) -> bool:
        return self.sink.keeps_frame

    @property
    def needs_payload(self) -> bool:
        return self.sink.needs_payload

    def handle(self, result: FrameResult, payload: dict | None, annotated: np.ndarray | None) -> None:
        self.sink.handle(result, payload, annotated)

    def close(self) -> None:
        pass


class _WatchdogSink:
    """Tells the watchdog that a camera produced a frame."""

    needs_image = False
    keeps_frame = False
    needs_payload = False

    def __init__(self, watchdog: Watchdog) -> None:
        self.watchdog = watchdog

    def handle(self, result: FrameResult, payload: dict | None, annotated: np.ndarray | None) -> None:
        self.watchdog.frame_processed(result.frame.camera)

    def close(self) -> None:
        pass


@dataclass
class _Camera:
    name: str
    pipeline: Pipeline
    thread: threading.Thread | None = None
    error: BaseException | None = None
    stats: dict = field(default_factory=dict)


class Runner:
    def __init__(self, config: Config, config_path: Path | None = None, notifier: Notifier | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self.pool = ModelPool(config)
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._cameras: list[_Camera] = []
        self._shared: list[Sink] = []
        self._mqtt = None
        self._http = None
        self._events: EventHub | None = None
        self.watchdog = Watchdog(config.cameras, self.notifier)
        self._started = time.monotonic()
        self.stuck_cameras: list[str] = []  # threads left blocked in a camera read by a stop or reload

    # -- signals (called from signal handlers: only set flags) ----------------------------

    def request_stop(self) -> None:
        self._stop.set()
        for camera in self._cameras:
            if camera.pipeline is not None:  # None: a camera that could not be started
                camera.pipeline.stop()

    def request_reload(self) -> None:
        self._reload.set()

    # -- running -----------------------------------------------------------------------

    def run(self) -> None:
        """Until every source ends or a stop is requested; then raises what made cameras fail."""
        try:
            self._start()
            while not self._stop.is_set():
                if self._reload.is_set():
                    self._reload.clear()
                    self._reload_config()
                if not any(c.thread and c.thread.is_alive() for c in self._cameras):
                    break
                self.watchdog.check()
                self._publish_stats()
                self._stop.wait(0.2)
        finally:
            self.notifier.stopping()
            self._stop_cameras()
            self._close_shared()
        if not self._stop.is_set():  # a requested stop exits 0: failures were logged as they happened
            self._raise_failures()

    def _start(self) -> None:
        models = {name: self.pool.for_camera(camera) for name, camera in self.config.cameras.items()}
        self._open_shared(models)
        self.watchdog.set_cameras(self.config.cameras)
        for name, camera in self.config.cameras.items():
            try:
                self._cameras.append(self._start_camera(name, camera, models[name]))
            except EdgevisionError as exc:
                if len(self.config.cameras) == 1:
                    raise
                log.error("camera %s not started: %s", name, exc)
                self._cameras.append(_Camera(name, None, error=exc))  # type: ignore[arg-type]
        if not any(c.thread for c in self._cameras):
            raise EdgevisionError("no camera could be started; see the errors above")

    def _open_shared(self, models: dict[str, list[Model]]) -> None:
        outputs = self.config.outputs
        self._shared = []
        if outputs.stdout:
            self._shared.append(JsonLinesSink())
        if outputs.mqtt is not None:
            from edgevision.sinks.mqtt import MqttSettings, MqttSink  # noqa: PLC0415

            mqtt = outputs.mqtt
            settings = MqttSettings.from_url(
                mqtt.url, ca_file=mqtt.ca, cert_file=mqtt.cert, key_file=mqtt.key, insecure=mqtt.insecure,
                client_id=mqtt.client_id, protocol=mqtt.protocol, rate_hz=mqtt.rate,
            )  # fmt: skip
            labels = sorted({name for ms in models.values() for m in ms for name in m.labels.as_dict().values()})
            self._mqtt = MqttSink(settings, list(self.config.cameras), labels, own_events=False)
            self._mqtt.start()
            self._shared.append(self._mqtt)
        if outputs.http is not None:
            from edgevision.http.server import HttpSink  # noqa: PLC0415

            http = outputs.http
            token = http.token.get_secret_value() if http.token is not None else None
            self._http = HttpSink(
                http.host, http.port, token, http.snapshot_dir, max_fps=http.max_fps,
                snapshot_count=http.snapshot_count, snapshot_bytes=int(http.snapshot_mb * 2**20),
            )  # fmt: skip
            self._http.start()
            self._shared.append(self._http)
        listeners = [s.send_event for s in (self._mqtt,) if s] + [s.add_event for s in (self._http,) if s]
        # The hub sees each frame after every other output and is closed before them, so its
        # final "end" events still find MQTT and HTTP open.
        self._events = EventHub(listeners) if listeners else None

    def _hooks(self, camera: CameraConfig) -> list[FrameHook]:
        hooks: list[FrameHook] = []
        camera_filter = CameraFilter(camera.labels_to_keep, camera.zones)
        if camera_filter.active:
            hooks.append(camera_filter)
        if self._mqtt is not None or self._http is not None:
            hooks.append(TrackFrames())
        return hooks

    def _start_camera(self, name: str, camera: CameraConfig, models: list[Model]) -> _Camera:
        timeouts = {
            k: v for k, v in (("open_timeout_s", camera.open_timeout_s), ("read_timeout_s", camera.read_timeout_s)) if v
        }
        decode_threads = camera.decode_threads or decode_threads_for(self.config.runtime.threads)
        log.debug("camera %s: %d FFmpeg decoding threads", name, decode_threads)
        source = open_source(
            camera.source, camera_name=name, loop=camera.loop, realtime=camera.realtime,
            decode_threads=decode_threads, **timeouts,
        )  # fmt: skip
        sinks: list[Sink] = [_Shared(s) for s in self._shared]
        sinks.append(_WatchdogSink(self.watchdog))
        try:
            record_path = self.config.record_path(name)
            if record_path is not None:
                from edgevision.sinks.record import RecordSink  # noqa: PLC0415

                sinks.append(RecordSink(record_path, fps=getattr(source, "fps", None) or RECORD_FPS_LIVE))
            if self.config.outputs.display:
                from edgevision.sinks.display import DisplaySink  # noqa: PLC0415

                sinks.append(DisplaySink(title=f"edgevision: {name}", on_quit=self.request_stop))
        except BaseException:
            source.close()
            raise
        if self._events is not None:
            sinks.append(_Shared(self._events))
        pipeline = Pipeline(
            source,
            models,
            sinks,
            self.config.runtime.max_frames,
            self.config.outputs.polygons,
            self._hooks(camera),
            detect_enabled=self._mqtt.detect_enabled if self._mqtt is not None else None,
        )
        entry = _Camera(name, pipeline)
        entry.thread = threading.Thread(target=self._run_camera, args=(entry,), name=f"camera-{name}", daemon=True)
        entry.thread.start()
        return entry

    def _run_camera(self, camera: _Camera) -> None:
        try:
            camera.pipeline.run()
        except BaseException as exc:  # one camera failing never stops the others
            camera.error = exc
            if isinstance(exc, EdgevisionError):
                log.error("camera %s stopped: %s", camera.name, exc)
            else:
                log.exception("camera %s stopped", camera.name)
        else:
            log.info("camera %s finished", camera.name)
            if not self._stop.is_set():  # a file that ended must not stall the watchdog
                self.watchdog.set_cameras(c.name for c in self._cameras if c is not camera and c.thread)

    def _stop_cameras(self) -> None:
        for camera in self._cameras:
            if camera.pipeline is not None:
                camera.pipeline.stop()
        deadline = time.monotonic() + STOP_GRACE_S
        for camera in self._cameras:
            if camera.thread is not None:
                camera.thread.join(max(0.0, deadline - time.monotonic()))
                if camera.thread.is_alive():
                    log.warning("camera %s did not stop within %.1f s", camera.name, STOP_GRACE_S)
                    self.stuck_cameras.append(camera.name)

    def _close_shared(self) -> None:
        if self._events is not None:
            self._events.close()
            self._events = None
        for sink in self._shared:
            try:
                sink.close()
            except Exception:  # closing one output must not keep the others open
                log.exception("closing %s failed", type(sink).__name__)
        self._shared, self._mqtt, self._http = [], None, None

    def _reload_config(self) -> None:
        """SIGHUP: read the config again and restart the cameras with it, in this process."""
        if self.config_path is None:
            log.warning("SIGHUP ignored: edgevision was started without --config")
            return
        self.notifier.reloading()
        try:
            config = load_config(self.config_path)
        except EdgevisionError as exc:
            log.error("config reload failed, keeping the running config: %s", exc)
            self.notifier.ready()
            return
        log.info("reloading config %s", self.config_path)
        running = self.config
        try:
            self._restart_with(config)
        except EdgevisionError as exc:  # valid, but e.g. its only camera cannot be opened
            log.error("config reload failed, going back to the running config: %s", exc)
            self._restart_with(running)  # if that fails too, the process ends with its error
        self.notifier.ready()

    def _restart_with(self, config: Config) -> None:
        self._stop_cameras()
        self._close_shared()
        self.config, self._cameras = config, []
        self.pool.runtime = config.runtime
        self._start()
        self.pool.keep_only([m for c in self._cameras if c.pipeline is not None for m in c.pipeline.models])

    def _publish_stats(self) -> None:
        now = time.monotonic()
        if now - getattr(self, "_stats_at", 0.0) < STATS_INTERVAL_S:
            return
        self._stats_at = now
        stats = self.stats()
        if self._http is not None:
            mqtt = {"mqtt": self._mqtt.stats()} if self._mqtt is not None else {}
            self._http.update_stats({**stats, **mqtt})
        if self._mqtt is not None:
            try:
                self._mqtt.publish_stats(stats)
            except EdgevisionError as exc:
                log.error("%s", exc)
                self.request_stop()

    def stats(self) -> dict:
        cameras = {}
        for camera in self._cameras:
            if camera.pipeline is None:
                cameras[camera.name] = {"running": False, "error": str(camera.error)}
                continue
            run = camera.pipeline.stats
            frames = max(run.frames, 1)
            cameras[camera.name] = {
                "running": bool(camera.thread and camera.thread.is_alive()),
                "fps": round(run.fps, 2),
                "frames": run.frames,
                "inference_ms": round(run.stage_ms.get("inference", 0.0) / frames, 2),
                **camera.pipeline.source.stats(),
                "frames_dropped": camera.pipeline.source.frames_dropped + run.dropped,
            }
        return {"uptime_s": round(time.monotonic() - self._started, 1), "cameras": cameras}

    def _raise_failures(self) -> None:
        failed = [c for c in self._cameras if c.error is not None]
        if not failed:
            return
        if len(self._cameras) == 1:
            raise failed[0].error  # type: ignore[misc]
        names = ", ".join(f"{c.name} ({c.error})" for c in failed)
        raise EdgevisionError(f"{len(failed)} of {len(self._cameras)} cameras failed: {names}")
