"""Backbone pretraining trains at the learning rate its recipe gives it, and a resumed run reuses
the saved backbone instead of pretraining again."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("keras")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from train.pretrain import pretrain_backbone  # noqa: E402


def _batches():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8, 8, 3)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    return tf.data.Dataset.from_tensor_slices((x, y)).repeat().batch(8)


def _classifier():
    """Zero weights to start from, so how far training moved them is their size."""
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                             keras.layers.Dense(3, activation="softmax", kernel_initializer="zeros")])


def _largest_weight(model) -> float:
    return max(float(np.abs(w).max()) for w in model.get_weights())


def test_pretraining_steps_scale_with_the_learning_rate(tmp_path) -> None:
    still = pretrain_backbone(_batches(), 2, tmp_path / "still", _classifier, epochs=1, learning_rate=0.0)
    assert _largest_weight(still) == 0.0
    rate = 1e-2
    moved = pretrain_backbone(_batches(), 2, tmp_path / "moved", _classifier, epochs=1, learning_rate=rate)
    # Adam's first step moves a weight by about the rate, the second (cosine-decayed) by half of
    # it: the default rate (2e-3) could not move any weight this far.
    assert 0.4 * rate < _largest_weight(moved) <= 1.6 * rate


def test_a_resumed_run_reuses_the_saved_backbone(tmp_path) -> None:
    first = pretrain_backbone(_batches(), 2, tmp_path, _classifier, epochs=1, learning_rate=1e-2)
    assert (tmp_path / "backbone.keras").exists()

    def rebuild():
        raise AssertionError("pretrained again instead of loading backbone.keras")

    again = pretrain_backbone(_batches(), 2, tmp_path, rebuild, epochs=1, learning_rate=1e-2)
    for a, b in zip(first.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
