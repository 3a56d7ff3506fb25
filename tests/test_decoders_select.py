"""Choosing a decoder from tensors, custom ops, metadata and --family; NMS."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.decoders.classification import ClassificationDecoder
from edgevision.decoders.nms import nms
from edgevision.decoders.segmentation import SegmentationDecoder
from edgevision.decoders.select import select_decoder
from edgevision.decoders.ssd import SSDDecoder
from edgevision.decoders.yolo import YOLODecoder
from edgevision.errors import ModelError
from edgevision.inference.metadata import ModelMetadata
from model_factory import FAMILIES, build_model, model_info

EXPECTED = {
    "ssd": (SSDDecoder, "stretch"),
    "yolo": (YOLODecoder, "letterbox"),
    "classification": (ClassificationDecoder, "stretch"),
    "segmentation": (SegmentationDecoder, "stretch"),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_is_detected_from_its_tensors(family: str) -> None:
    _, info = model_info(build_model(family, "uint8"))
    decoder = select_decoder(info)
    kind, resize = EXPECTED[family.split("-")[0].rstrip("v58")]
    assert isinstance(decoder, kind) and decoder.resize == resize


@pytest.mark.parametrize(
    ("family", "variant", "channels_first"),
    [
        ("yolov5", "yolov5", False),
        ("yolov8", "yolov8", True),
        ("yolov8-transposed", "yolov8", False),
        ("yolo-e2e", "yolo-e2e", False),
    ],
)
def test_yolo_variants(family: str, variant: str, channels_first: bool) -> None:
    _, info = model_info(build_model(family, "float32"))
    decoder = select_decoder(info)
    assert (decoder.variant, decoder.channels_first) == (variant, channels_first)


@pytest.mark.parametrize(
    ("family", "layout"),
    [
        ("segmentation-nhwc", "nhwc"),
        ("segmentation-nchw", "nchw"),
        ("segmentation-argmax", "argmax"),
        ("segmentation-mask", "mask"),
    ],
)
def test_segmentation_layouts(family: str, layout: str) -> None:
    _, info = model_info(build_model(family, "int8"))
    assert select_decoder(info).layout == layout


def test_family_override_and_ultralytics_task() -> None:
    _, info = model_info(build_model("yolov8-transposed", "float32"))
    assert select_decoder(info, family="yolov5").variant == "yolov5"
    _, info = model_info(build_model("segmentation-nchw", "float32"))
    with pytest.raises(ModelError, match="not a YOLO tensor"):
        select_decoder(info, family="yolo")
    # A [1, 5] output would be classification; Ultralytics metadata says so explicitly too.
    _, info = model_info(build_model("classification", "float32"))
    metadata = ModelMetadata(extra={"task": "classify"})
    assert isinstance(select_decoder(info, metadata), ClassificationDecoder)


def test_unknown_family_name() -> None:
    _, info = model_info(build_model("classification", "float32"))
    with pytest.raises(ModelError, match="unknown model family 'retinanet'"):
        select_decoder(info, family="retinanet")


def test_outputs_that_fit_no_family_name_shapes_and_flag() -> None:
    _, info = model_info(build_model("ssd", "float32"), use_op_outputs=False)
    # Keep two of the SSD outputs: no family has a [1,10,4] + [1] pair.
    odd = type(info)(inputs=info.inputs, outputs=tuple(s for s in info.outputs if len(s.shape) != 2))
    with pytest.raises(ModelError) as error:
        select_decoder(odd)
    message = str(error.value)
    assert "\n" not in message
    assert "[1, 32, 32, 3]" in message and "[1, 10, 4]" in message and "[1]" in message
    assert "--family" in message


def test_metadata_labels_inform_selection() -> None:
    _, info = model_info(build_model("classification-1001", "float32"))
    decoder = select_decoder(info, ModelMetadata(labels=["background"] + ["x"] * 1000))
    assert decoder.num_classes == 1001 and decoder.id_offset == 0


def test_nms_is_per_class_and_best_first() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.3], np.float32)
    classes = np.array([0, 0, 1, 0])
    assert nms(boxes, scores, classes, 0.5, 10).tolist() == [1, 2, 3]
    assert nms(boxes, scores, classes, 0.5, 2).tolist() == [1, 2]
    assert nms(boxes, scores, np.zeros(4, int), 0.5, 10).tolist() == [1, 3]
    assert nms(boxes[:0], scores[:0], classes[:0], 0.5, 10).tolist() == []
