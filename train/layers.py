"""Keras layers the recipes share."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="edgevision")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Batch normalization that trains on TensorFlow's fused kernel.

    Keras 3 works out the batch statistics and their gradients as separate element-wise ops;
    on the 2-core CPU the fused kernel made the segmenter's training step about a fifth faster
    (docs/training.md). Inference, and what the kernel does not cover (masks, renorm, an axis
    other than the channels of NHWC images), take Keras' own path, so exported models are the
    same. The moving variance gets the kernel's unbiased batch variance (n / (n - 1) of Keras',
    n being the pixels of a batch: thousands).
    """

    def call(self, inputs, training=None, mask=None):
        fused = (training and self.trainable and mask is None and not self.renorm and self.center
                 and self.scale and len(inputs.shape) == 4 and self.axis in (-1, 3))
        if not fused:
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return ops.cast(outputs, self.compute_dtype)


def load_model(path, custom_objects: dict | None = None):
    """``keras.models.load_model`` for the recipes' models (this module registers their layers)."""
    return keras.models.load_model(path, custom_objects=custom_objects)
