"""Detection recipe: the SSD-style digit detector, on composed scenes or on user data."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train import runner
from train.scenes import Scene, SceneComposer, stretch
from train.ssd import AnchorSpec, TargetEncoder

log = logging.getLogger(__name__)

MEAN = 127.5  # input normalization: (pixel - MEAN) / STD, recorded in the model's metadata
STD = 127.5


def normalize(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) - MEAN) / STD


def stretch_image(scene: Scene, spec: AnchorSpec) -> np.ndarray:
    """The scene's image stretched to the model input, uint8."""
    return stretch(scene, spec.size[1], spec.size[0]).image


def scene_to_sample(scene: Scene, spec: AnchorSpec, encoder: TargetEncoder) -> tuple[np.ndarray, np.ndarray]:
    """A scene stretched to the model input -> (uint8 image, ``[A, 5]`` targets)."""
    h, w = spec.size
    s = stretch(scene, w, h)
    boxes = s.boxes[:, [1, 0, 3, 2]] / np.array([h, w, h, w], np.float32)
    return s.image, encoder.encode(boxes, s.classes)


SCENE_SIZES = ((320, 180), (288, 216), (320, 200))  # mostly 16:9, some 4:3 and 16:10
SCENE_WEIGHTS = (0.7, 0.15, 0.15)


def make_pool(composer: SceneComposer, spec: AnchorSpec, encoder: TargetEncoder, n: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """``n`` composed scenes as (uint8 images ``[n, H, W, 3]``, float16 targets ``[n, A, 5]``).

    Composing costs about a third of a training step on a CPU, so scenes are made once and
    reused across epochs, with colour augmentation on top.
    """
    h, w = spec.size
    images = np.empty((n, h, w, 3), np.uint8)
    targets = np.empty((n, len(encoder.anchors), 5), np.float16)
    rng = np.random.default_rng(composer.rng.integers(1 << 31))
    for i in range(n):
        sw, sh = SCENE_SIZES[rng.choice(len(SCENE_SIZES), p=SCENE_WEIGHTS)]
        images[i], targets[i] = scene_to_sample(composer.compose(sw, sh), spec, encoder)
    return images, targets


def pool_dataset(images: np.ndarray, targets: np.ndarray, batch: int, seed: int = 0):
    """Endless tf.data of colour-jittered (uint8 image, targets) batches, reshuffled every pass.

    Read from the in-memory pool by tf.data itself: a Python generator behind
    ``Dataset.from_generator`` made each training step about twice as slow (1.45 against
    0.69 s for batch 32 on this 2-core machine).
    """
    import tensorflow as tf

    return (tf.data.Dataset.from_tensor_slices((images, targets)).shuffle(len(images), seed=seed).repeat()
            .batch(batch, drop_remainder=True).map(augment).prefetch(2))


def pool_batches(images: np.ndarray, targets: np.ndarray, batch: int, seed: int = 0
                 ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Endless (uint8 images, targets) batches from the pool, reshuffled every pass."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(images))
        for i in range(0, len(order) - batch + 1, batch):
            idx = np.sort(order[i:i + batch])
            yield images[idx], targets[idx]


def augment(images, targets):
    """tf.data map for SSD batches: colour jitter; float32 targets for both losses."""
    import tensorflow as tf

    from train.pretrain import colour_jitter

    targets = tf.cast(targets, tf.float32)
    return colour_jitter(images), (targets, targets)


def fixed_scenes(composer: SceneComposer, n: int, size: tuple[int, int] = (320, 180)) -> list[Scene]:
    return [composer.compose(*size) for _ in range(n)]


@dataclass
class DetectorTraining:
    """What ``train`` needs; steps x epochs images of ``batch`` each."""

    run_dir: Path
    num_classes: int = 10
    batch: int = 32
    epochs: int = 10
    steps_per_epoch: int = 120
    learning_rate: float = 2e-3
    width: float = 1.0
    time_budget_s: float | None = None
    strategy: str = "auto"
    verbose: int = 1


def train(cfg: DetectorTraining, pool: tuple[np.ndarray, np.ndarray], val_data, spec: AnchorSpec = AnchorSpec(),
          pretrained=None, initial=None, seed: int = 0):
    """Fits the SSD on the (uint8 images, targets) ``pool`` and returns the training model: the last one, batch-norm statistics recomputed on training batches
    (``final.keras``); resumes from ``run_dir/last.keras`` if present. ``pretrained``: a
    model whose backbone layers (by name) initialize the SSD's; ``initial``: a trained SSD
    whose weights the run starts from (a warm restart)."""
    import keras

    from train.pretrain import copy_backbone
    from train.ssd import box_loss, build_ssd, make_class_loss

    total_steps = cfg.epochs * cfg.steps_per_epoch

    def build():
        model = build_ssd(spec, cfg.num_classes, width=cfg.width)
        if initial is not None:
            model.set_weights(initial.get_weights())
        elif pretrained is not None:
            log.info("backbone from pretraining: %d layers", copy_backbone(pretrained, model))
        schedule = keras.optimizers.schedules.CosineDecay(
            cfg.learning_rate * 0.1, total_steps, alpha=0.02,
            warmup_target=cfg.learning_rate, warmup_steps=min(100, total_steps // 10))
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss=[box_loss, make_class_loss(cfg.num_classes)], jit_compile=False)
        return model

    return runner.fit(build, pool_dataset(*pool, cfg.batch, seed), val_data, cfg.run_dir, cfg.epochs,
                      lambda: (normalize(x) for x, _ in pool_batches(*pool, cfg.batch, seed)), cfg.steps_per_epoch,
                      custom_objects=custom_objects(cfg.num_classes), strategy=cfg.strategy,
                      time_budget_s=cfg.time_budget_s, verbose=cfg.verbose)


def custom_objects(num_classes: int) -> dict:
    from train.ssd import box_loss, make_class_loss

    return {"box_loss": box_loss, "class_loss": make_class_loss(num_classes)}
