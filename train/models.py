"""Model recipes besides the SSD (see ``train.ssd``): the classic MNIST CNN, a small
MobileNetV2-style classifier for camera images, and a fully convolutional segmenter."""

from __future__ import annotations


def mnist_cnn(num_classes: int = 10, input_shape=(28, 28, 1)):
    """The classic Keras MNIST CNN: Conv2D 32 3x3 relu, MaxPool 2x2, (a second conv block),
    Flatten, (a hidden Dense 128 relu), Dense softmax. Inputs are pixels / 255. The hidden layer
    took held-out top-1 from 97.6% to 98.7% at the same training cost (5,800 digits)."""
    import keras
    from keras import layers

    return keras.Sequential([
        keras.Input(input_shape, name="image"),
        layers.Conv2D(32, 3, activation="relu", name="conv1"),
        layers.MaxPooling2D(2, name="pool1"),
        layers.Conv2D(64, 3, activation="relu", name="conv2"),
        layers.MaxPooling2D(2, name="pool2"),
        layers.Flatten(name="flatten"),
        layers.Dropout(0.4, name="dropout"),
        layers.Dense(128, activation="relu", name="hidden"),
        layers.Dropout(0.4, name="hidden_dropout"),
        layers.Dense(num_classes, activation="softmax", name="probability"),
    ], name="mnist_cnn")


def _inverted_residual(x, expand: int, filters: int, stride: int, name: str):
    from keras import layers

    from train.layers import FusedBatchNormalization

    inp = x
    c = x.shape[-1]
    if expand != 1:
        x = layers.Conv2D(c * expand, 1, use_bias=False, name=f"{name}_expand")(x)
        x = FusedBatchNormalization(name=f"{name}_expand_bn")(x)
        x = layers.ReLU(6.0, name=f"{name}_expand_relu")(x)
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = FusedBatchNormalization(name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(x)
    x = FusedBatchNormalization(name=f"{name}_project_bn")(x)
    if stride == 1 and c == filters:
        x = layers.Add(name=f"{name}_add")([inp, x])
    return x


def mobilenet_v2_small(num_classes: int, input_shape=(96, 96, 3), alpha: float = 0.5):
    """A small MobileNetV2-style classifier (inverted residuals, ReLU6), built from scratch
    (no pretrained weights are downloaded). Inputs are ``(pixel - 127.5) / 127.5``."""
    import keras
    from keras import layers

    from train.layers import FusedBatchNormalization

    c = lambda n: max(8, int(n * alpha) // 8 * 8)  # noqa: E731
    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(c(32), 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = FusedBatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    # (expansion, channels, repeats, first stride) as in MobileNetV2, trimmed for small inputs.
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 3, 2), (6, 96, 2, 1), (6, 160, 2, 2)]
    for i, (t, ch, n, s) in enumerate(settings):
        for j in range(n):
            x = _inverted_residual(x, t, c(ch), s if j == 0 else 1, f"block{i}_{j}")
    x = layers.Conv2D(c(640), 1, use_bias=False, name="head")(x)
    x = FusedBatchNormalization(name="head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probability")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2_small")


def fcn_encoder(inputs, width: float = 1.0):
    """The segmenter's encoder: features at strides 4, 8, 16 and 32.

    Plain 3x3 convolutions up to stride 8 (fused blocks, as in EfficientNetV2), depthwise-
    separable blocks below: pretrained on the same crops for the same time, the fused encoder
    named 82% of fresh crops against 64% for depthwise blocks all the way (docs/training.md).
    Wide below stride 8 (256 and 384 channels, where 128 and 192 underfit the training scenes):
    the depthwise blocks there work on small maps (10x10 and 5x5 for a 160x160 input), so the
    width is cheap; held-out mIoU 0.738 -> 0.776.
    """
    from train.ssd import _conv, _dw

    c = lambda n: max(8, int(n * width))  # noqa: E731
    x = _conv(inputs, c(16), 2, "stem")           # /2
    x = _conv(x, c(32), 2, "f1")                  # /4
    s4 = _conv(x, c(32), 1, "f2")
    x = _conv(s4, c(64), 2, "f3")                 # /8
    s8 = _conv(x, c(64), 1, "f4")
    x = _dw(s8, c(256), 2, "e5")                  # /16
    x = _dw(x, c(256), 1, "e6")
    s16 = _dw(x, c(256), 1, "e7")
    x = _dw(s16, c(384), 2, "e8")                 # /32
    s32 = _dw(x, c(384), 1, "e9")
    return s4, s8, s16, s32


def encoder_classifier(size: int, num_classes: int, width: float = 1.0):
    """The segmenter's encoder with a pooled softmax head, to pretrain on single-digit crops
    (``train.pretrain``): the segmenter then starts from features that tell digits apart."""
    import keras
    from keras import layers

    inputs = keras.Input((size, size, 3), name="image")
    x = layers.GlobalAveragePooling2D(name="pretrain_pool")(fcn_encoder(inputs, width)[-1])
    outputs = layers.Dense(num_classes, activation="softmax", name="pretrain_probability")(x)
    return keras.Model(inputs, outputs, name="encoder_classifier")


def fcn_segmenter(num_classes: int, input_shape=(160, 160, 3), width: float = 1.0):
    """A fully convolutional segmenter (no dense layers) that outputs per-pixel class
    probabilities at a quarter of the input resolution ``[H/4, W/4, num_classes]``
    (``"probabilities"``), and ``"foreground"``: the probability that a pixel is not
    background, at full resolution ``[H, W, 1]``.

    The encoder goes down to stride 32, so that the deepest features see a whole object: a
    pixel's class is a decision about the object it belongs to. A decoder goes back up to
    stride 4 with skips from strides 16, 8 and 4 for the outlines. Scoring at stride 4 halves
    the training step; bilinear upsampling (of the logits, see ``train.segment.inference_model``;
    of perfect quarter-size maps, 0.96 mIoU) brings the map back to the input size. The input
    sides must be multiples of 32.

    The foreground head: from the decoder's stride-4 features and the raw pixels of each 4x4
    block it predicts the 16 pixels of the block (sub-pixel convolution, as in ESPCN), so
    outlines are learnt pixel by pixel; the exported map takes its outlines from it as well
    (``train.segment.inference_model``).
    """
    import keras
    from keras import layers

    from train.ssd import _dw

    c = lambda n: max(8, int(n * width))  # noqa: E731
    h, w = input_shape[:2]
    inputs = keras.Input(input_shape, name="image")
    s4, s8, s16, x = fcn_encoder(inputs, width)
    for skip, filters, level in ((s16, c(192), 16), (s8, c(64), 8), (s4, c(48), 4)):
        x = layers.UpSampling2D(2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skip])
        x = _dw(x, filters, 1, f"d{level}")
    logits = layers.Conv2D(num_classes, 1, name="logits")(x)
    probabilities = layers.Softmax(name="probabilities")(logits)
    pixels = layers.Conv2D(c(32), 4, strides=4, name="fg_pixels")(inputs)
    f = _dw(layers.Concatenate(name="fg_concat")([x, pixels]), c(64), 1, "fg_block")
    f = layers.Conv2D(16, 1, name="fg_subpixels")(f)
    f = layers.Reshape((h // 4, w // 4, 4, 4), name="fg_split")(f)
    f = layers.Permute((1, 3, 2, 4), name="fg_interleave")(f)  # depth to space: row, dy, column, dx
    f = layers.Reshape((h, w, 1), name="fg_full")(f)
    foreground = layers.Activation("sigmoid", name="foreground")(f)
    return keras.Model(inputs, {"probabilities": probabilities, "foreground": foreground}, name="fcn_segmenter")
