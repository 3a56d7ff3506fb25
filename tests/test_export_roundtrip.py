"""Tiny train -> export -> run round trips on CPU, one per task: the TFLite model (float32 and
int8) run by LiteRT agrees with the Keras model on the same inputs, and carries metadata that the
runtime's own reader understands."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from edgevision.inference.modelfile import parse_model  # noqa: E402
from model_factory import _constant_heads  # noqa: E402
from export.convert import SSDPostProcess  # noqa: E402
from export.litert import LiteModel, op_types  # noqa: E402
from export.flatbuffer import builtin_code, unpack  # noqa: E402
from export.ssd_uint8 import ANCHOR_SCALE, uint8_postprocess_inputs  # noqa: E402
from export.pipeline import ExportJob, HeldOut, convert_with_metadata, export_and_report  # noqa: E402
from train.ssd import SCALES, AnchorLevel, AnchorSpec, build_ssd, inference_model  # noqa: E402

RNG = np.random.default_rng(0)


def _images(n: int, h: int, w: int, c: int = 3) -> list[np.ndarray]:
    """Smooth random images (blobs), so int8 ranges calibrate like real photos would."""
    import cv2

    out = []
    for _ in range(n):
        small = RNG.integers(0, 256, (4, 4, c)).astype(np.uint8)
        im = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        out.append(im.reshape(h, w, c))
    return out


def _job(task: str, labels: list[str], images: list[np.ndarray], **kw) -> ExportJob:
    return ExportJob(task=task, name=f"tiny_{task}", description="test", version="0.0.1", labels=labels,
                     mean=127.5, std=127.5, representative=images, **kw)


def _fit_briefly(model, x, y) -> None:
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)


def test_classifier_round_trip(tmp_path: Path) -> None:
    from train.models import mnist_cnn

    model = mnist_cnn(3, (28, 28, 1))
    model.compile("adam", "sparse_categorical_crossentropy")
    images = _images(24, 28, 28, 1)
    x = (np.stack(images).astype(np.float32) - 127.5) / 127.5
    _fit_briefly(model, x, RNG.integers(0, 3, 24))
    job = _job("classification", ["a", "b", "c"], images, grayscale=True,
               heldout=HeldOut(images[:8], labels=np.zeros(8, np.int64)))
    result = export_and_report(model, job, tmp_path / "c.tflite", "int8", report_dir=tmp_path, latency_runs=3)
    keras_out = model.predict(x[:8], verbose=0)
    lite8 = LiteModel((tmp_path / "c.tflite").read_bytes(), 127.5, 127.5)
    lite32 = LiteModel(convert_with_metadata(model, job, "float32"), 127.5, 127.5)
    for i in range(8):
        np.testing.assert_allclose(lite32(images[i])[0], keras_out[i], atol=1e-5)
        np.testing.assert_allclose(lite8(images[i])[0], keras_out[i], atol=0.03)
    assert lite8.input["dtype"] == np.uint8
    meta = parse_model(tmp_path / "c.tflite", (tmp_path / "c.tflite").read_bytes()).metadata
    assert meta.labels == ["a", "b", "c"] and meta.mean == (127.5,) and meta.std == (127.5,)
    assert meta.name == "tiny_classification" and meta.version == "0.0.1"
    names = [t["name"] for t in lite8.interpreter.get_tensor_details()]
    assert all(len(n) <= 4 for n in names if n not in (lite8.input["name"], lite8.outputs[0]["name"]))
    assert {"top1"} <= set(result.report["accuracy"]["int8"])
    assert (tmp_path / "c.report.json").is_file() and (tmp_path / "c.report.md").is_file()
    assert (tmp_path / "c.report.png").is_file()
    assert result.report["edgetpu"]["all_integer"]


def test_detector_round_trip(tmp_path: Path) -> None:
    spec = AnchorSpec((64, 64), (AnchorLevel(8, (0.2,), (0.5, 1.0)), AnchorLevel(16, (0.4,), (1.0,))))
    model = inference_model(build_ssd(spec, 2, width=0.25))
    images = _images(12, 64, 64)
    anchors = spec.anchors()
    post = SSDPostProcess(anchors, num_classes=2, max_detections=5, score_threshold=0.0)
    job = _job("detection", ["x", "y"], images, postprocess=post)
    tflite = convert_with_metadata(model, job, "float32")
    lite = LiteModel(tflite, 127.5, 127.5)
    x = (images[0].astype(np.float32)[None] - 127.5) / 127.5
    enc, scores = (np.asarray(v)[0] for v in model(x, training=False))
    # The op's best detection is an anchor with the highest non-background score, decoded (an
    # untrained head can tie several anchors at that score, and the op may pick any of them).
    best = scores[:, 1:].max()
    tied = np.argwhere(np.abs(scores[:, 1:] - best) < 1e-5)
    boxes, classes, det_scores = lite.detect(images[0])
    assert det_scores[0] == pytest.approx(best, abs=1e-5)
    decoded = []
    for a, c in tied:
        t = enc[a] / SCALES
        yc, xc = t[0] * anchors[a, 2] + anchors[a, 0], t[1] * anchors[a, 3] + anchors[a, 1]
        h, w = np.exp(t[2]) * anchors[a, 2], np.exp(t[3]) * anchors[a, 3]
        decoded.append((c, [yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2]))
    assert any(classes[0] == c and np.allclose(boxes[0], box, atol=1e-4) for c, box in decoded)
    # int8: same op, fed uint8 as in quantized TF OD API models, four float outputs, uint8
    # input, close scores.
    int8 = convert_with_metadata(model, job, "int8")
    assert op_types(int8)[-1] == {"op": "TFLite_Detection_PostProcess", "inputs": ["uint8"] * 3,
                                  "outputs": ["float32"] * 4}
    q = LiteModel(int8, 127.5, 127.5)
    assert q.input["dtype"] == np.uint8 and len(q.outputs) == 4 and q.detection_outputs
    qboxes, qclasses, qscores = q.detect(images[0])
    assert abs(float(qscores[0]) - float(det_scores[0])) < 0.05
    with pytest.raises(ValueError, match="DEQUANTIZE"):
        uint8_postprocess_inputs(unpack(tflite))  # a float model has nothing to requantize
    info = parse_model(tmp_path / "d.tflite", tflite)
    assert info.custom_ops == ("TFLite_Detection_PostProcess",) and info.metadata.labels == ["x", "y"]
    # The outputs are listed as the op writes them (boxes, classes, scores, count): Frigate takes
    # them by position, MediaPipe by the order of the metadata's output descriptions.
    for name, content in (("float32", tflite), ("int8", int8)):
        outputs = LiteModel(content, 127.5, 127.5).outputs
        op_outputs = parse_model(tmp_path / "d.tflite", content).op_outputs["TFLite_Detection_PostProcess"]
        assert [int(o["index"]) for o in outputs] == list(op_outputs), name
        assert [o["shape"].tolist() for o in outputs] == [[1, 5, 4], [1, 5], [1, 5], [1]], name


@pytest.mark.parametrize("per_class", [False, True])
def test_per_class_nms_keeps_a_second_class_for_the_same_box(per_class: bool) -> None:
    """One anchor scores 0.6 for class 0 and 0.35 for class 1: TF's fast NMS emits the box once
    with its best class; per-class ("regular") NMS emits it for both classes."""
    scores = np.full((2, 3), 0.01, np.float32)
    scores[0] = [0.05, 0.6, 0.35]
    model = _constant_heads([((2, 4), np.zeros((2, 4), np.float32)), ((2, 3), scores)])
    anchors = np.array([[0.3, 0.3, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2]], np.float32)
    post = SSDPostProcess(anchors, num_classes=2, max_detections=5, score_threshold=0.3,
                          use_regular_nms=per_class)
    lite = LiteModel(convert_with_metadata(model, _job("detection", ["a", "b"], _images(4, 32, 32),
                                                        postprocess=post), "float32"), 127.5, 127.5)
    boxes, classes, det_scores = lite.detect(_images(1, 32, 32)[0])
    expected = [(0, 0.6), (1, 0.35)] if per_class else [(0, 0.6)]
    assert [(int(c), round(float(s), 2)) for c, s in zip(classes, det_scores)] == expected
    np.testing.assert_allclose(boxes, [[0.2, 0.2, 0.4, 0.4]] * len(expected), atol=1e-5)


def test_anchors_lie_on_the_uint8_grid() -> None:
    """So an int8 SSD's uint8 anchors are exactly the float model's."""
    anchors = AnchorSpec().anchors()
    steps = anchors / ANCHOR_SCALE
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    assert anchors.min() > 0 and anchors.max() <= 1


def test_per_tensor_int8_has_one_weight_scale_per_tensor() -> None:
    from ai_edge_litert import schema_py_generated as schema

    from train.models import mnist_cnn

    model = mnist_cnn(3, (28, 28, 1))
    images = _images(12, 28, 28, 1)

    def weight_scales(per_channel: bool) -> list[int]:
        job = _job("classification", ["a", "b", "c"], images, grayscale=True, per_channel=per_channel)
        flat = unpack(convert_with_metadata(model, job, "int8"))
        graph = flat.subgraphs[0]
        return [len(graph.tensors[op.inputs[1]].quantization.scale) for op in graph.operators
                if builtin_code(flat.operatorCodes[op.opcodeIndex]) == schema.BuiltinOperator.CONV_2D]

    assert weight_scales(per_channel=True) == [32, 64]
    assert weight_scales(per_channel=False) == [1, 1]


def test_segmenter_round_trip(tmp_path: Path) -> None:
    import tensorflow as tf

    from train.models import fcn_segmenter
    from train.segment import inference_model

    trained = fcn_segmenter(3, (32, 32, 3), width=0.25)
    model = inference_model(trained)
    images = _images(12, 32, 32)
    job = _job("segmentation", ["bg", "a", "b"], images)
    x = (np.stack(images[:4]).astype(np.float32) - 127.5) / 127.5
    keras_out = model.predict(x, verbose=0)
    # The exported map is the quarter-size logits upsampled (bilinear, half-pixel centres), less
    # the foreground head's full-size log-odds on the background class.
    logits, foreground = keras.Model(trained.input, [trained.get_layer("logits").output,
                                                     trained.get_layer("fg_full").output]).predict(x, verbose=0)
    expected = tf.image.resize(logits, (32, 32)).numpy()
    expected[..., 0] -= foreground[..., 0]
    np.testing.assert_allclose(keras_out, expected, atol=1e-5)
    lite32 = LiteModel(convert_with_metadata(model, job, "float32"), 127.5, 127.5)
    lite8 = LiteModel(convert_with_metadata(model, job, "int8"), 127.5, 127.5)
    for i in range(4):
        np.testing.assert_allclose(lite32(images[i])[0], keras_out[i], atol=1e-4)
        np.testing.assert_allclose(lite8(images[i])[0], keras_out[i], atol=0.05)
    assert lite8.outputs[0]["shape"].tolist() == [1, 32, 32, 3]


def test_float16_and_dynamic_exports_run(tmp_path: Path) -> None:
    from train.models import mnist_cnn

    model = mnist_cnn(3, (28, 28, 1))
    images = _images(4, 28, 28, 1)
    job = _job("classification", ["a", "b", "c"], images, grayscale=True)
    x = (images[0].astype(np.float32)[None] - 127.5) / 127.5
    expected = model.predict(x, verbose=0)[0]
    for quantization in ("float16", "dynamic"):
        lite = LiteModel(convert_with_metadata(model, job, quantization), 127.5, 127.5)
        np.testing.assert_allclose(lite(images[0])[0], expected, atol=0.02)


def test_calibration_set_too_small(tmp_path: Path) -> None:
    from edgevision.errors import UsageError
    from train.models import mnist_cnn

    job = _job("classification", ["a", "b"], _images(3, 28, 28, 1), grayscale=True)
    with pytest.raises(UsageError, match="calibration set too small: 3 images"):
        export_and_report(mnist_cnn(2), job, tmp_path / "x.tflite", "int8")
    assert not list(tmp_path.iterdir())  # nothing half-written
