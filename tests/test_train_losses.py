"""The segmenter's loss: cross-entropy against class shares plus the Lovász-softmax term."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

from export.metrics import confusion, mean_iou  # noqa: E402
from train.segment import lovasz_softmax, make_pixel_loss  # noqa: E402

CLASSES = 11


def _shares(class_map: np.ndarray) -> np.ndarray:
    return np.eye(CLASSES, dtype=np.float32)[class_map][None]


def _two_digits() -> np.ndarray:
    """A 16x16 map with a 6-pixel digit "0" (class 1) and a 48-pixel digit "1" (class 2)."""
    class_map = np.zeros((16, 16), np.int64)
    class_map[1:3, 1:4] = 1
    class_map[8:14, 4:12] = 2
    return class_map


def _loss(lovasz_weight: float, truth: np.ndarray, predicted: np.ndarray) -> float:
    probs = np.clip(_shares(predicted), 1e-6, 1.0)
    probs /= probs.sum(-1, keepdims=True)
    return float(make_pixel_loss(CLASSES, lovasz_weight=lovasz_weight)(_shares(truth), probs))


def test_a_perfect_map_costs_almost_nothing() -> None:
    truth = _two_digits()
    assert _loss(1.0, truth, truth) < 0.01


def test_lovasz_counts_a_missed_small_digit_like_a_missed_large_one() -> None:
    """Cross-entropy charges a missed digit by its pixels; IoU, the score, charges every class
    alike. The Lovász term is what makes the 6-pixel digit matter."""
    truth = _two_digits()
    miss_small, miss_large = truth.copy(), truth.copy()
    miss_small[truth == 1] = 0
    miss_large[truth == 2] = 0
    lovasz_small = _loss(1.0, truth, miss_small) - _loss(0.0, truth, miss_small)
    lovasz_large = _loss(1.0, truth, miss_large) - _loss(0.0, truth, miss_large)
    assert _loss(0.0, truth, miss_small) < 0.2 * _loss(0.0, truth, miss_large)
    assert lovasz_small == pytest.approx(lovasz_large, rel=0.2)
    assert lovasz_small > 0.3  # one of the three classes present missed: about a third


def test_lovasz_of_a_hard_map_is_one_minus_its_mean_iou() -> None:
    """On 0/1 predictions the Lovász extension is exact: 1 - IoU of each class in the truth,
    averaged over those classes."""
    truth = _two_digits()
    predicted = truth.copy()
    predicted[8:10, 4:12] = 0   # the large digit's top two rows called background
    predicted[1:3, 5:7] = 1     # the small digit drawn two columns too wide
    predicted[14, 0:3] = 3      # a class that is not in the truth
    scores = mean_iou(confusion(predicted, truth, CLASSES))
    ious = [scores[f"IoU/{c}"] for c in np.unique(truth)]
    loss = float(lovasz_softmax(_shares(truth), _shares(predicted)))
    assert len(ious) == 3 and loss == pytest.approx(1.0 - np.mean(ious), abs=1e-6)
    assert loss > 0.1


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


def test_foreground_head_is_depth_to_space_of_the_block_predictions() -> None:
    """The full-size foreground map puts sub-pixel channel dy * 4 + dx of block (row, column)
    at pixel (4 * row + dy, 4 * column + dx), as TensorFlow's depth_to_space does."""
    import keras
    import tensorflow as tf

    from train.models import fcn_segmenter

    model = fcn_segmenter(3, (64, 32, 3), width=0.25)
    assert model.output["probabilities"].shape[1:] == (16, 8, 3)
    assert model.output["foreground"].shape[1:] == (64, 32, 1)
    probe = keras.Model(model.input, [model.get_layer("fg_subpixels").output, model.get_layer("fg_full").output])
    blocks, full = probe.predict(np.random.default_rng(0).normal(size=(2, 64, 32, 3)), verbose=0)
    np.testing.assert_allclose(full, tf.nn.depth_to_space(blocks, 4).numpy(), rtol=1e-6)


@pytest.mark.parametrize("size", [None, (64, 96)])
def test_exported_map_takes_the_foreground_log_odds_from_the_background_score(size) -> None:
    """The exported scores: the upsampled class logits, less the foreground head's full-size
    log-odds on the background class only (at the trained size, and at another one)."""
    import keras

    from train.models import fcn_segmenter
    from train.segment import inference_model

    model = fcn_segmenter(3, (64, 32, 3), width=0.25)
    exported = inference_model(model, size)
    twin = model if size is None else fcn_segmenter(3, (*size, 3), width=0.25)
    twin.set_weights(model.get_weights())
    x = np.random.default_rng(1).normal(size=(2, *(size or (64, 32)), 3)).astype(np.float32)
    logits, foreground = keras.Model(twin.input, [twin.get_layer("logits").output, twin.get_layer("fg_full").output])(x)
    upsampled = keras.layers.UpSampling2D(4, interpolation="bilinear")(logits).numpy()
    scores = exported.predict(x, verbose=0)
    assert scores.shape == (2, *(size or (64, 32)), 3)
    np.testing.assert_allclose(scores[..., 1:], upsampled[..., 1:], atol=1e-5)
    np.testing.assert_allclose(scores[..., 0], upsampled[..., 0] - foreground.numpy()[..., 0], atol=1e-5)
    assert np.abs(foreground.numpy()).max() > 1e-3  # the head does contribute
