"""End to end: a real video through a real TFLite model, the pipeline's tracking hook and the
MQTT sink, to a real mosquitto. A bright square enters the clip, crosses it and leaves: one event."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edgevision.inference.model import Model, ModelOptions
from edgevision.pipeline import Pipeline
from edgevision.sinks.mqtt import MqttSink
from edgevision.sources import open_source
from edgevision.tracking import TrackFrames
from mosquitto import Mosquitto, Subscriber
from mqtt_helpers import settings

SIZE = 32  # model input
FRAME = 96  # square frames: a plain resize, no letterbox padding to disturb the brightness
SQUARE = 24


def square_locator_model(path: Path) -> Path:
    """A YOLO end-to-end ``[1, 10, 6]`` model whose first row finds the bright square: its box
    is centred on the image's brightness centroid, its score grows with the bright area."""
    import keras

    from export.convert import convert

    inputs = keras.Input((SIZE, SIZE, 3))
    gray = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer=keras.initializers.Constant(1 / 3))(inputs)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) + 0.5
    kernel = np.stack([np.ones(SIZE * SIZE), xs.ravel(), ys.ravel()], axis=1) / (SIZE * SIZE)
    sums = keras.layers.Dense(3, use_bias=False, kernel_initializer=keras.initializers.Constant(kernel))(
        keras.layers.Flatten()(gray)
    )
    mass = sums[:, 0:1] + 1e-4
    cx = keras.ops.divide(sums[:, 1:2], mass) / SIZE
    cy = keras.ops.divide(sums[:, 2:3], mass) / SIZE
    half = SQUARE / FRAME / 2
    score = keras.ops.clip(mass * 16.0 - 0.2, 0.0, 1.0)
    row = keras.ops.concatenate([cx - half, cy - half, cx + half, cy + half, score, mass * 0.0], axis=1)
    rows = keras.ops.concatenate([row[:, None, :], keras.ops.zeros_like(row)[:, None, :] + keras.ops.zeros((1, 9, 6))], axis=1)
    model = keras.Model(inputs, rows)
    representative = [np.random.default_rng(i).random((SIZE, SIZE, 3), dtype=np.float32) for i in range(4)]
    path.write_bytes(convert(model, "float32", representative, "float32"))
    return path


def write_clip(path: Path) -> Path:
    """5 dark frames, 25 with the square walking left to right, 15 dark: MJPG at 10 fps."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (FRAME, FRAME))
    for i in range(45):
        image = np.zeros((FRAME, FRAME, 3), np.uint8)
        if 5 <= i < 30:
            x = 3 * (i - 5)
            image[36 : 36 + SQUARE, x : x + SQUARE] = 255
        writer.write(image)
    writer.release()
    return path


def test_square_crossing_the_clip_makes_one_event(tmp_path: Path) -> None:
    model_path = square_locator_model(tmp_path / "square.tflite")
    labels = tmp_path / "labels.txt"
    labels.write_text("square\n")
    clip = write_clip(tmp_path / "walk.avi")
    broker = Mosquitto(tmp_path / "broker").start()
    sub = Subscriber(broker.port, "ev/#")
    try:
        model = Model(model_path, ModelOptions(labels_path=labels, family="yolo-e2e", score_threshold=0.3))
        sink = MqttSink(settings(broker.port), ["walk"], ["square"])
        sink.start()
        Pipeline(open_source(str(clip)), [model], [sink], hooks=[TrackFrames()]).run()  # closes the sink

        assert sub.wait(lambda s: s.payloads("ev/available")[-1:] == ["offline"])
        frames = sub.json("ev/walk/detections")
        seen = [f["frame_index"] for f in frames if f["models"][0]["detections"]]
        assert seen == list(range(5, 30))
        ids = {d["track_id"] for f in frames for d in f["models"][0]["detections"]}
        assert ids == {-1, 1}  # unconfirmed for its first two frames, then one id

        events = sub.json("ev/events")
        kinds = [e["type"] for e in events]
        assert kinds[0] == "new" and kinds[-1] == "end" and kinds.count("new") == kinds.count("end") == 1
        assert len({e["after"]["id"] for e in events}) == 1
        end = events[-1]["after"]
        assert end["label"] == "square" and end["camera"] == "walk"
        assert end["region"] == [0, 0, FRAME, FRAME]
        x1, y1, x2, y2 = end["box"]  # last seen at frame 29: the square at x = 72..96
        assert (x1, y1, x2, y2) == pytest.approx((72, 36, 96, 60), abs=3)
        assert end["position_changes"] >= 2
        assert sub.payloads("ev/walk/square")[0] == "0" and "1" in sub.payloads("ev/walk/square")
        assert sub.payloads("ev/walk/all")[-1] == "0"
    finally:
        sub.close()
        broker.stop()
