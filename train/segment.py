"""Segmentation recipe: a fully convolutional net that outputs a per-pixel class map, trained
on composed digit scenes or on image + PNG mask pairs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from train import runner
from train.scenes import SceneComposer, SceneStyle, stretch

log = logging.getLogger(__name__)

MEAN = 127.5
STD = 127.5
# Bigger, fewer digits than the detector's scenes: strokes must be several pixels wide at the
# model's resolution for a per-pixel map to be meaningful.
SEGMENTATION_STYLE = SceneStyle(min_digits=1, max_digits=3, min_height=0.35, max_height=0.6)
# Training scenes turn half of their photos and draw ovals and arcs that are not digits, as the
# detector's do: more kinds of background.
TRAINING_STYLE = replace(SEGMENTATION_STYLE, turned_backgrounds=0.5, distractors=2)


@dataclass
class SegmenterTraining:
    run_dir: Path
    num_classes: int = 11
    size: int = 160
    crop: int | None = None  # train on random crops of this side (a multiple of 32): cheaper steps
    batch: int = 32
    epochs: int = 8
    learning_rate: float = 4e-3  # with the wide encoder; 2e-3 and 4e-3 the same for a narrow one
    width: float = 1.0
    strategy: str = "auto"
    time_budget_s: float | None = None
    verbose: int = 1

    @property
    def training_side(self) -> int:
        """The side of the square inputs the model trains on: the crop's, or the whole scene's."""
        return min(self.crop or self.size, self.size)


def scene_pool(composer: SceneComposer, n: int, size: int, scene_size=(240, 240)) -> tuple[np.ndarray, np.ndarray]:
    """``n`` scenes stretched to ``size``: (uint8 images ``[n, s, s, 3]``, uint8 masks ``[n, s, s]``)."""
    images = np.empty((n, size, size, 3), np.uint8)
    masks = np.empty((n, size, size), np.uint8)
    for i in range(n):
        s = stretch(composer.compose(*scene_size), size, size, with_mask=True)
        images[i], masks[i] = s.image, s.mask
    return images, masks


OUTPUT_STRIDE = 4  # the training model scores quarter-size maps (see train.models.fcn_segmenter)


def dataset(images: np.ndarray, masks: np.ndarray, cfg: SegmenterTraining, training: bool, seed: int = 0):
    """``tf.data`` of (normalized image, targets) with colour jitter when training.

    The targets are ``"probabilities"``: each class's share of every ``OUTPUT_STRIDE``-square
    block of the mask (the one-hot mask area-averaged), so thin strokes still count at the
    model's output size; and ``"foreground"``: the full-size mask of every class but background.
    With ``cfg.crop``, images and masks are cropped to that side: at random places when training,
    in the centre otherwise.
    """
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, masks))
    if training:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if cfg.training_side < cfg.size:
        ds = ds.map(lambda x, y: _crop(x, y, cfg.training_side, training), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(cfg.batch)

    def prep(x, y):
        x = tf.cast(x, tf.float32)
        if training:
            n = tf.shape(x)[0]
            x = x * tf.random.uniform((n, 1, 1, 3), 0.8, 1.2) + tf.random.uniform((n, 1, 1, 1), -25, 25)
            x = tf.clip_by_value(x, 0, 255)
        onehot = tf.one_hot(tf.cast(y, tf.int32), cfg.num_classes)
        shares = tf.nn.avg_pool2d(onehot, OUTPUT_STRIDE, OUTPUT_STRIDE, "VALID")
        foreground = tf.cast(y > 0, tf.float32)[..., None]
        return (x - MEAN) / STD, {"probabilities": shares, "foreground": foreground}

    return ds.map(prep, num_parallel_calls=tf.data.AUTOTUNE).prefetch(2)


def _crop(image, mask, side: int, at_random: bool):
    """The same ``side``-square crop of an image and its mask (uint8 tensors)."""
    import tensorflow as tf

    both = tf.concat([image, mask[..., None]], axis=-1)
    both = tf.image.random_crop(both, (side, side, 4)) if at_random else tf.image.resize_with_crop_or_pad(both, side, side)
    return both[..., :3], both[..., 3]


def make_pixel_loss(num_classes: int, foreground_weight: float = 3.0, lovasz_weight: float = 1.0):
    def pixel_loss(y_true, probs):
        """Per-pixel cross-entropy against class shares, object pixels weighted up (thin strokes
        are a small fraction of a frame and would otherwise be learnt last), plus the
        Lovász-softmax term over the batch: a smooth stand-in for 1 - IoU, the score, which
        cross-entropy alone does not weigh (a class's missed and extra pixels count by their
        share of the frame)."""
        import keras.ops as ops

        ce = -ops.sum(y_true * ops.log(ops.clip(probs, 1e-7, 1.0)), axis=-1)
        weight = 1.0 + (foreground_weight - 1.0) * (1.0 - y_true[..., 0])
        loss = ops.sum(ce * weight) / ops.sum(weight)
        if lovasz_weight:
            loss += lovasz_weight * lovasz_softmax(y_true, probs)
        return loss

    return pixel_loss


def lovasz_softmax(y_true, probs):
    """The Lovász-softmax loss (Berman et al., CVPR 2018) over every pixel of the batch, averaged
    over the classes present: each class's pixel errors, sorted, weighed by how much each one
    adds to that class's Jaccard loss. ``y_true`` may be class shares (soft labels)."""
    import keras.ops as ops

    classes = ops.shape(probs)[-1]
    truth = ops.transpose(ops.reshape(y_true, (-1, classes)))  # [classes, pixels]
    errors = ops.abs(truth - ops.transpose(ops.reshape(probs, (-1, classes))))
    pixels = ops.shape(errors)[-1]
    errors_sorted, order = ops.top_k(errors, pixels)
    truth_sorted = ops.take_along_axis(truth, order, axis=-1)
    total = ops.sum(truth, axis=-1, keepdims=True)
    intersection = total - ops.cumsum(truth_sorted, axis=-1)
    union = total + ops.cumsum(1.0 - truth_sorted, axis=-1)
    jaccard = 1.0 - intersection / union
    steps = ops.concatenate([jaccard[:, :1], jaccard[:, 1:] - jaccard[:, :-1]], axis=-1)
    per_class = ops.sum(errors_sorted * ops.stop_gradient(steps), axis=-1)
    present = ops.cast(total[:, 0] > 0, per_class.dtype)
    return ops.sum(per_class * present) / ops.maximum(ops.sum(present), 1.0)


def make_foreground_loss(foreground_weight: float = 3.0):
    def foreground_loss(y_true, probs):
        """Binary cross-entropy of the full-size foreground map, foreground pixels weighted up as
        in :func:`make_pixel_loss`, plus a soft Dice term. Learning the outlines pixel by pixel
        also sharpens the quarter-size class map: held-out mIoU 0.648 against 0.607 from the same
        pretrained encoder (float32 Keras models, one run each)."""
        import keras.ops as ops

        p = ops.clip(probs, 1e-6, 1.0 - 1e-6)
        bce = -ops.mean(foreground_weight * y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
        dice = 1.0 - (2.0 * ops.sum(y_true * p) + 1.0) / (ops.sum(y_true + p) + 1.0)
        return bce + dice

    return foreground_loss


def custom_objects(num_classes: int) -> dict:
    """The losses ``train.layers.load_model`` needs to read a segmenter run's checkpoints."""
    return {"pixel_loss": make_pixel_loss(num_classes), "foreground_loss": make_foreground_loss()}


def inference_model(model, size: tuple[int, int] | None = None):
    """The trained model as it is exported: a ``[1, H, W, C]`` map of class scores aligned with
    the input (argmax is the class). ``size``: the input (height, width) to export, where
    training ran on smaller crops; the layers are convolutions, so the same weights serve any size.

    The scores are the quarter-size logits upsampled (bilinear), with the foreground head's
    full-size log-odds that a pixel is a digit taken from the background's score. The quarter-size
    map names the digit, the foreground head draws its outline pixel by pixel; weight 1, the best
    of 0.25-1 on validation scenes. On 1,000 held-out scenes this took four trained models from
    0.779-0.792 to 0.792-0.802 mIoU (float32); the head's layers make the shipped int8 invoke
    about a third dearer (1.36 against 1.02 ms).
    Upsampling the logits rather than the probabilities lets a class win a pixel between two
    cells on its evidence, not on a blend of two softmaxes (held-out mIoU 0.726 -> 0.738)."""
    import keras
    from keras import layers

    heads = keras.Model(model.input, [model.get_layer("logits").output, model.get_layer("fg_subpixels").output])
    if size is not None and tuple(size) != tuple(model.input.shape[1:3]):
        image = keras.Input((*size, model.input.shape[-1]), name="image")
        resized = keras.models.clone_model(heads, input_tensors=image)
        resized.set_weights(heads.get_weights())
        heads = resized
    logits, subpixels = heads.outputs
    up = layers.UpSampling2D(OUTPUT_STRIDE, interpolation="bilinear", name="class_logits")(logits)
    foreground = keras.ops.depth_to_space(subpixels, OUTPUT_STRIDE)  # as the training head's reshapes
    to_background = layers.Conv2D(logits.shape[-1], 1, use_bias=False, trainable=False, name="foreground_to_background")
    shift = to_background(foreground)
    to_background.set_weights([np.eye(1, logits.shape[-1], dtype=np.float32).reshape(1, 1, 1, -1) * -1.0])
    scores = layers.Add(name="segmentation_masks")([up, shift])
    return keras.Model(heads.input, scores, name=model.name)


def train(cfg: SegmenterTraining, train_data, val_data, pretrained=None):
    """Fits the segmenter on (uint8 images, class masks) and returns it (``final.keras``);
    ``pretrained``: a model whose encoder layers (by name) initialize the segmenter's."""
    import keras

    from train.models import fcn_segmenter
    from train.pretrain import copy_backbone

    steps = cfg.epochs * int(np.ceil(len(train_data[0]) / cfg.batch))

    def build():
        model = fcn_segmenter(cfg.num_classes, (cfg.training_side, cfg.training_side, 3), cfg.width)
        if pretrained is not None:
            log.info("encoder from pretraining: %d layers", copy_backbone(pretrained, model))
        schedule = keras.optimizers.schedules.CosineDecay(cfg.learning_rate, steps, alpha=0.02)
        model.compile(optimizer=keras.optimizers.Adam(schedule),
                      loss={"probabilities": make_pixel_loss(cfg.num_classes), "foreground": make_foreground_loss()},
                      metrics={"probabilities": [keras.metrics.MeanIoU(cfg.num_classes, sparse_y_true=False,
                                                                       sparse_y_pred=False, name="miou")]},
                      jit_compile=False)
        return model

    return runner.fit(build, dataset(*train_data, cfg, training=True), dataset(*val_data, cfg, training=False),
                      cfg.run_dir, cfg.epochs, lambda: (x for x, _ in dataset(*train_data, cfg, training=False)),
                      custom_objects=custom_objects(cfg.num_classes),
                      strategy=cfg.strategy, time_budget_s=cfg.time_budget_s, verbose=cfg.verbose)
