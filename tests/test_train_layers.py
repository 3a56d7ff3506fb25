"""The recipes' batch normalization on TensorFlow's fused kernel computes what Keras' layer does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from train.layers import FusedBatchNormalization, load_model  # noqa: E402


def _pair(channels: int) -> tuple[keras.layers.Layer, FusedBatchNormalization]:
    """Keras' layer and the fused one with the same (non-trivial) scale and offset."""
    rng = np.random.default_rng(1)
    gamma = rng.normal(1.0, 0.3, channels).astype(np.float32)
    beta = rng.normal(0.0, 0.3, channels).astype(np.float32)
    plain, fused = keras.layers.BatchNormalization(momentum=0.9), FusedBatchNormalization(momentum=0.9)
    for layer in (plain, fused):
        layer.build((None, 16, 16, channels))
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    return plain, fused


def _train_step(layer, x: tf.Tensor, weights: tf.Tensor) -> list[np.ndarray]:
    """Training-mode output, the gradients of a weighted sum of it, and the moving statistics."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * weights)
    grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return [np.asarray(v) for v in (y, *grads, layer.moving_mean, layer.moving_variance)]


def test_fused_layer_trains_and_infers_as_keras_does() -> None:
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(2.0, 3.0, (8, 16, 16, 5)).astype(np.float32))
    weights = tf.constant(rng.normal(size=x.shape).astype(np.float32))
    plain, fused = _pair(5)
    expected, got = _train_step(plain, x, weights), _train_step(fused, x, weights)
    # output, input gradient, gamma and beta gradients, moving mean; the moving variance differs
    # by the kernel's unbiased estimate: n / (n - 1) with n = 2048 pixels.
    for name, want, have, tolerance in zip(("y", "dx", "dgamma", "dbeta", "mean", "variance"), expected, got,
                                           (1e-5, 1e-5, 1e-3, 1e-3, 1e-6, 1e-3)):
        np.testing.assert_allclose(have, want, rtol=tolerance, atol=tolerance, err_msg=name)
    assert not np.allclose(got[4], 0.0)  # the moving statistics did move
    # inference normalizes with the moving variance, which carries the same n / (n - 1)
    np.testing.assert_allclose(fused(x, training=False), plain(x, training=False), rtol=1e-3, atol=1e-3)


def test_models_with_the_fused_layer_save_and_load(tmp_path: Path) -> None:
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, FusedBatchNormalization(name="bn")(keras.layers.Conv2D(4, 3)(inputs)))
    model(np.ones((2, 8, 8, 3), np.float32), training=True)  # moves the statistics away from 0 and 1
    model.save(tmp_path / "m.keras")
    loaded = load_model(tmp_path / "m.keras")
    assert isinstance(loaded.get_layer("bn"), FusedBatchNormalization)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6, atol=1e-6)


def test_fused_layer_under_mixed_precision() -> None:
    """On a GPU the recipes compute in float16 with float32 variables (``runner.
    use_mixed_precision_if_gpu``): the fused layer takes and gives float16 there, keeps float32
    statistics, and agrees with Keras' layer to float16's precision."""
    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(2.0, 3.0, (8, 16, 16, 5)).astype(np.float16))
    plain = keras.layers.BatchNormalization(momentum=0.9, dtype="mixed_float16")
    fused = FusedBatchNormalization(momentum=0.9, dtype="mixed_float16")
    want, have = plain(x, training=True), fused(x, training=True)
    assert have.dtype == tf.float16 and fused.moving_mean.dtype == tf.float32
    np.testing.assert_allclose(np.asarray(have, np.float32), np.asarray(want, np.float32), atol=1e-2)
    np.testing.assert_allclose(fused.moving_mean, plain.moving_mean, rtol=1e-3, atol=1e-3)
    assert not np.allclose(fused.moving_mean, 0.0)
