"""Backbone pretraining on single-digit crops, shared by the detection and segmentation recipes.

Both models must tell digits apart, and learning that from whole scenes is slow: most of a
scene is background. A classifier on crops learns it from a digit per image; the recipe then
starts from its encoder weights (copied by layer name).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from train.scenes import INK_STRENGTH, LIGHT_BACKGROUND, SceneComposer, SceneStyle, stretch

MEAN = 127.5  # the detector's and the segmenter's input normalization
STD = 127.5
NOT_A_DIGIT = 10  # the label of crops without a digit (after the digits 0-9)
BATCH = 64  # crops a pretraining step
# Crops without a digit: background and up to two shapes that are not digits.
BACKGROUND_ONLY = SceneStyle(min_digits=0, max_digits=0, distractors=2)


def one_digit(heights: tuple[float, float]) -> SceneStyle:
    """A crop's digit, ``heights`` of the crop's height."""
    return SceneStyle(min_digits=1, max_digits=1, min_height=heights[0], max_height=heights[1], max_rotation_deg=15.0)


def colour_jitter(images):
    """Colour jitter on a uint8 batch, then normalization: per-channel gain, contrast about the
    image's mean, brightness, and now and then grey; all of it one colour matrix and offset per
    image, applied in one pass (a third of the time of one operation after another)."""
    import tensorflow as tf

    x = tf.cast(images, tf.float32)
    n = tf.shape(x)[0]
    gain = tf.random.uniform((n, 1, 1, 3), 0.8, 1.2)
    contrast = tf.random.uniform((n, 1, 1, 1), 0.75, 1.25)
    brightness = tf.random.uniform((n, 1, 1, 1), -0.1, 0.1)
    grey = tf.random.uniform((n, 1, 1)) < 0.15
    mean = tf.reduce_mean(tf.reduce_mean(x, axis=[1, 2], keepdims=True) * gain, axis=-1, keepdims=True) / 255.0
    offset = mean * (1.0 - contrast) + brightness
    mix = tf.where(grey, tf.fill((1, 3, 3), 1.0 / 3.0), tf.eye(3)[None])  # [n, in channel, out channel]
    matrix = tf.reshape(gain * contrast / 255.0, (n, 3, 1)) * mix
    x = tf.reshape(tf.matmul(tf.reshape(x, (n, -1, 3)), matrix), tf.shape(x)) + offset
    return tf.clip_by_value(x, 0.0, 1.0) * (255.0 / STD) - MEAN / STD


def crop_pool(composer: SceneComposer, n: int, size: int = 64, scene_size: tuple[int, int] = (112, 64),
              heights: tuple[float, float] = (0.5, 0.8), background_share: float = 0.0
              ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` crops of one digit each (uint8 ``[n, size, size, 3]``, labels): scenes of
    ``scene_size`` stretched square as the model's input is, one digit filling ``heights`` of
    the scene height. About ``background_share`` of them hold no digit, only background and up
    to two of :meth:`SceneComposer.draw_distractor`'s shapes, labelled :data:`NOT_A_DIGIT`:
    a backbone that learns them tells digits from eyes and rims before it learns to detect."""
    digit = one_digit(heights)
    saved = composer.style
    images = np.empty((n, size, size, 3), np.uint8)
    labels = np.empty(n, np.int64)
    try:
        i = 0
        while i < n:
            empty = background_share > 0 and composer.rng.random() < background_share
            composer.style = BACKGROUND_ONLY if empty else digit
            s = stretch(composer.compose(*scene_size), size, size)
            if len(s.classes) != (0 if empty else 1):
                continue
            images[i], labels[i] = s.image, (NOT_A_DIGIT if empty else s.classes[0])
            i += 1
    finally:
        composer.style = saved
    return images, labels


def layer_pool(composer: SceneComposer, n: int, size: int = 96, heights: tuple[float, float] = (0.45, 0.65),
               background_share: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` backgrounds and, apart from them, ``n`` digit layers, for :func:`recombined_batches`
    to pair at random: (uint8 backgrounds ``[n, size, size, 3]``, uint8 ink alphas ``[n, size,
    size]``, labels). Backgrounds are photo crops with up to two shapes that are not digits;
    about ``background_share`` of the layers hold no ink and are labelled :data:`NOT_A_DIGIT`.

    Crops composed once are learnt by heart: the segmenter's encoder named 97% of its 8,000
    crops but 74% of fresh ones. Pairing layers anew every batch costs nothing to compose."""
    backgrounds = np.empty((n, size, size, 3), np.uint8)
    alphas = np.zeros((n, size, size), np.uint8)
    labels = np.full(n, NOT_A_DIGIT, np.int64)
    saved = composer.style
    try:
        composer.style = BACKGROUND_ONLY
        for i in range(n):
            backgrounds[i] = composer.compose(size, size).image
        composer.style = one_digit(heights)
        for i in range(n):
            if background_share > 0 and composer.rng.random() < background_share:
                continue
            index = int(composer.rng.integers(len(composer.digits)))
            patch, x0, y0 = composer.place(composer.digit_alpha(index), size, size)
            alphas[i, y0:y0 + patch.shape[0], x0:x0 + patch.shape[1]] = np.round(np.clip(patch, 0, 1) * 255)
            labels[i] = composer.digits.labels[index]
    finally:
        composer.style = saved
    return backgrounds, alphas, labels


def pretrain_backbone(batches, steps_per_epoch: int, run_dir: Path, build: Callable[[], object], epochs: int = 4,
                      learning_rate: float = 2e-3):
    """Trains ``build()`` (an uncompiled softmax classifier of crops) on endless ``batches`` of
    (images, labels) with Adam and a cosine decay from ``learning_rate``; saved as
    ``run_dir/backbone.keras`` and reused from there when a run resumes."""
    import keras

    from train.layers import load_model

    path = run_dir / "backbone.keras"
    if path.exists():
        return load_model(path)
    model = build()
    steps = epochs * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.05)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    model.fit(batches, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=2)
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


def recombined_batches(backgrounds: np.ndarray, alphas: np.ndarray, labels: np.ndarray, batch: int, seed: int = 0):
    """Endless tf.data of (normalized images, labels): each layer of :func:`layer_pool` inked onto
    a background drawn at random, then the camera's blur and noise and colour jitter."""
    import tensorflow as tf

    kernel = tf.constant([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, 3, 1])

    def camera(x, noise_seed):
        """Stateless noise (a seed per batch): ten times faster on CPU than tf.random.normal."""
        n = tf.shape(x)[0]
        blur = tf.where(tf.random.uniform((n, 1, 1, 1)) < 0.3, tf.random.uniform((n, 1, 1, 1), 0.3, 1.0), 0.0)
        x = x * (1.0 - blur) + tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME") * blur
        noise = tf.where(tf.random.uniform((n, 1, 1, 1)) < 0.5, tf.random.uniform((n, 1, 1, 1), 1.0, 6.0), 0.0)
        return tf.clip_by_value(x + tf.random.stateless_normal(tf.shape(x), noise_seed) * noise, 0.0, 255.0)

    def paired(pair, noise_seed):
        background, (alpha, label) = pair
        return colour_jitter(camera(ink(background, alpha), noise_seed)), label

    shuffled = lambda ds, s: ds.shuffle(len(labels), seed=s).repeat()  # noqa: E731
    layers = shuffled(tf.data.Dataset.from_tensor_slices((alphas, labels)), seed + 1)
    pairs = tf.data.Dataset.zip((shuffled(tf.data.Dataset.from_tensor_slices(backgrounds), seed), layers))
    noise_seeds = tf.data.Dataset.random(seed + 2).batch(2)
    return (tf.data.Dataset.zip((pairs.batch(batch, drop_remainder=True), noise_seeds))
            .map(paired).prefetch(2))


def ink(backgrounds, alphas):
    """uint8 ``alphas [n, h, w]`` of ink blended into uint8 ``backgrounds [n, h, w, 3]`` (float32
    out) in a colour that stands out from what each digit covers, as
    :meth:`SceneComposer.ink_color` picks it: dark on light, light on dark, a random tint."""
    import tensorflow as tf

    x = tf.cast(backgrounds, tf.float32)
    a = tf.cast(alphas, tf.float32)[..., None] / 255.0
    n = tf.shape(x)[0]
    ink_area = tf.reduce_sum(a, axis=[1, 2, 3], keepdims=True)
    covered = tf.reduce_sum(x * a, axis=[1, 2, 3], keepdims=True) / (3.0 * ink_area + 1e-3)  # mean grey under the ink
    dark = tf.random.uniform((n, 1, 1, 3)) * tf.random.uniform((n, 1, 1, 1), 0.0, INK_STRENGTH) * 255.0
    color = tf.where(covered > LIGHT_BACKGROUND, dark, 255.0 - dark)
    return x * (1.0 - a) + color * a
