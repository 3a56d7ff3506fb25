"""The YAML config file: everything ``edgevision run`` can be told, for one or several cameras.

Unknown keys are rejected and every problem becomes one line naming its key path and the
allowed values, because a service that runs unattended for months must fail loudly at start,
not half-work. ``${ENV_VAR}`` is substituted in string values so secrets can live in the
environment (systemd ``EnvironmentFile=``) instead of the file; values that came from the
environment and fields marked secret are never echoed in errors or logs.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edgevision.http.address import is_loopback, parse_address
from edgevision.errors import UsageError
from edgevision.paths import expand_user
from edgevision.sources.base import redact_url

log = logging.getLogger(__name__)

Family = Literal["ssd", "yolo", "segmentation", "classification"]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_ENV_REFERENCE = re.compile(r"\$(\$)?\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET = {"secret": True}
NAME_RULE = "start with a letter or digit and use only letters, digits, '_', '-' or '.'"


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    """Relative paths are relative to the config file, so a config can move with its models."""
    value = expand_user(value)
    base = (info.context or {}).get("base_dir")
    return value if value.is_absolute() or base is None else Path(base) / value


def _number_to_text(value: Any) -> Any:
    """YAML reads ``5`` and ``0`` as numbers where a string is meant (MQTT protocol, camera index)."""
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Point = tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]]


class _Section(BaseModel):
    """Every section rejects unknown keys: a typo must not silently become a default."""

    model_config = ConfigDict(extra="forbid", validate_default=False)
    _url_fields: ClassVar[tuple[str, ...]] = ()  # URLs that may carry a password

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """Logging or printing a config must not leak the passwords in its URLs."""
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name in self._url_fields and isinstance(value, str) else value


class ModelEntry(_Section):
    """One TFLite model run on every frame of a camera."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: ConfigPath = Field(title="Model file", description="TFLite model file; relative to the config file.")
    labels: ConfigPath | None = Field(
        None, title="Label file", description="Plain lines or 'id label' lines; overrides the model's metadata."
    )
    family: Family | None = Field(
        None, title="Model family", description="Force the family when it cannot be told from the model."
    )
    score_threshold: float | None = Field(
        None, ge=0, le=1, title="Score threshold", description="Minimum detection score, 0 to 1."
    )
    iou_threshold: float | None = Field(
        None, ge=0, le=1, title="IoU threshold", description="Overlap above which host-side NMS merges boxes, 0 to 1."
    )
    agnostic_nms: bool | None = Field(
        None,
        title="One box per object",
        description="Drop a detection that overlaps a higher-scored one of another class (IoU above "
        "iou_threshold; by default 0.5 for SSD, 0.45 for YOLO): for models whose NMS keeps several classes per object.",
    )


def _polygon_has_area(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    area2 = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1]))
    if area2 == 0:
        raise ValueError("the polygon's points lie on one line; give at least 3 corners that enclose an area")
    return points


Polygon = Annotated[list[Point], Field(min_length=3), AfterValidator(_polygon_has_area)]


def _resolve_file_source(source: str, info: ValidationInfo) -> str:
    """A video file named relative to the config is found from the config's folder, like models."""
    spec = source.strip()
    if spec.isdigit() or spec in ("demo", "picam") or spec.startswith("picamera2:") or "://" in spec:
        return source
    return str(_resolve_path(Path(spec), info))


class CameraConfig(_Section):
    """One camera, stream or file, and what to run on it."""

    _url_fields = ("source",)

    source: Annotated[str, BeforeValidator(_number_to_text), AfterValidator(_resolve_file_source)] = Field(
        title="Source",
        description="demo, a video file (relative to the config file), rtsp://..., http(s)://..., "
        "picamera2:N, picam, or a camera number.",
        min_length=1,
    )
    models: list[ModelEntry] = Field(
        default_factory=list, title="Models", description="Models run on each frame; empty: the shipped detector."
    )
    labels_to_keep: list[Annotated[str, Field(min_length=1)]] | None = Field(
        None, title="Labels to keep", description="Only report these labels; empty or unset: all labels."
    )
    zones: dict[Name, Polygon] = Field(
        default_factory=dict,
        title="Zones",
        description="Named polygons, each a list of at least 3 [x, y] points in source-frame pixels.",
    )
    loop: bool = Field(False, title="Loop", description="Play a file source again when it ends.")
    realtime: bool = Field(
        False, title="Real time", description="Pace a file at its frame rate, dropping late frames."
    )
    open_timeout_s: float | None = Field(
        None, gt=0, title="Open timeout", description="Seconds to wait for a stream to open; unset: the default."
    )
    read_timeout_s: float | None = Field(
        None, gt=0, title="Read timeout", description="Seconds without a frame before a stream counts as lost."
    )
    decode_threads: int | None = Field(
        None, ge=1, title="Decode threads",
        description="FFmpeg decoding threads for a file or stream; unset: CPU cores minus interpreter threads "
        "minus 1, at least 1.",
    )  # fmt: skip


class MqttConfig(_Section):
    """Publish results to an MQTT broker."""

    _url_fields = ("url",)

    url: str = Field(
        title="Broker URL",
        description="mqtt://[user:pass@]host[:port][/prefix] or mqtts://...; put the password in ${ENV}.",
        json_schema_extra=_SECRET,
    )
    rate: float | None = Field(
        None, gt=0, title="Rate", description="At most this many detection messages per second per camera."
    )
    ca: ConfigPath | None = Field(None, title="CA file", description="CA certificate that signed the broker's.")
    cert: ConfigPath | None = Field(None, title="Client certificate", description="For brokers that ask for one.")
    key: ConfigPath | None = Field(None, title="Client key", description="Private key of the client certificate.")
    insecure: bool = Field(
        False, title="Insecure TLS", description="Skip checking the broker's certificate (testing only)."
    )
    client_id: str | None = Field(
        None, min_length=1, title="Client id", description="Unique per device; unset: derived from the host name."
    )
    protocol: Annotated[Literal["3.1.1", "5"], BeforeValidator(_number_to_text)] = Field(
        "3.1.1", title="Protocol", description="MQTT protocol version."
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        if not re.match(r"^mqtts?://[^/\s]+", url):
            raise ValueError("expected mqtt://[user:pass@]host[:port][/prefix] or mqtts://...")
        return url

    @model_validator(mode="after")
    def _cert_needs_key(self) -> MqttConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together: give both or neither")
        return self


class RecordConfig(_Section):
    """Write the annotated video."""

    path: ConfigPath = Field(
        title="Video file",
        description="Annotated video file; with several cameras each adds its name before the suffix.",
    )


class HttpConfig(_Section):
    """Serve the live view, snapshots, stats and metrics."""

    host: str = Field("127.0.0.1", min_length=1, title="Host", description="Address to bind; 0.0.0.0 for all.")
    port: int = Field(8080, ge=1, le=65535, title="Port", description="TCP port, 1 to 65535.")
    token: SecretStr | None = Field(
        None, min_length=1, title="Token", json_schema_extra=_SECRET,
        description="Required to bind beyond loopback; clients send it as a Bearer token or ?token=.",
    )  # fmt: skip
    max_fps: float = Field(10.0, gt=0, le=60, title="Stream fps", description="Most frames per second per viewer.")
    snapshot_dir: ConfigPath | None = Field(
        None, title="Event snapshot folder",
        description="Where the best frame of each event is kept as JPEG; use a tmpfs such as /run/edgevision.",
    )  # fmt: skip
    snapshot_count: int = Field(200, ge=1, title="Snapshots kept", description="Oldest snapshots go first.")
    snapshot_mb: float = Field(20.0, gt=0, title="Snapshot megabytes", description="Total size of kept snapshots.")

    @model_validator(mode="after")
    def _token_beyond_loopback(self) -> HttpConfig:
        if self.token is None and not is_loopback(self.host):
            raise ValueError(
                f"binding to {self.host} needs a token: set token (e.g. token: ${{EDGEVISION_TOKEN}}) "
                "or pass --http-token"
            )
        return self


class OutputsConfig(_Section):
    """Where results go."""

    stdout: bool = Field(True, title="Standard output", description="One JSON line per processed frame.")
    polygons: bool = Field(False, title="Mask polygons", description="Add segmentation mask polygons to the JSON.")
    display: bool = Field(False, title="Display", description="Show the annotated video in a window.")
    mqtt: MqttConfig | None = Field(None, title="MQTT", description="Publish to an MQTT broker.")
    record: RecordConfig | None = Field(None, title="Record", description="Write the annotated video.")
    http: HttpConfig | None = Field(None, title="HTTP", description="Serve the live view over HTTP.")


class RuntimeConfig(_Section):
    """How models run."""

    delegate: str | None = Field(
        None, min_length=1, title="Delegate", description="edgetpu, gpu, or a delegate library path."
    )
    delegate_fallback: Literal["cpu", "fail"] = Field(
        "cpu", title="Delegate fallback", description="What to do when the delegate cannot load."
    )
    threads: int | None = Field(None, ge=1, title="Threads", description="Interpreter threads per model.")
    max_frames: int | None = Field(None, ge=1, title="Max frames", description="Stop after this many frames.")


class Config(_Section):
    """The whole config file."""

    cameras: dict[Name, CameraConfig] = Field(
        title="Cameras", description="At least one camera, keyed by the name used in results and topics.",
        min_length=1,
    )  # fmt: skip
    outputs: OutputsConfig = Field(default_factory=OutputsConfig, title="Outputs", description="Where results go.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, title="Runtime", description="How models run.")

    def record_path(self, camera: str) -> Path | None:
        """Where ``camera`` records: the configured file, or with several cameras one file each."""
        if self.outputs.record is None:
            return None
        path = self.outputs.record.path
        return path if len(self.cameras) == 1 else path.with_name(f"{path.stem}.{camera}{path.suffix}")

    def redacted(self) -> dict[str, Any]:
        """The config as plain data with passwords and tokens masked, safe to log."""
        data = self.model_dump(mode="json")
        for camera in data["cameras"].values():
            camera["source"] = redact_url(camera["source"])
        outputs = data["outputs"]
        if outputs["mqtt"]:
            outputs["mqtt"]["url"] = redact_url(outputs["mqtt"]["url"])
        if outputs["http"] and outputs["http"]["token"] is not None:
            outputs["http"]["token"] = "***"
        return data


# --- loading -------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys: a camera listed twice is a mistake, not an override."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # unhashable keys are rejected by construct_mapping below
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
    return loader.construct_mapping(node, deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_config(path: str | Path, *, check_files: bool = True) -> Config:
    """Read and validate a config file; raise one :class:`UsageError` listing every problem.

    ``check_files`` also checks that model and label files exist and the record folder is
    writable, so ``config check`` catches what would otherwise fail at start.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read config {path}: {exc.strerror or exc}; check the path and its permissions") from None
    data = parse_config_text(raw, str(path))
    config = validate_config(data, str(path), base_dir=path.resolve().parent)
    if check_files:
        problems = file_problems(config)
        if problems:
            raise UsageError(_problem_report(str(path), problems))
    return config


def parse_config_text(text: str | bytes, origin: str = "config") -> Any:
    """YAML -> plain data; syntax errors become one line with the file, line and column."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UsageError(f"{origin}{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{origin}: invalid YAML: {exc}") from None
    except RecursionError:
        raise UsageError(f"{origin}: invalid YAML: nested too deeply") from None


def validate_config(data: Any, origin: str = "config", base_dir: Path | None = None) -> Config:
    """Plain data (as YAML gives it) -> :class:`Config`, with ``${ENV}`` substituted."""
    if data is None:
        raise UsageError(f"{origin}: the config is empty; it needs at least a 'cameras' section")
    if not isinstance(data, dict):
        raise UsageError(f"{origin}: expected a mapping of settings at the top, got {_kind(data)}")
    from_env: dict[tuple, str] = {}
    problems: list[str] = []
    try:
        data = _substitute(data, (), from_env, problems, set(), [MAX_VALUES])
    except _TooLarge:
        raise UsageError(f"{origin}: more than {MAX_VALUES} values (YAML aliases expanding?); this is not a config") from None
    if problems:
        raise UsageError(_problem_report(origin, problems))
    try:
        return Config.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        lines = [_describe(error, from_env) for error in exc.errors(include_url=False)]
        raise UsageError(_problem_report(origin, list(dict.fromkeys(lines)))) from None
    except RecursionError:
        raise UsageError(f"{origin}: the config is nested too deeply") from None


def file_problems(config: Config) -> list[str]:
    """Files the config names that are missing, and a record folder that cannot be written."""
    problems = []
    for name, camera in config.cameras.items():
        for i, model in enumerate(camera.models):
            key = f"cameras.{name}.models[{i}]"
            problems += _model_file_problems(f"{key}.path", model.path)
            if model.labels is not None and not model.labels.is_file():
                problems.append(f"{key}.labels: label file {model.labels} not found")
    mqtt = config.outputs.mqtt
    if mqtt is not None:
        for field in ("ca", "cert", "key"):
            file = getattr(mqtt, field)
            if file is not None and not os.access(file, os.R_OK):
                problems.append(f"outputs.mqtt.{field}: {file} not found or not readable")
    record = config.outputs.record
    if record is not None:
        folder = record.path.parent
        if not folder.is_dir():
            problems.append(f"outputs.record.path: folder {folder} does not exist; create it or pick another path")
        elif not os.access(folder, os.W_OK | os.X_OK):
            problems.append(f"outputs.record.path: folder {folder} is not writable by this user; pick another path")
    return problems


def _model_file_problems(key: str, path: Path) -> list[str]:
    try:
        with path.open("rb") as file:
            head = file.read(8)
    except FileNotFoundError:
        return [f"{key}: model file {path} not found"]
    except OSError as exc:
        return [f"{key}: cannot read model file {path}: {exc.strerror or exc}"]
    if head[4:8] != b"TFL3":
        return [f"{key}: {path} is not a TFLite model (.tflite flatbuffer); export one with 'edgevision export'"]
    return []


def _problem_report(origin: str, problems: list[str]) -> str:
    if len(problems) == 1:
        return f"{origin}: {problems[0]}"
    return f"{origin} has {len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems)


def _kind(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "text", bool: "true/false", int: "a number", float: "a number", type(None): "nothing"}
    return names.get(type(value), f"a {type(value).__name__}")


# --- command-line overrides ----------------------------------------------------------------

_RUNTIME_FLAGS = {"threads": "threads", "delegate": "delegate", "delegate_fallback": "delegate_fallback", "max_frames": "max_frames"}
_MODEL_FLAGS = ("family", "score_threshold", "iou_threshold", "agnostic_nms")
_MQTT_FLAGS = {"mqtt_rate": "rate", "mqtt_ca": "ca", "mqtt_cert": "cert", "mqtt_key": "key",
               "mqtt_insecure": "insecure", "mqtt_client_id": "client_id", "mqtt_protocol": "protocol"}
_IGNORED_FLAGS = {"config"}


def apply_overrides(config: Config | None, options: Mapping[str, Any], default_source: str = "demo") -> Config:
    """The config with the flags the user gave on the command line applied on top (flags win).

    ``options`` holds only flags given explicitly (see ``edgevision.service.cli.explicit_options``);
    ``None`` values and empty tuples count as not given. Without a config file, ``config`` is None
    and one camera is made from ``--source``/``--camera`` or ``default_source``. Flags that name
    one camera (``--source``, ``--camera-name``) are refused for a config with several.
    """
    given = {k: v for k, v in options.items() if v is not None and v != () and k not in _IGNORED_FLAGS}
    unknown = set(given) - _KNOWN_FLAGS
    if unknown:
        raise ValueError(f"apply_overrides does not know the options {sorted(unknown)}")
    if given.get("source") and given.get("camera"):
        raise UsageError("give either --source or --camera, not both")
    spec = given.get("source") or given.get("camera")
    if config is None:
        source = str(spec or default_source)
        data: dict[str, Any] = {"cameras": {given.get("camera_name") or default_camera_name(source): {"source": source}}}
    else:
        data = config.model_dump()
        data["cameras"] = _override_camera(data["cameras"], spec, given.get("camera_name"))
    for camera in data["cameras"].values():
        _override_models(camera, given)
        for flag in ("loop", "realtime"):
            if given.get(flag):
                camera[flag] = True
        if "decode_threads" in given:
            camera["decode_threads"] = given["decode_threads"]
    _override_outputs(data.setdefault("outputs", {}), given)
    runtime = data.setdefault("runtime", {})
    for flag, key in _RUNTIME_FLAGS.items():
        if flag in given:
            runtime[key] = given[flag]
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        lines = [_describe(error, {}) for error in exc.errors(include_url=False)]
        raise UsageError(_problem_report("command line", list(dict.fromkeys(lines)))) from None


def _override_camera(cameras: dict[str, Any], spec: str | None, name: str | None) -> dict[str, Any]:
    if spec is None and name is None:
        return cameras
    if len(cameras) != 1:
        flag = "--camera-name" if spec is None else "--source/--camera"
        raise UsageError(f"{flag} changes the only camera of a config; this one has {len(cameras)} "
                         f"({', '.join(cameras)}): edit the config file instead")
    (old_name, camera), = cameras.items()
    if spec is not None:
        camera["source"] = str(spec)
    return {name or old_name: camera}


def _override_models(camera: dict[str, Any], given: Mapping[str, Any]) -> None:
    if "models" in given:
        camera["models"] = [{"path": Path(p)} for p in given["models"]]
    labels = list(given.get("labels", ()))
    if labels or any(flag in given for flag in _MODEL_FLAGS):
        if not camera.get("models"):
            from edgevision.assets import default_model_path  # noqa: PLC0415 - only when needed

            camera["models"] = [{"path": default_model_path()}]
        if len(labels) > len(camera["models"]):
            raise UsageError(f"{len(labels)} --labels files for {len(camera['models'])} models: "
                             "give at most one per --model")
        for i, model in enumerate(camera["models"]):
            if i < len(labels):
                model["labels"] = Path(labels[i])
            model.update({flag: given[flag] for flag in _MODEL_FLAGS if flag in given})


def _override_outputs(outputs: dict[str, Any], given: Mapping[str, Any]) -> None:
    if "output" in given:
        outputs["stdout"] = given["output"] == "stdout"
    for flag in ("polygons", "display"):
        if given.get(flag):
            outputs[flag] = True
    if "record" in given:
        outputs["record"] = {"path": Path(given["record"])}
    if "mqtt" in given:
        outputs["mqtt"] = {**(outputs.get("mqtt") or {}), "url": given["mqtt"]}
    mqtt_flags = [flag for flag in _MQTT_FLAGS if flag in given]
    if mqtt_flags:
        if not outputs.get("mqtt"):
            raise UsageError(f"--{mqtt_flags[0].replace('_', '-')} needs --mqtt URL or outputs.mqtt in the config")
        outputs["mqtt"].update({_MQTT_FLAGS[flag]: given[flag] for flag in mqtt_flags})
    if "http" in given:
        host, port = parse_address(str(given["http"]))
        outputs["http"] = {**(outputs.get("http") or {}), "host": host, "port": port}
    if "http_token" in given:
        if not outputs.get("http"):
            raise UsageError("--http-token needs --http HOST:PORT or outputs.http in the config")
        outputs["http"]["token"] = given["http_token"]


_KNOWN_FLAGS = {
    "models", "labels", "source", "camera", "camera_name", "loop", "realtime", "decode_threads", "output", "polygons",
    "display", "record", "mqtt", "http", "http_token", *_RUNTIME_FLAGS, *_MODEL_FLAGS, *_MQTT_FLAGS,
}


def default_camera_name(source: str) -> str:
    """The name a camera gets without a config: what the source factory would call it, made safe."""
    source = source.strip()
    if source.isdigit():
        name = f"camera{int(source)}"
    elif source == "picam" or source.startswith("picamera2:"):
        name = "picam" + (source.split(":", 1)[1] if ":" in source else "0")
    elif "://" in source and not source.startswith("file://"):
        name = redact_url(source).split("://", 1)[1].split("/", 1)[0].replace("***@", "").rsplit(":", 1)[0]
    else:
        name = Path(source.removeprefix("file://")).stem
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", name).lstrip("_.-")
    return name or "camera"


# --- ${ENV} substitution -------------------------------------------------------------------


MAX_VALUES = 100_000


class _TooLarge(Exception):
    """Aliases can make a small file expand to billions of values ("billion laughs")."""


def _substitute(
    value: Any, loc: tuple, from_env: dict[tuple, str], problems: list[str], active: set[int], budget: list[int]
) -> Any:
    """A copy of ``value`` with ``${NAME}`` replaced in strings; ``$${NAME}`` stays literal."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if isinstance(value, str):
        return _substitute_text(value, loc, from_env, problems)
    if isinstance(value, dict | list):
        if id(value) in active:  # a YAML alias that contains itself
            problems.append(f"{_format_data_loc(loc)}: an alias refers to itself")
            return None
        active.add(id(value))
        if isinstance(value, dict):
            result: Any = {k: _substitute(v, (*loc, k), from_env, problems, active, budget) for k, v in value.items()}
        else:
            result = [_substitute(v, (*loc, _Index(i)), from_env, problems, active, budget) for i, v in enumerate(value)]
        active.discard(id(value))
        return result
    return value


class _Index(int):
    """A list position in raw data, told apart from a mapping key that happens to be a number."""


def _format_data_loc(loc: tuple) -> str:
    text = "".join(f"[{p}]" if isinstance(p, _Index) else f".{p}" for p in loc).lstrip(".")
    return text or "(top level)"


def _substitute_text(text: str, loc: tuple, from_env: dict[tuple, str], problems: list[str]) -> str:
    names: list[str] = []

    def replace(match: re.Match) -> str:
        escaped, name = match.group(1), match.group(2)
        if escaped:
            return "${" + name + "}"
        if not _ENV_NAME.match(name):
            problems.append(f"{_format_data_loc(loc)}: '${{{name}}}' is not a valid environment variable name")
            return ""
        if name not in os.environ:
            problems.append(
                f"{_format_data_loc(loc)}: environment variable {name} is not set; "
                "set it (e.g. in the unit's EnvironmentFile=) or write $${...} for a literal"
            )
            return ""
        names.append(name)
        return os.environ[name]

    result = _ENV_REFERENCE.sub(replace, text)
    if names:
        from_env[loc] = ", ".join("${" + n + "}" for n in names)
    return result


# --- error messages ------------------------------------------------------------------------


def _format_loc(loc: tuple) -> str:
    """('cameras', 'porch', 'models', 0, 'path') -> 'cameras.porch.models[0].path'."""
    text = ""
    annotation: Any = Config
    for part in loc:
        inner = _unwrap(annotation) if annotation is not None else None
        if get_origin(inner) in (list, tuple) or (inner is None and isinstance(part, int) and not isinstance(part, bool)):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
        annotation = _walk_type(inner, (part,)) if inner is not None else None
    return text or "(top level)"


def _describe(error: Mapping[str, Any], from_env: dict[tuple, str]) -> str:
    """One pydantic error -> 'key.path: what is wrong; allowed values', never echoing secrets."""
    loc = _data_loc(tuple(error["loc"]), error["type"])
    where = _format_loc(loc)
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if loc != tuple(error["loc"]):
        if kind == "string_pattern_mismatch":
            return f"{where}: the name must {NAME_RULE}"
        return f"{where}: names must be text, got {_kind(loc[-1])}"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return f"{where}: unknown key; allowed keys: {', '.join(allowed)}" if allowed else f"{where}: unknown key"
    if kind == "missing":
        if isinstance(loc[-1], int):  # a short [x, y] point
            return f"{_format_loc(loc[:-1])}: expected a point [x, y]"
        return f"{where}: required key is missing"
    if kind == "literal_error":
        return f"{where}: {_shown(error, loc, from_env)} is not allowed; allowed values: {ctx.get('expected')}"
    if kind == "value_error":
        return f"{where}: {ctx.get('error', error['msg'])}"
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length", ctx.get("max_length"))
        return f"{where}: needs {bound} {limit} items, got {ctx.get('actual_length')}{_hint(loc)}"
    message = re.sub(r"^Input should be ", "expected ", error["msg"])
    return f"{where}: {message}, got {_shown(error, loc, from_env)}{_hint(loc)}"


def _hint(loc: tuple) -> str:
    """The field's description, which states the allowed values in words."""
    for end in range(len(loc), 0, -1):
        field = _field_at(loc[:end])
        if field is not None:
            return f" ({field.description})" if field.description else ""
    return ""


def _data_loc(loc: tuple, kind: str) -> tuple:
    """Pydantic marks a bad dict key with a trailing '[key]'; the key itself names the place.

    Only a key's own errors (not text, or not a valid name) carry the marker: a key that is
    literally '[key]' but unknown or missing keeps its place.
    """
    is_key_error = kind.startswith("string_") and len(loc) > 1
    return loc[:-1] if is_key_error and loc[-1] == "[key]" else loc


def _shown(error: Mapping[str, Any], loc: tuple, from_env: dict[tuple, str]) -> str:
    """The offending value, unless it is secret or came from the environment."""
    if loc in from_env:
        return f"the value of {from_env[loc]}"
    field = _field_at(loc)
    if field is not None and (field.json_schema_extra == _SECRET or _unwrap(field.annotation) is SecretStr):
        return "a hidden value"
    value = error.get("input")
    if isinstance(value, dict | list):
        return _kind(value)
    text = redact_url(value) if isinstance(value, str) else repr(value)
    return repr(text[:60]) if isinstance(value, str) else text[:60]


def _walk_type(annotation: Any, loc: tuple) -> Any:
    """Follow ``loc`` through the model's type annotations; None when it leaves them."""
    for part in loc:
        annotation = _unwrap(annotation)
        origin = get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            annotation = field.annotation
        elif origin is dict:
            annotation = get_args(annotation)[1]
        elif origin in (list, tuple):
            annotation = get_args(annotation)[0]
        else:
            return None
    return _unwrap(annotation)


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin is Union or type(annotation).__name__ == "UnionType":
            options = [a for a in get_args(annotation) if a is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _allowed_keys(loc: tuple) -> list[str]:
    model = _walk_type(Config, loc)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _field_at(loc: tuple) -> Any:
    if not loc:
        return None
    parent = _walk_type(Config, loc[:-1])
    if isinstance(parent, type) and issubclass(parent, BaseModel) and isinstance(loc[-1], str):
        return parent.model_fields.get(loc[-1])
    return None


def iter_fields(model: type[BaseModel] = Config, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every field of the config as ('dotted.path', FieldInfo), for docs and tests."""
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        yield path, field
        inner = _unwrap(field.annotation)
        origin = get_origin(inner)
        if origin in (dict, list):
            inner = _unwrap(get_args(inner)[-1 if origin is dict else 0])
            path += ".<name>" if origin is dict else "[]"
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            yield from iter_fields(inner, path + ".")
