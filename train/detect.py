"""Detection recipe: the SSD-style digit detector, on composed scenes or on user data."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from train import runner
from train.scenes import Scene, SceneComposer, SceneStyle, stretch
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


# Training scenes hold more digits than the held-out ones (4-10, 6.5 on average, against 2-6):
# every step then learns from more digits for the same computation, most of which is background.
# Half of their photos are turned, for more kinds of background from the same photos, and up to
# three ovals and arcs on the background teach the shapes that are not digits.
TRAINING_STYLE = SceneStyle(min_digits=4, max_digits=10, turned_backgrounds=0.5, distractors=3)

SCENE_SIZES = ((320, 180), (288, 216), (320, 200))  # mostly 16:9, some 4:3 and 16:10
SCENE_WEIGHTS = (0.7, 0.15, 0.15)


def make_pool(composer: SceneComposer, n: int, spec: AnchorSpec, encoder: TargetEncoder
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


def pool_images(images: np.ndarray, batch: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Endless normalized image batches from the pool, reshuffled every pass (for recomputing
    batch-norm statistics after training)."""
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(images))
        for i in range(0, len(order) - batch + 1, batch):
            yield normalize(images[np.sort(order[i:i + batch])])


def _for_both_losses(images, targets):
    """tf.data map: the float32 targets once for the box loss and once for the class loss."""
    import tensorflow as tf

    targets = tf.cast(targets, tf.float32)
    return images, (targets, targets)


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
    """Fits the SSD on the (uint8 images, targets) ``pool``, colour-jittered, and returns the
    training model: the last one, batch-norm statistics recomputed on training batches
    (``final.keras``); resumes from ``run_dir/last.keras`` if present. ``pretrained``: a
    model whose backbone layers (by name) initialize the SSD's; ``initial``: a trained SSD
    whose weights the run starts from (a warm restart)."""
    import keras

    from train.pretrain import copy_backbone, jittered_batches
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

    dataset = jittered_batches(*pool, cfg.batch, seed).map(_for_both_losses)
    return runner.fit(build, dataset, val_data, cfg.run_dir, cfg.epochs,
                      lambda: pool_images(pool[0], cfg.batch, seed), cfg.steps_per_epoch,
                      custom_objects=custom_objects(cfg.num_classes), strategy=cfg.strategy,
                      time_budget_s=cfg.time_budget_s, verbose=cfg.verbose)


def custom_objects(num_classes: int) -> dict:
    from train.ssd import box_loss, make_class_loss

    return {"box_loss": box_loss, "class_loss": make_class_loss(num_classes)}
