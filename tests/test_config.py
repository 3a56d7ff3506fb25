"""The config file: valid files load, every bad input is one clear line with its key path."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
from model_factory import build_model
from pydantic import BaseModel
from service_helpers import WITHOUT_DAC, run_cli

from edgevision.config import Config, apply_overrides, default_camera_name, iter_fields, load_config, validate_config
from edgevision.errors import EXIT_USAGE, UsageError


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A folder holding a real TFLite detector and a label file, as a config would name them."""
    folder = tmp_path_factory.mktemp("models")
    shutil.copy(build_model("ssd", "uint8"), folder / "detector.tflite")
    (folder / "labels.txt").write_text("zero\none\n")
    return folder


FULL = """
cameras:
  porch:
    source: rtsp://viewer:${CAM_PASSWORD}@10.0.0.5:554/stream1
    models:
      - path: detector.tflite
        labels: labels.txt
        family: ssd
        score_threshold: 0.4
        iou_threshold: 0.5
    labels_to_keep: [zero]
    zones:
      steps: [[0, 0], [100, 0], [100, 50]]
    read_timeout_s: 3
  garage:
    source: 0
    models:
      - path: detector.tflite
outputs:
  stdout: false
  mqtt:
    url: mqtts://edge:${MQTT_PASSWORD}@broker.local:8883/home
    rate: 2
    protocol: 5
  record:
    path: rec/out.mp4
  http:
    host: 0.0.0.0
    port: 8081
    token: ${HTTP_TOKEN}
runtime:
  delegate_fallback: fail
  threads: 2
"""

SECRETS = {"CAM_PASSWORD": "c4m-s3cret", "MQTT_PASSWORD": "mq-s3cret", "HTTP_TOKEN": "tok-s3cret"}


def write(folder: Path, text: str, name: str = "edgevision.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path) -> str:
    with pytest.raises(UsageError) as caught:
        load_config(path)
    return str(caught.value)


def test_full_config_loads_with_paths_relative_to_the_file(model_dir, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    (model_dir / "rec").mkdir(exist_ok=True)
    config = load_config(write(model_dir, FULL))
    porch = config.cameras["porch"]
    assert list(config.cameras) == ["porch", "garage"]
    assert porch.source == "rtsp://viewer:c4m-s3cret@10.0.0.5:554/stream1"
    assert porch.models[0].path == model_dir / "detector.tflite"
    assert porch.models[0].labels == model_dir / "labels.txt"
    assert (porch.models[0].score_threshold, porch.models[0].iou_threshold) == (0.4, 0.5)
    assert porch.zones == {"steps": [(0, 0), (100, 0), (100, 50)]}
    assert config.cameras["garage"].source == "0"
    assert config.outputs.mqtt.protocol == "5" and config.outputs.mqtt.rate == 2
    assert config.outputs.http.token.get_secret_value() == "tok-s3cret"
    assert config.runtime.threads == 2 and config.runtime.delegate_fallback == "fail"
    assert config.record_path("porch") == model_dir / "rec" / "out.porch.mp4"
    # the same model entry on two cameras is one hashable value: loaded once, shared
    assert len({m for c in config.cameras.values() for m in c.models}) == 2


def test_redacted_view_hides_every_secret(model_dir, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    (model_dir / "rec").mkdir(exist_ok=True)
    config = load_config(write(model_dir, FULL))
    text = repr(config.redacted()) + repr(config) + str(config)
    for secret in SECRETS.values():
        assert secret not in text
    assert config.redacted()["outputs"]["mqtt"]["url"] == "mqtts://***@broker.local:8883/home"
    assert config.redacted()["outputs"]["http"]["token"] == "***"


def test_file_sources_are_relative_to_the_config_file(tmp_path):
    config = load_config(write(tmp_path, "cameras:\n  a: {source: clips/door.mp4}\n  b: {source: 0}\n  c: {source: demo}\n"))
    assert [c.source for c in config.cameras.values()] == [str(tmp_path / "clips" / "door.mp4"), "0", "demo"]


def test_env_escape_and_missing_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("EDGEVISION_NOT_SET", raising=False)
    config = validate_config({"cameras": {"a": {"source": "clip-$${LITERAL}.mp4"}}})
    assert config.cameras["a"].source == "clip-${LITERAL}.mp4"
    message = problems(write(tmp_path, "cameras:\n  a:\n    source: rtsp://u:${EDGEVISION_NOT_SET}@h/\n"))
    assert "cameras.a.source: environment variable EDGEVISION_NOT_SET is not set" in message


def test_values_from_the_environment_are_never_echoed(tmp_path, monkeypatch):
    monkeypatch.setenv("THREADS_SECRET", "not-a-number-s3cret")
    message = problems(write(tmp_path, "cameras: {a: {source: demo}}\nruntime: {threads: '${THREADS_SECRET}'}\n"))
    assert "runtime.threads" in message and "${THREADS_SECRET}" in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cameras: [a\n", "edgevision.yaml line 2, column 1: invalid YAML"),
        ("cameras:\n  a: {source: demo, sorce: x}\n", "cameras.a.sorce: unknown key; allowed keys: source, models,"),
        ("cameras:\n  a: {source: demo}\nouputs: {}\n", "ouputs: unknown key; allowed keys: cameras, outputs, runtime"),
        ("cameras:\n  a: {source: demo, models: [{path: m.tflite, score_threshold: high}]}\n",
         "cameras.a.models[0].score_threshold: expected a valid number"),
        ("cameras:\n  a: {source: demo, models: [{path: m.tflite, score_threshold: 1.5}]}\n",
         "cameras.a.models[0].score_threshold: expected less than or equal to 1, got 1.5"),
        ("cameras:\n  a: {source: demo, decode_threads: 0}\n",
         "cameras.a.decode_threads: expected greater than or equal to 1, got 0"),
        ("cameras:\n  a: {source: demo}\nruntime: {delegate_fallback: gpu}\n",
         "runtime.delegate_fallback: 'gpu' is not allowed; allowed values: 'cpu' or 'fail'"),
        ("cameras:\n  a: {source: demo, models: [{path: m.tflite, family: rcnn}]}\n",
         "allowed values: 'ssd', 'yolo', 'segmentation' or 'classification'"),
        ("cameras:\n  a: {source: demo, zones: {door: [[0, 0], [5, 5]]}}\n", "cameras.a.zones.door: needs at least 3 items, got 2"),
        ("cameras:\n  a: {source: demo, zones: {door: [[0, 0], [5, 5], [9, 9]]}}\n", "cameras.a.zones.door: the polygon's points lie on one line"),
        ("cameras:\n  a: {source: demo, zones: {door: [[0, 0], [5], [9, 1]]}}\n", "cameras.a.zones.door[1]: expected a point [x, y]"),
        ("cameras:\n  front door: {source: demo}\n", "cameras.front door: the name must start with a letter or digit"),
        ("cameras:\n  a: {source: demo}\n  a: {source: 0}\n", "line 3, column 3: invalid YAML: duplicate key 'a'"),
        ("cameras: {}\n", "cameras: needs at least 1 items, got 0"),
        ("outputs: {stdout: true}\n", "cameras: required key is missing"),
        ("- cameras\n", "expected a mapping of settings at the top, got a list"),
        ("", "the config is empty"),
        ("cameras: &c {a: *c}\n", "line 1, column 10: invalid YAML: found unconstructable recursive node"),
        ("cameras: {a: {source: demo, zones: &z [*z]}}\n", "cameras.a.zones[0]: an alias refers to itself"),
        ("cameras:\n  a: {source: demo}\noutputs: {http: {host: 0.0.0.0}}\n", "outputs.http: binding to 0.0.0.0 needs a token"),
        ("cameras:\n  a: {source: demo}\noutputs: {http: {port: 70000}}\n", "outputs.http.port: expected less than or equal to 65535"),
        ("cameras:\n  a: {source: demo}\noutputs: {mqtt: {url: 'broker:1883'}}\n", "outputs.mqtt.url: expected mqtt://"),
        ("cameras:\n  a: {source: demo}\noutputs: {mqtt: {url: 'mqtt://h', cert: c.pem}}\n", "outputs.mqtt: cert and key go together"),
        ("cameras:\n  a: {source: !!python/object:os.system {}}\n", "invalid YAML: could not determine a constructor"),
        ("cameras:\n  a: {source: ~nosuchuser/clip.mp4}\n",
         "cameras.a.source: cannot expand '~nosuchuser' in '~nosuchuser/clip.mp4': no such user"),
    ],
)
def test_bad_config_names_the_key_and_the_allowed_values(tmp_path, text, expected):
    message = problems(write(tmp_path, text))
    assert expected in message
    assert "Traceback" not in message


def test_alias_bomb_is_refused_quickly(tmp_path):
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = "cameras: {porch: {source: demo}}\nbomb:\n" + "\n".join(f"  {line}" for line in levels) + "\n"
    message = problems(write(tmp_path, text))
    assert "more than 100000 values (YAML aliases expanding?)" in message


def test_every_problem_is_reported_on_its_own_line(tmp_path):
    message = problems(write(tmp_path, """
        cameras:
          a: {source: demo, loop: maybe}
        runtime: {threads: 0, colour: red}
        """))
    lines = message.splitlines()
    assert lines[0].endswith("has 3 problems:")
    assert {line.split(":")[0].strip() for line in lines[1:]} == {"cameras.a.loop", "runtime.threads", "runtime.colour"}


def test_missing_model_label_and_unwritable_record_folder(tmp_path, model_dir):
    path = write(tmp_path, f"""
        cameras:
          a:
            source: demo
            models:
              - path: nowhere.tflite
              - path: {model_dir / 'labels.txt'}
              - path: {model_dir / 'detector.tflite'}
                labels: missing.txt
        outputs:
          record: {{path: no/such/folder/out.mp4}}
        """)
    lines = problems(path).splitlines()[1:]
    assert f"  cameras.a.models[0].path: model file {tmp_path / 'nowhere.tflite'} not found" in lines
    assert any(line.startswith("  cameras.a.models[1].path:") and "is not a TFLite model" in line for line in lines)
    assert f"  cameras.a.models[2].labels: label file {tmp_path / 'missing.txt'} not found" in lines
    assert any(line.startswith("  outputs.record.path: folder") and "does not exist" in line for line in lines)
    assert load_config(path, check_files=False).cameras["a"].models[0].path == tmp_path / "nowhere.tflite"


def test_record_folder_the_service_user_cannot_write(tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    path = write(tmp_path, f"cameras: {{a: {{source: demo}}}}\noutputs: {{record: {{path: {folder / 'out.mp4'}}}}}\n")
    result = run_cli("config", "check", str(path), prefix=WITHOUT_DAC)
    assert result.returncode == EXIT_USAGE
    assert result.stderr.strip() == f"edgevision: error: {path}: outputs.record.path: folder {folder} is not writable by this user; pick another path"


def test_unreadable_config(tmp_path):
    path = write(tmp_path, "cameras: {a: {source: demo}}\n")
    path.chmod(0)
    result = run_cli("config", "check", str(path), prefix=WITHOUT_DAC)
    assert (result.returncode, result.stdout) == (EXIT_USAGE, "")
    assert result.stderr.strip() == f"edgevision: error: cannot read config {path}: Permission denied; check the path and its permissions"
    missing = run_cli("config", "check", str(tmp_path / "absent.yaml"))
    assert missing.returncode == EXIT_USAGE and "No such file or directory" in missing.stderr


def test_config_check_command(tmp_path, model_dir, monkeypatch):
    env = {**SECRETS, "EDGEVISION_EXTRA": "1"}
    (model_dir / "rec").mkdir(exist_ok=True)
    good = write(model_dir, FULL)
    result = run_cli("config", "check", "--show", str(good), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{good}: OK (2 cameras: porch, garage; outputs: mqtt, record, http)")
    assert "0.0.0.0" in result.stdout and not any(s in result.stdout + result.stderr for s in SECRETS.values())
    bad = write(tmp_path, "cameras:\n  a: {source: demo, threads: 2}\n")
    result = run_cli("config", "check", str(bad))
    assert (result.returncode, result.stdout) == (EXIT_USAGE, "")
    assert result.stderr.startswith(f"edgevision: error: {bad}: cameras.a.threads: unknown key")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1


def test_every_field_has_a_title_and_a_description():
    fields = list(iter_fields())
    assert len(fields) > 30
    untitled = [path for path, field in fields if not field.title or not field.description]
    assert untitled == []
    assert "cameras.<name>.models[].score_threshold" in dict(fields)


def test_every_section_rejects_unknown_keys():
    sections = {Config}
    for _, field in iter_fields():
        for candidate in (field.annotation, *getattr(field.annotation, "__args__", ())):
            for inner in (candidate, *getattr(candidate, "__args__", ())):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    sections.add(inner)
    assert len(sections) >= 8
    assert {s.__name__ for s in sections if s.model_config.get("extra") != "forbid"} == set()


def test_overrides_from_flags_win_over_the_file(tmp_path, model_dir):
    (tmp_path / "rec").mkdir()
    config = load_config(write(tmp_path, f"""
        cameras:
          porch:
            source: demo
            models: [{{path: {model_dir / 'detector.tflite'}, score_threshold: 0.5}}]
        outputs: {{stdout: true}}
        runtime: {{threads: 1}}
        """))
    merged = apply_overrides(config, {
        "source": "rtsp://10.0.0.9/live", "score_threshold": 0.8, "threads": 3, "output": "none",
        "record": tmp_path / "rec" / "x.mp4", "mqtt": "mqtt://broker", "mqtt_rate": 5.0, "loop": True,
        "camera": None, "labels": (), "config": tmp_path / "edgevision.yaml", "decode_threads": 2,
    })  # fmt: skip
    porch = merged.cameras["porch"]
    assert porch.source == "rtsp://10.0.0.9/live" and porch.loop and porch.decode_threads == 2
    assert porch.models[0].score_threshold == 0.8 and porch.models[0].path == model_dir / "detector.tflite"
    assert merged.runtime.threads == 3 and not merged.outputs.stdout
    assert merged.outputs.mqtt.url == "mqtt://broker" and merged.outputs.mqtt.rate == 5.0
    assert config.cameras["porch"].models[0].score_threshold == 0.5  # the loaded config is untouched


def test_overrides_without_a_config_and_their_errors(tmp_path):
    config = apply_overrides(None, {"camera": "0", "delegate": "edgetpu", "http": "0.0.0.0:9000", "http_token": "t0k"})
    assert list(config.cameras) == ["camera0"] and config.cameras["camera0"].source == "0"
    assert (config.outputs.http.host, config.outputs.http.port) == ("0.0.0.0", 9000)
    assert apply_overrides(None, {}, default_source="demo").cameras["demo"].source == "demo"
    two = validate_config({"cameras": {"a": {"source": "demo"}, "b": {"source": "0"}}})
    with pytest.raises(UsageError, match=r"--source/--camera changes the only camera of a config; this one has 2 \(a, b\)"):
        apply_overrides(two, {"source": "x.mp4"})
    with pytest.raises(UsageError, match="--mqtt-rate needs --mqtt URL"):
        apply_overrides(None, {"mqtt_rate": 2.0})
    with pytest.raises(UsageError, match="command line: outputs.http: binding to 0.0.0.0 needs a token"):
        apply_overrides(None, {"http": "0.0.0.0:8080"})
    with pytest.raises(UsageError, match="--http 'camera:http' is not HOST:PORT"):
        apply_overrides(None, {"http": "camera:http"})
    assert apply_overrides(None, {"http": "8080"}).outputs.http.port == 8080  # host defaults to loopback
    with pytest.raises(ValueError, match="does not know the options"):
        apply_overrides(None, {"brightness": 3})


@pytest.mark.parametrize(
    ("source", "name"),
    [("0", "camera0"), ("demo", "demo"), ("picamera2:1", "picam1"), ("picam", "picam0"),
     ("clips/my clip.mp4", "my_clip"), ("rtsp://user:pw@cam.local:554/s", "cam.local"), ("file:///x/y.mkv", "y")],
)
def test_default_camera_names_are_valid_names(source, name):
    assert default_camera_name(source) == name
    assert validate_config({"cameras": {default_camera_name(source): {"source": source}}})


def test_shipped_starter_config_is_valid():
    starter = Path(__file__).resolve().parents[1] / "systemd" / "edgevision.yaml"
    config = load_config(starter)
    assert list(config.cameras) == ["front"] and config.outputs.stdout is False
