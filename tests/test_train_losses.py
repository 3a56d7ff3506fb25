"""The segmenter's loss: cross-entropy against class shares plus a soft Dice term per class."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

from train.segment import make_pixel_loss  # noqa: E402

CLASSES = 11


def _shares(class_map: np.ndarray) -> np.ndarray:
    return np.eye(CLASSES, dtype=np.float32)[class_map][None]


def _two_digits() -> np.ndarray:
    """A 16x16 map with a 6-pixel digit "0" (class 1) and a 48-pixel digit "1" (class 2)."""
    class_map = np.zeros((16, 16), np.int64)
    class_map[1:3, 1:4] = 1
    class_map[8:14, 4:12] = 2
    return class_map


def _loss(dice_weight: float, truth: np.ndarray, predicted: np.ndarray) -> float:
    probs = np.clip(_shares(predicted), 1e-6, 1.0)
    probs /= probs.sum(-1, keepdims=True)
    return float(make_pixel_loss(CLASSES, dice_weight=dice_weight)(_shares(truth), probs))


def test_a_perfect_map_costs_almost_nothing() -> None:
    truth = _two_digits()
    assert _loss(1.0, truth, truth) < 0.01


def test_dice_counts_a_missed_small_digit_like_a_missed_large_one() -> None:
    """Cross-entropy charges a missed digit by its pixels; IoU, the score, charges every class
    alike. The Dice term is what makes the 6-pixel digit matter."""
    truth = _two_digits()
    miss_small, miss_large = truth.copy(), truth.copy()
    miss_small[truth == 1] = 0
    miss_large[truth == 2] = 0
    dice_small = _loss(1.0, truth, miss_small) - _loss(0.0, truth, miss_small)
    dice_large = _loss(1.0, truth, miss_large) - _loss(0.0, truth, miss_large)
    assert _loss(0.0, truth, miss_small) < 0.2 * _loss(0.0, truth, miss_large)
    assert dice_small == pytest.approx(dice_large, rel=0.2)
    assert dice_small > 0.05  # one class of ten missed: about a tenth


def _foreground_loss(truth: np.ndarray, predicted: np.ndarray) -> float:
    from train.segment import make_foreground_loss

    y = (truth > 0).astype(np.float32)[None, ..., None]
    p = np.clip((predicted > 0).astype(np.float32), 0.01, 0.99)[None, ..., None]
    return float(make_foreground_loss()(y, p))


def test_foreground_loss_charges_missed_outlines() -> None:
    truth = _two_digits()
    thinner = truth.copy()
    thinner[8, 4:12] = 0  # the large digit's top row missed
    missed = np.zeros_like(truth)
    assert _foreground_loss(truth, truth) < 0.05
    assert _foreground_loss(truth, truth) < _foreground_loss(truth, thinner) < _foreground_loss(truth, missed)


def test_foreground_is_decided_pixel_by_pixel() -> None:
    """The matting head compares each pixel with the colours around it: recolouring one pixel
    moves the foreground there far more than at the other pixels of its 4x4 block, which only
    see it through the stride-4 features."""
    import keras

    from train.models import fcn_segmenter

    keras.utils.set_random_seed(3)
    model = fcn_segmenter(3, (64, 32, 3), width=0.25)
    assert model.output["probabilities"].shape[1:] == (16, 8, 3)
    assert model.output["foreground"].shape[1:] == (64, 32, 1)
    x = np.random.default_rng(0).normal(size=(1, 64, 32, 3)).astype(np.float32)
    recoloured = x.copy()
    recoloured[0, 21, 13] = [2.0, -2.0, 1.5]  # pixel (21, 13): row 1, column 1 of block (5, 3)
    before, after = (model.predict(v, verbose=0)["foreground"][0, 20:24, 12:16, 0] for v in (x, recoloured))
    change = np.abs(after - before)
    others = np.delete(change.ravel(), 1 * 4 + 1)
    assert change[1, 1] > 1e-3 and change[1, 1] > 3 * others.max()


def test_exported_map_shares_the_ink_among_the_digits() -> None:
    """Export's full-size map: ink is the foreground times the quarter-size map's digit share
    (upsampled), background is 1 - ink, and the digits split the ink."""
    import tensorflow as tf

    from train.models import fcn_segmenter
    from train.segment import inference_model

    model = fcn_segmenter(4, (32, 32, 3), width=0.25)
    x = np.random.default_rng(1).normal(size=(2, 32, 32, 3)).astype(np.float32)
    masks = inference_model(model).predict(x, verbose=0)
    out = model.predict(x, verbose=0)
    share = tf.image.resize(1.0 - out["probabilities"][..., :1], (32, 32), method="bilinear").numpy()
    ink = (out["foreground"] * share)[..., 0]
    assert masks.shape == (2, 32, 32, 4)
    np.testing.assert_allclose(masks[..., 0], 1.0 - ink, atol=1e-5)
    np.testing.assert_allclose(masks[..., 1:].sum(-1), ink, atol=1e-5)
    assert np.ptp(masks[..., 1:] / ink[..., None], axis=(1, 2)).max() > 0  # digit shares vary by place
