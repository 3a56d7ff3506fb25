"""The models shipped in models/ reach a floor on a fixed held-out set (digits and photos that
training never saw), carry metadata the runtime reads, and have the tensors the runtime expects.

The full held-out numbers are in models/reports/*.report.md; these floors use smaller samples
so the suite stays fast.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgevision.inference.modelfile import read_model_file
from export.litert import LiteModel
from export.metrics import ImageDetections, confusion, mean_average_precision, mean_iou, top1
from train.digits import LABELS, load_split
from train.scenes import SceneComposer, photos, stretch

MODELS = Path(__file__).resolve().parents[1] / "models"
SEED = 424242  # not a seed the export reports used: a fresh sample of held-out scenes


def _model(name: str, input_dtype: type = np.uint8) -> tuple[LiteModel, object]:
    path = MODELS / name
    info = read_model_file(path)
    meta = info.metadata
    assert meta is not None and meta.mean and meta.std, f"{name} lacks normalization metadata"
    model = LiteModel(info.content, meta.mean[0], meta.std[0])
    assert model.input["dtype"] == input_dtype
    return model, info


def test_detector_floor_and_contract() -> None:
    model, info = _model("digit_detector.tflite")
    assert info.custom_ops == ("TFLite_Detection_PostProcess",)
    assert len(info.op_outputs["TFLite_Detection_PostProcess"]) == 4
    nms = info.op_options["TFLite_Detection_PostProcess"]
    assert nms["use_regular_nms"] and nms["max_detections"] == 20  # per-class NMS, as the card says
    assert info.metadata.labels == LABELS
    assert model.input_shape == (1, 192, 256, 3)
    _, h, w, _ = model.input_shape
    comp = SceneComposer(load_split("test"), photos("test"), seed=SEED)
    preds, truths = [], []
    for _ in range(120):
        s = stretch(comp.compose(640, 360), w, h)
        boxes, classes, scores = model.detect(s.image)
        preds.append(ImageDetections(boxes[:, [1, 0, 3, 2]], scores, classes))
        truths.append(ImageDetections(s.boxes / np.array([w, h, w, h], np.float32), np.ones(len(s.boxes)), s.classes))
    # 0.903 on these 120 scenes today; the export report measures 0.902 on 500 held-out scenes
    # (the target is 0.90).
    assert mean_average_precision(preds, truths, 10)["mAP@0.5"] >= 0.85


def test_classifier_floor() -> None:
    model, info = _model("digit_classifier.tflite")
    assert info.metadata.labels == LABELS and model.input_shape == (1, 28, 28, 1)
    test = load_split("test")
    predicted = np.array([np.argmax(model(im[..., None])[0]) for im in test.images])
    assert top1(predicted, test.labels) >= 0.97  # today 0.983; the target is 0.98


def test_segmenter_floor() -> None:
    from train.segment import SEGMENTATION_STYLE

    model, info = _model("digit_segmenter.tflite")  # uint8 input, int8 output: see its card
    assert model.outputs[0]["dtype"] == np.int8
    assert info.metadata.labels == ["background", *LABELS]
    size = model.input_shape[1]
    comp = SceneComposer(load_split("test"), photos("test"), seed=SEED, style=SEGMENTATION_STYLE)
    conf = np.zeros((11, 11), np.int64)
    for _ in range(120):
        s = stretch(comp.compose(240, 240), size, size, with_mask=True)
        conf += confusion(np.argmax(model(s.image)[0], axis=-1), s.mask, 11)
    # 0.797 on these 120 scenes (the model before it 0.785); runs of the recipes tried scored
    # 0.728-0.795 here without the foreground head's outlines (on the first 40 alone 0.641-0.725:
    # too few scenes for a floor). The export report measures 0.804 on 1,000 held-out scenes (the
    # issue's target is 0.80).
    assert mean_iou(conf)["mIoU"] >= 0.70


def test_demo_clip() -> None:
    cap = cv2.VideoCapture(str(MODELS / "demo.mp4"))
    assert cap.isOpened()
    frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (360, 640, 3) and frames >= 100


@pytest.mark.parametrize("name", ["digit_detector", "digit_classifier", "digit_segmenter"])
def test_model_card_and_report(name: str) -> None:
    card = (MODELS / f"{name}.md").read_text()
    assert "python -m train.shipped" in card and "float32" in card
    report = json.loads((MODELS / "reports" / f"{name}.report.json").read_text())
    # int8 speed and training time depend on the CPU: both name the machine that measured them.
    cpu = report["latency"]["cpu"]
    assert "integer dot products: " in cpu and f"1 thread, {cpu}, same run" in card
    assert re.search(r"Training took [\d.]+ minutes on this project's CPU machine \(.+, \d+ cores", card)
