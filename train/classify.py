"""Classification recipe: the MNIST CNN on digits, or a MobileNetV2-style net on a folder per
class; ``tf.data`` pipelines with augmentation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train import runner

log = logging.getLogger(__name__)


@dataclass
class ClassifierTraining:
    run_dir: Path
    recipe: str = "mnist-cnn"  # or "mobilenet-v2"
    size: int = 28
    grayscale: bool = True
    batch: int = 64
    epochs: int = 40
    learning_rate: float = 1e-3
    augment: float = 1.0  # strength of random rotation, shift and zoom
    strategy: str = "auto"
    time_budget_s: float | None = None
    verbose: int = 1

    @property
    def mean(self) -> float:
        """Input normalization (pixel - mean) / std: MNIST CNN takes pixels / 255."""
        return 0.0 if self.recipe == "mnist-cnn" else 127.5

    @property
    def std(self) -> float:
        return 255.0 if self.recipe == "mnist-cnn" else 127.5


ROTATION_DEG = 15.0
SHIFT = 0.1  # of the image size
ZOOM = 0.1


def random_affine(images: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Small random rotations, shifts and zooms of a uint8 batch ``[N, H, W, C]`` (no flips:
    digits and most labels are not mirror-safe). One ``cv2.warpAffine`` per image: Keras'
    random-transform layers cost 20 times as much on a CPU."""
    import cv2

    n, h, w = images.shape[:3]
    angles = rng.uniform(-ROTATION_DEG, ROTATION_DEG, n) * strength
    zooms = 1.0 + rng.uniform(-ZOOM, ZOOM, n) * strength
    shifts = rng.uniform(-SHIFT, SHIFT, (n, 2)) * strength * (w, h)
    out = np.empty_like(images)
    for i in range(n):
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angles[i], zooms[i])
        matrix[:, 2] += shifts[i]
        out[i] = cv2.warpAffine(images[i], matrix, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0).reshape(images.shape[1:])
    return out


def array_dataset(images: np.ndarray, labels: np.ndarray, cfg: ClassifierTraining, training: bool,
                  seed: int = 0):
    """``tf.data`` from uint8 ``[N, H, W, C]`` arrays: shuffle, augment, normalize, batch."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, labels))
    if training:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(cfg.batch)
    rng = np.random.default_rng(seed)

    def prep(x, y):
        if training:
            x = tf.numpy_function(lambda batch: random_affine(batch, rng, cfg.augment), [x], tf.uint8,
                                  stateful=True)
            x = tf.ensure_shape(x, (None, *images.shape[1:]))
        return (tf.cast(x, tf.float32) - cfg.mean) / cfg.std, y

    return ds.map(prep).prefetch(2)


def load_images(paths: list[Path], size: int, grayscale: bool) -> np.ndarray:
    """Files -> uint8 ``[N, size, size, C]`` (resized, not cropped)."""
    import cv2

    from edgevision.errors import UsageError

    out = np.empty((len(paths), size, size, 1 if grayscale else 3), np.uint8)
    for i, p in enumerate(paths):
        im = cv2.imread(str(p), cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR)
        if im is None:
            raise UsageError(f"{p}: not a readable image")
        im = cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA)
        out[i] = im[..., None] if grayscale else cv2.cvtColor(im, cv2.COLOR_BGR2RGB)
    return out


def build(cfg: ClassifierTraining, num_classes: int, total_steps: int):
    import keras

    from train.models import mnist_cnn, mobilenet_v2_small

    channels = 1 if cfg.grayscale else 3
    if cfg.recipe == "mnist-cnn":
        model = mnist_cnn(num_classes, (cfg.size, cfg.size, channels))
    elif cfg.recipe == "mobilenet-v2":
        model = mobilenet_v2_small(num_classes, (cfg.size, cfg.size, channels))
    else:
        from edgevision.errors import UsageError

        raise UsageError(f"unknown classification recipe {cfg.recipe!r} (mnist-cnn, mobilenet-v2)")
    schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, total_steps, alpha=0.02)
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    return model


def train(cfg: ClassifierTraining, x_train, y_train, x_val, y_val, num_classes: int):
    total_steps = cfg.epochs * int(np.ceil(len(x_train) / cfg.batch))
    return runner.fit(lambda: build(cfg, num_classes, total_steps),
                      array_dataset(x_train, y_train, cfg, training=True),
                      array_dataset(x_val, y_val, cfg, training=False),
                      cfg.run_dir, cfg.epochs,
                      lambda: (x for x, _ in array_dataset(x_train, y_train, cfg, training=False)),
                      strategy=cfg.strategy, time_budget_s=cfg.time_budget_s, verbose=cfg.verbose)
