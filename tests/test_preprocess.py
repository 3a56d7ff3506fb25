import numpy as np
import pytest

from edgevision.inference.preprocess import Preprocessor
from edgevision.inference.tensors import TensorSpec


def spec(dtype, scale=0.0, zero_point=0, shape=(1, 64, 64, 3)) -> TensorSpec:
    return TensorSpec(0, "input", shape, np.dtype(dtype), scale, zero_point)


@pytest.mark.parametrize(
    ("tensor", "expected"),
    [
        (spec(np.uint8, 1 / 255, 0), 200),  # raw pixels for uint8 models without metadata
        (spec(np.int8, 1 / 255, -128), 72),  # pixel - 128 for int8 models
        (spec(np.float32), pytest.approx(200 / 255)),  # [0, 1] for float models
    ],
)
def test_default_normalization_per_input_type(tensor, expected):
    value, _ = Preprocessor(tensor, "stretch")(np.full((32, 48, 3), 200, np.uint8))
    assert value.dtype == tensor.dtype
    assert value[0, 0, 0, 0] == expected


def test_metadata_mean_std_with_quantization():
    # A model trained on (pixel - 127.5) / 127.5 and quantized with scale 1/128, zero point 0.
    tensor = spec(np.int8, 1 / 128, 0)
    value, _ = Preprocessor(tensor, "stretch", mean=[127.5], std=[127.5])(np.full((8, 8, 3), 255, np.uint8))
    assert value[0, 0, 0, 0] == 127  # +1.0 real, clipped to int8 max


def test_colour_order_is_rgb():
    image = np.zeros((16, 16, 3), np.uint8)
    image[..., 2] = 255  # red in BGR
    value, _ = Preprocessor(spec(np.uint8, 1 / 255), "stretch")(image)
    assert value[0, 0, 0].tolist() == [255, 0, 0]


def test_letterbox_pads_and_maps_boxes_back():
    pre = Preprocessor(spec(np.uint8, 1 / 255), "letterbox")
    image = np.full((360, 640, 3), 255, np.uint8)
    value, transform = pre(image)
    assert value.shape == (1, 64, 64, 3)
    assert transform.pad_y == 14 and transform.pad_x == 0
    assert value[0, 0, 0, 0] == 114 and value[0, 32, 32, 0] == 255
    # The middle of the model input is the middle of the source frame.
    box = transform.boxes_to_source(np.array([[0, 14, 64, 50]], np.float32))
    np.testing.assert_allclose(box[0], [0, 0, 640, 360], atol=1)


def test_grayscale_channels_first_input():
    tensor = spec(np.float32, shape=(1, 1, 28, 28))
    value, _ = Preprocessor(tensor, "stretch")(np.full((56, 56, 3), 255, np.uint8))
    assert value.shape == (1, 1, 28, 28)
    assert value.max() == pytest.approx(1.0)


@pytest.mark.parametrize("resize", ["stretch", "letterbox"])
@pytest.mark.parametrize(
    "tensor",
    [
        spec(np.uint8, 1 / 255, 0),
        spec(np.int8, 1 / 255, -128),
        spec(np.float32),
        spec(np.uint8, 1 / 255, 0, shape=(1, 64, 64, 1)),
        spec(np.float32, shape=(1, 3, 64, 64)),
    ],
)
def test_writing_into_the_input_tensor_gives_the_same_values(tensor, resize):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (90, 160, 3), np.uint8), rng.integers(0, 255, (120, 120, 3), np.uint8)]
    pre = Preprocessor(tensor, resize)
    for frame in frames:  # two source sizes: buffers reused and letterbox canvases kept apart
        expected, _ = Preprocessor(tensor, resize)(frame)
        out = np.zeros(tensor.shape, tensor.dtype)
        returned, _ = pre(frame, out=out)
        assert returned is out
        np.testing.assert_array_equal(out, expected)
