"""SSD-style detection: anchors, target encoding, a small backbone with box and class heads.

Anchors are ``(ycenter, xcenter, h, w)`` normalized to the model input; box encodings are
``(ty, tx, th, tw)`` scaled by 10, 10, 5, 5 -- what ``TFLite_Detection_PostProcess`` decodes.
Class heads are a softmax over background (column 0) and the classes, trained with hard
negative mining as in the original SSD.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from export.metrics import box_iou
from export.ssd_uint8 import snap_anchors

SCALES = np.array([10.0, 10.0, 5.0, 5.0], np.float32)


@dataclass(frozen=True)
class AnchorLevel:
    stride: int
    heights: tuple[float, ...]  # normalized to the input height
    aspects: tuple[float, ...]  # w / h, both normalized (so 1.0 is square in the *input*)


@dataclass(frozen=True)
class AnchorSpec:
    """Anchor layout for an input of ``size`` (height, width) pixels; the defaults are the
    shipped digit detector's.

    Its input is wider than tall: 16:9 frames squeezed into a square input left a "1" 3 pixels
    wide, and 192x256 took held-out mAP@0.5 from 0.870 to 0.902 (docs/training.md).
    """

    size: tuple[int, int] = (192, 256)
    levels: tuple[AnchorLevel, ...] = field(default_factory=lambda: (
        AnchorLevel(8, (0.15, 0.21), (0.22, 0.45)),
        AnchorLevel(16, (0.30, 0.42), (0.22, 0.45)),
    ))

    @property
    def per_cell(self) -> list[int]:
        return [len(lv.heights) * len(lv.aspects) for lv in self.levels]

    def grid(self, level: AnchorLevel) -> tuple[int, int]:
        return self.size[0] // level.stride, self.size[1] // level.stride

    def anchors(self) -> np.ndarray:
        """``[A, 4]`` float32 (ycenter, xcenter, h, w), in the order the heads emit them:
        level by level, row-major over the grid, then anchor within the cell; on the uint8
        grid an int8 export stores them on, so float and int8 models decode alike."""
        out = []
        for level in self.levels:
            gh, gw = self.grid(level)
            cy = (np.arange(gh, dtype=np.float32) + 0.5) / gh
            cx = (np.arange(gw, dtype=np.float32) + 0.5) / gw
            shapes = [(h, h * a) for h in level.heights for a in level.aspects]
            for y in cy:
                for x in cx:
                    for h, w in shapes:
                        out.append((y, x, h, w))
        return snap_anchors(np.array(out, np.float32))


GENERAL_LEVELS = (  # for user data: objects of any shape
    AnchorLevel(8, (0.1, 0.18), (0.5, 1.0, 2.0)),
    AnchorLevel(16, (0.3, 0.55), (0.5, 1.0, 2.0)),
)


def spec_to_json(spec: AnchorSpec) -> list[dict]:
    return [{"stride": lv.stride, "heights": list(lv.heights), "aspects": list(lv.aspects)} for lv in spec.levels]


def spec_from_json(size: tuple[int, int], levels: list[dict]) -> AnchorSpec:
    return AnchorSpec(tuple(size), tuple(AnchorLevel(lv["stride"], tuple(lv["heights"]), tuple(lv["aspects"]))
                                        for lv in levels))


def to_corners(anchors: np.ndarray) -> np.ndarray:
    """``(yc, xc, h, w)`` -> ``(ymin, xmin, ymax, xmax)``."""
    yc, xc, h, w = anchors.T
    return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=1)


IGNORE = -2.0
NEGATIVE = -1.0


class TargetEncoder:
    """Matches ground-truth boxes to anchors and encodes them for the loss.

    An anchor is positive where its IoU with a box is at least ``pos_iou`` (and every box's
    best anchor is positive), negative below ``neg_iou`` and ignored in between.
    """

    def __init__(self, anchors: np.ndarray, pos_iou: float = 0.45, neg_iou: float = 0.35) -> None:
        self.anchors = anchors
        self.corners = to_corners(anchors)
        self.pos_iou, self.neg_iou = pos_iou, neg_iou

    def encode(self, boxes_yxyx: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """``[A, 5]`` float32: encoded box (4) and the label (class id, -1 negative, -2 ignore)."""
        a = len(self.anchors)
        out = np.zeros((a, 5), np.float32)
        out[:, 4] = NEGATIVE
        if len(boxes_yxyx) == 0:
            return out
        iou = box_iou(self.corners, boxes_yxyx)  # [A, G]
        best_gt = iou.argmax(axis=1)
        best_iou = iou.max(axis=1)
        out[(best_iou >= self.neg_iou), 4] = IGNORE
        positive = best_iou >= self.pos_iou
        forced = iou.argmax(axis=0)  # each box's best anchor
        best_gt[forced] = np.arange(len(boxes_yxyx))
        positive[forced] = True
        idx = np.flatnonzero(positive)
        g = boxes_yxyx[best_gt[idx]]
        gh, gw = g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]
        gy, gx = g[:, 0] + gh / 2, g[:, 1] + gw / 2
        ya, xa, ha, wa = self.anchors[idx].T
        enc = np.stack([(gy - ya) / ha, (gx - xa) / wa, np.log(gh / ha), np.log(gw / wa)], axis=1)
        out[idx, :4] = enc * SCALES
        out[idx, 4] = classes[best_gt[idx]]
        return out

    def decode(self, encodings: np.ndarray) -> np.ndarray:
        """``[A, 4]`` encodings -> ``(ymin, xmin, ymax, xmax)`` normalized (for checks)."""
        t = encodings / SCALES
        ya, xa, ha, wa = self.anchors.T
        y, x = t[:, 0] * ha + ya, t[:, 1] * wa + xa
        h, w = np.exp(t[:, 2]) * ha, np.exp(t[:, 3]) * wa
        return np.stack([y - h / 2, x - w / 2, y + h / 2, x + w / 2], axis=1)


# -- model ------------------------------------------------------------------------------------

def _conv(x, filters: int, stride: int = 1, name: str = ""):
    import keras
    from keras import layers

    from train.layers import FusedBatchNormalization

    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=f"{name}_conv",
                      kernel_initializer=keras.initializers.HeNormal())(x)
    x = FusedBatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x)


def _dw(x, filters: int, stride: int = 1, name: str = ""):
    """Depthwise-separable block (MobileNet v1 style): cheap on CPUs and the Edge TPU."""
    from keras import layers

    from train.layers import FusedBatchNormalization

    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = FusedBatchNormalization(name=f"{name}_dwbn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dwrelu")(x)
    return _pointwise(x, filters, name)


def _pointwise(x, filters: int, name: str):
    """1x1 convolution, batch norm, ReLU6 (the second half of a depthwise-separable block)."""
    from keras import layers

    from train.layers import FusedBatchNormalization

    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    x = FusedBatchNormalization(name=f"{name}_pwbn")(x)
    return layers.ReLU(6.0, name=f"{name}_pwrelu")(x)


def backbone(inputs, width: float = 1.0):
    """A MobileNet-v1-style stack of depthwise-separable blocks: features at strides 8 and 16."""
    c = lambda n: max(8, int(n * width))  # noqa: E731
    x = _conv(inputs, c(16), 2, "stem")        # /2
    x = _dw(x, c(32), 2, "b1")                 # /4
    x = _dw(x, c(32), 1, "b2")
    x = _dw(x, c(64), 2, "b3")                 # /8
    x = _dw(x, c(64), 1, "b4")
    p3 = _dw(x, c(96), 1, "b5")
    x = _dw(p3, c(192), 2, "b6")               # /16
    x = _dw(x, c(192), 1, "b7")
    p4 = _dw(x, c(192), 1, "b8")
    return p3, p4


def backbone_classifier(size: int, num_classes: int, width: float = 1.0, channels: int = 3):
    """The backbone with a pooled softmax head, to pretrain on single-object crops: the SSD
    then starts from features that already tell the classes apart."""
    import keras
    from keras import layers

    inputs = keras.Input((size, size, channels), name="image")
    p3, p4 = backbone(inputs, width)
    x = layers.GlobalAveragePooling2D(name="pretrain_pool")(p4)
    outputs = layers.Dense(num_classes, activation="softmax", name="pretrain_probability")(x)
    return keras.Model(inputs, outputs, name="backbone_classifier")


def build_ssd(spec: AnchorSpec, num_classes: int, width: float = 1.0, channels: int = 3):
    """The training model: normalized float image -> (box encodings ``[B, A, 4]``,
    class logits ``[B, A, 1 + C]``, background first, as the post-processing op expects).

    ``width`` multiplies the backbone's channel counts.
    """
    import keras
    from keras import layers

    h, w = spec.size
    inputs = keras.Input((h, w, channels), name="image")
    p3, p4 = backbone(inputs, width)
    # Top-down context for the stride-8 level (as in FPN): its heads also see the wider view of
    # the stride-16 features (held-out mAP@0.5 0.752 -> 0.778 on the digit detector).
    # (The 1x1 convolution before nearest upsampling: the same result at a quarter of the cost.)
    context = layers.UpSampling2D(2, name="s16_up")(_pointwise(p4, max(8, int(64 * width)), "s16_context"))
    features = {8: layers.Concatenate(name="s8_context")([p3, context]), 16: p4}
    head_filters = {8: p3.shape[-1], 16: p4.shape[-1]}
    boxes, logits = [], []
    for level, k in zip(spec.levels, spec.per_cell):
        f = features[level.stride]
        gh, gw = spec.grid(level)
        name = f"s{level.stride}"
        f = _dw(f, head_filters[level.stride], 1, f"{name}_head")
        b = layers.Conv2D(k * 4, 1, name=f"{name}_box")(f)
        boxes.append(layers.Reshape((gh * gw * k, 4), name=f"{name}_box_flat")(b))
        # Background starts likely (softmax prior ~0.99), so early losses stay sane.
        bias = np.tile(np.array([np.log(99.0 * num_classes)] + [0.0] * num_classes, np.float32), k)
        l = layers.Conv2D(k * (num_classes + 1), 1, name=f"{name}_cls",
                          bias_initializer=keras.initializers.Constant(bias))(f)
        logits.append(layers.Reshape((gh * gw * k, num_classes + 1), name=f"{name}_cls_flat")(l))
    box_out = layers.Concatenate(axis=1, name="box_encodings")(boxes)
    cls_out = layers.Concatenate(axis=1, name="class_logits")(logits)
    return keras.Model(inputs, [box_out, cls_out], name="digit_ssd")


def inference_model(train_model):
    """Same weights, outputs (box encodings, softmax class scores ``[B, A, 1 + C]``) as
    ``TFLite_Detection_PostProcess`` takes them; it skips the background column 0.

    Every score column comes from the same softmax, so int8 keeps one 0..1 scale for all of
    them (a constant background column would shrink that scale to nothing).
    """
    import keras
    from keras import layers

    box_out, logits = train_model.outputs
    scores = layers.Softmax(axis=-1, name="class_scores")(logits)
    return keras.Model(train_model.inputs, [box_out, scores], name=train_model.name)


# -- losses -----------------------------------------------------------------------------------

def box_loss(y_true, y_pred):
    """Huber loss on the encodings of positive anchors, per positive anchor in the batch."""
    import keras.ops as ops

    labels = y_true[..., 4]
    positive = ops.cast(labels >= 0, "float32")
    diff = ops.abs(y_true[..., :4] - y_pred)
    huber = ops.where(diff < 1.0, 0.5 * diff * diff, diff - 0.5)
    total = ops.sum(ops.sum(huber, axis=-1) * positive)
    return total / ops.maximum(ops.sum(positive), 1.0)


def make_class_loss(num_classes: int, negatives_per_positive: float = 3.0):
    def class_loss(y_true, logits):
        """Softmax cross-entropy over background + classes: every positive anchor, and the
        hardest negatives (``negatives_per_positive`` per positive in the image, at least 8),
        per positive anchor in the batch -- the original SSD's hard negative mining."""
        import keras.ops as ops

        labels = y_true[..., 4]
        positive = ops.cast(labels >= 0, "float32")
        negative = ops.cast(labels == NEGATIVE, "float32")
        target = ops.cast(ops.maximum(labels + 1, 0), "int32")  # 0 = background
        logp = logits - ops.logsumexp(logits, axis=-1, keepdims=True)
        ce = -ops.sum(ops.one_hot(target, num_classes + 1) * logp, axis=-1)  # [B, A]
        neg_ce = ce * negative - (1.0 - negative)  # non-negatives rank last
        rank = ops.argsort(ops.argsort(-neg_ce, axis=-1), axis=-1)
        quota = ops.maximum(negatives_per_positive * ops.sum(positive, axis=-1, keepdims=True), 8.0)
        hard = ops.cast(ops.cast(rank, "float32") < quota, "float32") * negative
        total = ops.sum(ce * (positive + hard))
        return total / ops.maximum(ops.sum(positive), 1.0)

    return class_loss
