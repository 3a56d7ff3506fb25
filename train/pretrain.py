"""Backbone pretraining on single-digit crops, shared by the detection and segmentation recipes.

Both models must tell digits apart, and learning that from whole scenes is slow: most of a
scene is background. A classifier on crops learns it from a digit per image; the recipe then
starts from its encoder weights (copied by layer name).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from train.scenes import SceneComposer, SceneStyle, stretch

MEAN = 127.5  # the detector's and the segmenter's input normalization
STD = 127.5
NOT_A_DIGIT = 10  # the label of crops without a digit (after the digits 0-9)


def colour_jitter(images):
    """Colour jitter on a uint8 batch, then normalization."""
    import tensorflow as tf

    x = tf.cast(images, tf.float32) / 255.0
    n = tf.shape(x)[0]
    x = x * tf.random.uniform((n, 1, 1, 3), 0.8, 1.2)  # per-channel gain
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = (x - mean) * tf.random.uniform((n, 1, 1, 1), 0.75, 1.25) + mean
    x = x + tf.random.uniform((n, 1, 1, 1), -0.1, 0.1)
    x = tf.where(tf.random.uniform((n, 1, 1, 1)) < 0.15, tf.reduce_mean(x, axis=-1, keepdims=True) + 0 * x, x)
    x = tf.clip_by_value(x, 0.0, 1.0) * 255.0
    return (x - MEAN) / STD


def crop_pool(composer: SceneComposer, n: int, size: int = 64, scene_size: tuple[int, int] = (112, 64),
              heights: tuple[float, float] = (0.5, 0.8), background_share: float = 0.0
              ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` crops of one digit each (uint8 ``[n, size, size, 3]``, labels): scenes of
    ``scene_size`` stretched square as the model's input is, one digit filling ``heights`` of
    the scene height. About ``background_share`` of them hold no digit, only background and up
    to two of :meth:`SceneComposer.draw_distractor`'s shapes, labelled :data:`NOT_A_DIGIT`:
    a backbone that learns them tells digits from eyes and rims before it learns to detect."""
    digit = SceneStyle(min_digits=1, max_digits=1, min_height=heights[0], max_height=heights[1],
                       max_rotation_deg=15.0)
    background = SceneStyle(min_digits=0, max_digits=0, distractors=2)
    saved = composer.style
    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.empty(n, np.int64)
    try:
        i = 0
        while i < n:
            empty = background_share > 0 and composer.rng.random() < background_share
            composer.style = background if empty else digit
            s = stretch(composer.compose(*scene_size), size, size)
            if len(s.classes) != (0 if empty else 1):
                continue
            images[i], labels[i] = s.image, (NOT_A_DIGIT if empty else s.classes[0])
            i += 1
    finally:
        composer.style = saved
    return images, labels


def pretrain_backbone(images: np.ndarray, labels: np.ndarray, run_dir: Path, build: Callable[[], object],
                      epochs: int = 4, batch: int = 64):
    """Trains ``build()`` (an uncompiled softmax classifier of crops) on the crops; saved as
    ``run_dir/backbone.keras`` and reused from there when a run resumes."""
    import keras

    path = run_dir / "backbone.keras"
    if path.exists():
        return keras.models.load_model(path)
    model = build()
    steps = epochs * (len(images) // batch)
    model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.05)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    model.fit(jittered_batches(images, labels, batch), epochs=epochs, steps_per_epoch=len(images) // batch, verbose=2)
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return model


def copy_backbone(source, target) -> int:
    """Copies the weights of every ``target`` layer that ``source`` has by name and shape (the
    shared encoder); returns how many layers."""
    names = {layer.name: layer for layer in source.layers}
    n = 0
    for layer in target.layers:
        twin = names.get(layer.name)
        if layer.weights and twin is not None and \
                [w.shape for w in twin.weights] == [w.shape for w in layer.weights]:
            layer.set_weights(twin.get_weights())
            n += 1
    return n


def jittered_batches(images: np.ndarray, labels: np.ndarray, batch: int, seed: int = 0):
    """Endless tf.data of (colour-jittered, normalized images, labels) batches from arrays in
    memory, reshuffled every pass.

    tf.data reads the arrays itself: feeding them through a Python generator
    (``Dataset.from_generator``) made each detector training step about twice as slow (1.45
    against 0.69 s for a batch of 32 on this 2-core machine).
    """
    import tensorflow as tf

    return (tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(len(images), seed=seed).repeat()
            .batch(batch, drop_remainder=True).map(lambda x, y: (colour_jitter(x), y)).prefetch(2))
