"""Segmentation decoder on real TFLite models whose logits are the image's own colours, so the
expected class map of a frame is known: each region's class is its strongest RGB channel."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from model_factory import DTYPES, build_model, run_model

SOURCE_H, SOURCE_W = 48, 90
BOUNDS = (0, 30, 60, 90)  # red | green | blue columns in the source frame


def striped_frame() -> tuple[np.ndarray, np.ndarray]:
    """A BGR frame of red, green, blue stripes and the class (0, 1, 2) of each pixel."""
    rgb = np.zeros((SOURCE_H, SOURCE_W, 3), np.uint8)
    expected = np.zeros((SOURCE_H, SOURCE_W), np.int32)
    for cls in range(3):
        rgb[:, BOUNDS[cls] : BOUNDS[cls + 1], cls] = 255
        expected[:, BOUNDS[cls] : BOUNDS[cls + 1]] = cls
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), expected


def away_from_edges(margin: int) -> np.ndarray:
    """Columns further than ``margin`` source pixels from a stripe boundary."""
    cols = np.arange(SOURCE_W)
    near = np.zeros(SOURCE_W, bool)
    for edge in BOUNDS[1:3]:
        near |= np.abs(cols + 0.5 - edge) <= margin
    return ~near


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("family", ["segmentation-nhwc", "segmentation-nchw", "segmentation-argmax"])
def test_class_map_in_source_pixels(family: str, dtype: str) -> None:
    frame, expected = striped_frame()
    result = run_model(build_model(family, dtype), frame)
    assert result.class_map.shape == (SOURCE_H, SOURCE_W)
    assert result.num_classes == 3
    # Stretching 90 -> 32 px blends about one model pixel (3 source px; 6 at half resolution).
    margin = 6 if family == "segmentation-nhwc" else 3
    keep = away_from_edges(margin)
    np.testing.assert_array_equal(result.class_map[:, keep], expected[:, keep])
    assert result.area_fractions() == pytest.approx({0: 1 / 3, 1: 1 / 3, 2: 1 / 3}, abs=0.05)


@pytest.mark.parametrize("dtype", DTYPES)
def test_probability_mask_thresholds_at_half(dtype: str) -> None:
    """The mask model outputs the red channel: red stripe -> class 1, the rest -> 0."""
    frame, expected = striped_frame()
    result = run_model(build_model("segmentation-mask", dtype), frame)
    assert result.num_classes == 2
    keep = away_from_edges(3)
    np.testing.assert_array_equal(result.class_map[:, keep], (expected == 0)[:, keep].astype(np.int32))


def test_letterbox_padding_is_removed() -> None:
    """Forced through a letterbox, the padded rows are cropped: the map still fits the frame."""
    from edgevision.decoders.segmentation import SegmentationDecoder
    from edgevision.decoders.base import InputTransform
    from model_factory import model_info

    _, info = model_info(build_model("segmentation-argmax", "float32"))
    decoder = SegmentationDecoder(info, info.outputs[0], "argmax")
    # A 32x32 map: top 8 rows padding (class 2), then class 0 left / class 1 right, bottom pad.
    small = np.full((1, 32, 32), 2, np.float32)
    small[0, 8:24, :16] = 0
    small[0, 8:24, 16:] = 1
    transform = InputTransform((20, 40), (32, 32), 0.8, 0.8, 0.0, 8.0)
    result = decoder.decode({info.outputs[0].index: small}, transform)
    assert result.class_map.shape == (20, 40)
    assert set(np.unique(result.class_map[:, :20])) == {0}
    assert set(np.unique(result.class_map[:, 20:])) == {1}
