"""Tiny real TFLite models of every family the runtime decodes, with known outputs.

Each model is a small Keras model converted by the project's own ``export.convert.convert``.
Detection and classification heads are constant (a zero-kernel Dense whose bias is the designed
output), so the expected result does not depend on the image. Segmentation heads are a 1x1
convolution of the image itself, so the expected class map is the colour of each region.

Other tests reuse this module::

    path = build_model("yolov8", "uint8")          # cached per test process
    result = run_model(path, image_bgr)            # decoded Prediction, in source pixels

Families: see ``FAMILIES``. dtypes: "float32" (float model), "uint8" and "int8" (full-integer
int8 with that input/output type; SSD outputs stay float as in every published SSD model).
"""

from __future__ import annotations

import atexit
import io
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter

from edgevision.core import Prediction
from edgevision.decoders.base import ModelInfo
from edgevision.inference.tensors import TensorSpec
from export.flatbuffer import pack, unpack
from export.ssd_uint8 import snap_anchors

INPUT_SIZE = 32  # square model input; YOLO heads use the strides-8/16/32 grid of this size
DTYPES = ("float32", "uint8", "int8")
SSD_OUTPUT_ORDERS = {"ssd": "tf1", "ssd-tf2": "tf2"}

# --- designed outputs -------------------------------------------------------------------------

# Detection boxes in model-input pixels [x1, y1, x2, y2], class id, score. The first two overlap
# (IoU 0.68) with the same class, so host NMS must drop the second; the third overlaps the first
# with another class and must survive.
DETECTIONS = [
    ((4.0, 6.0, 16.0, 20.0), 0, 0.9),
    ((5.0, 7.0, 16.0, 21.0), 0, 0.6),
    ((6.0, 6.0, 18.0, 18.0), 2, 0.8),
    ((20.0, 22.0, 30.0, 30.0), 1, 0.7),
]
DETECTION_CLASSES = 3
# After per-class host NMS (IoU 0.45): every box but the suppressed second one, best first.
EXPECTED_DETECTIONS = [DETECTIONS[0], DETECTIONS[2], DETECTIONS[3]]


def _on_anchor_grid(box: tuple[float, ...]) -> tuple[float, ...]:
    """The box nearest ``box`` whose SSD anchor lies on the uint8 grid int8 SSDs store anchors on."""
    x1, y1, x2, y2 = np.array(box) / INPUT_SIZE
    yc, xc, h, w = snap_anchors(np.array([[(y1 + y2) / 2, (x1 + x2) / 2, y2 - y1, x2 - x1]], np.float32))[0]
    return tuple(float(v) * INPUT_SIZE for v in (xc - w / 2, yc - h / 2, xc + w / 2, yc + h / 2))


SSD_DETECTIONS = [(_on_anchor_grid(box), cls, score) for box, cls, score in DETECTIONS]
# The SSD op's fast NMS is class-agnostic: the third box (IoU 0.63 with the first) goes too.
EXPECTED_SSD_DETECTIONS = [SSD_DETECTIONS[0], SSD_DETECTIONS[3]]
# Its per-class NMS keeps the third box, whose class differs from the first's.
EXPECTED_SSD_PER_CLASS_DETECTIONS = [SSD_DETECTIONS[0], SSD_DETECTIONS[2], SSD_DETECTIONS[3]]
# End-to-end models ran NMS inside: all designed boxes come back, best first.
EXPECTED_E2E_DETECTIONS = sorted(DETECTIONS, key=lambda d: -d[2])

CLASS_LOGITS = np.array([0.5, 2.0, -1.0, 3.0, 0.0], np.float32)  # 5 classes, logits
BACKGROUND_CLASSES = 1001  # ImageNet + background at 0; probabilities from a softmax
BACKGROUND_TOP = {0: 6.0, 208: 5.0, 13: 4.0}  # logits: background highest, then ids 208, 13

FAMILIES = (
    "ssd",
    "ssd-tf2",
    "ssd-per-class",
    "yolov5",
    "yolov8",
    "yolov8-transposed",
    "yolo-e2e",
    "classification",
    "classification-1001",
    "segmentation-nhwc",
    "segmentation-nchw",
    "segmentation-argmax",
    "segmentation-mask",
)

_cache_dir: Path | None = None
_built: dict[tuple[str, str], Path] = {}


def cache_dir() -> Path:
    global _cache_dir
    if _cache_dir is None:
        _cache_dir = Path(tempfile.mkdtemp(prefix="edgevision-models-"))
        atexit.register(shutil.rmtree, _cache_dir, True)
    return _cache_dir


# --- Keras models -----------------------------------------------------------------------------


def _constant_heads(shapes_values: list[tuple[tuple[int, ...], np.ndarray]]):
    """A model whose outputs are the given constants whatever the image."""
    import keras

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    outputs = []
    for shape, values in shapes_values:
        dense = keras.layers.Dense(
            int(np.prod(shape)),
            kernel_initializer="zeros",
            bias_initializer=keras.initializers.Constant(np.asarray(values, np.float32).ravel()),
        )(pooled)
        outputs.append(keras.layers.Reshape(shape)(dense))
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0])


def yolo_rows(variant: str) -> np.ndarray:
    """The designed YOLO output (batch dim dropped), in the variant's own layout."""
    size = float(INPUT_SIZE)
    cells = sum((INPUT_SIZE // s) ** 2 for s in (8, 16, 32))  # 21 for a 32x32 input
    if variant == "yolo-e2e":
        rows = np.zeros((10, 6), np.float32)
        for i, (box, cls, score) in enumerate(DETECTIONS):
            rows[i] = [*(np.array(box) / size), score, cls]  # normalized xyxy
        return rows
    v5 = variant == "yolov5"
    n = 3 * cells if v5 else cells
    rows = np.zeros((n, (5 if v5 else 4) + DETECTION_CLASSES), np.float32)
    rows[:, 2:4] = 2.0  # background rows: small boxes with zero scores
    for i, (box, cls, score) in enumerate(DETECTIONS):
        x1, y1, x2, y2 = box
        row = 5 * i + 2  # spread over the anchors
        rows[row, :4] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
        if v5:
            rows[row, 4] = 1.0 if i % 2 else 0.5  # objectness x class probability = score
            rows[row, 5 + cls] = score / rows[row, 4]
        else:
            rows[row, 4 + cls] = score
    if variant == "yolov8-transposed":
        rows[:, :4] /= size  # normalized boxes, as Ultralytics' int8 exports write them
    if variant == "yolov8":
        rows = rows.T.copy()  # [4 + C, N]
    return rows


def _ssd_model():
    """Box encodings of zero (boxes = anchors) and class scores with background column 0."""
    from export.convert import SSDPostProcess

    anchors = []
    scores = np.zeros((8, DETECTION_CLASSES + 1), np.float32)
    for i, (box, cls, score) in enumerate(SSD_DETECTIONS):
        x1, y1, x2, y2 = np.array(box) / INPUT_SIZE
        anchors.append([(y1 + y2) / 2, (x1 + x2) / 2, y2 - y1, x2 - x1])
        scores[i, 1 + cls] = score
    anchors += [[0.5, 0.5, 0.1, 0.1]] * (8 - len(anchors))
    model = _constant_heads([((8, 4), np.zeros((8, 4))), ((8, DETECTION_CLASSES + 1), scores)])
    post = SSDPostProcess(
        anchors=np.array(anchors, np.float32),
        num_classes=DETECTION_CLASSES,
        max_detections=10,
        score_threshold=0.3,
        iou_threshold=0.45,
    )
    return model, post


def _classification_model(family: str):
    import keras

    if family == "classification":
        return _constant_heads([((len(CLASS_LOGITS),), CLASS_LOGITS)])
    logits = np.zeros(BACKGROUND_CLASSES, np.float32)
    for class_id, value in BACKGROUND_TOP.items():
        logits[class_id] = value
    model = _constant_heads([((BACKGROUND_CLASSES,), logits)])
    return keras.Model(model.input, keras.layers.Softmax()(model.output))


def _segmentation_model(family: str):
    """Logits = the image's own channels: each pixel's class is its strongest colour channel."""
    import keras

    inputs = keras.Input((INPUT_SIZE, INPUT_SIZE, 3))
    if family == "segmentation-mask":
        kernel = np.array([1.0, 0.0, 0.0], np.float32).reshape(1, 1, 3, 1)
        out = keras.layers.Conv2D(
            1, 1, use_bias=False, kernel_initializer=keras.initializers.Constant(kernel)
        )(inputs)
        return keras.Model(inputs, out)
    identity = np.eye(3, dtype=np.float32).reshape(1, 1, 3, 3)
    logits = keras.layers.Conv2D(
        3, 1, use_bias=False, kernel_initializer=keras.initializers.Constant(identity)
    )(inputs)
    if family == "segmentation-nhwc":
        out = keras.layers.AveragePooling2D(2)(logits)  # half resolution, as most seg heads
    elif family == "segmentation-nchw":
        out = keras.layers.Permute((3, 1, 2))(logits)
    else:
        import tensorflow as tf  # keras.ops.argmax adds a -0.0 fix-up TFLite cannot convert

        out = keras.layers.Lambda(lambda t: tf.argmax(t, axis=-1, output_type=tf.int32))(logits)
    return keras.Model(inputs, out)


def _convert(family: str, dtype: str) -> bytes:
    from export.convert import convert

    rng = np.random.default_rng(0)
    representative = [rng.random((INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32) for _ in range(8)]
    # Pure red, green and blue frames calibrate the segmentation models' full range.
    ones = np.ones((INPUT_SIZE, INPUT_SIZE, 3), np.float32)
    representative += [np.eye(3, dtype=np.float32)[i] * ones for i in range(3)]
    postprocess = None
    if family.startswith("ssd"):
        model, postprocess = _ssd_model()
        if family == "ssd-per-class":
            postprocess = replace(postprocess, use_regular_nms=True)
    elif family.startswith("yolo"):
        model = _constant_heads([(yolo_rows(family).shape, yolo_rows(family))])
    elif family.startswith("classification"):
        model = _classification_model(family)
    elif family.startswith("segmentation"):
        model = _segmentation_model(family)
    else:
        raise ValueError(f"unknown family {family!r}; choose from {FAMILIES}")
    quantization = "float32" if dtype == "float32" else "int8"
    io_dtype = "float32" if dtype == "float32" else dtype
    content = convert(model, quantization, representative, io_dtype, postprocess=postprocess)
    if family == "ssd-tf2":
        content = ssd_to_tf2_order(content)
    return content


def build_model(family: str, dtype: str = "float32") -> Path:
    """Path of a tiny ``family`` model with ``dtype`` I/O, converted once per test process."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; choose from {DTYPES}")
    key = (family, dtype)
    if key not in _built:
        path = cache_dir() / f"{family}-{dtype}.tflite"
        path.write_bytes(_convert(family, dtype))
        _built[key] = path
    return _built[key]


# --- flatbuffer edits -------------------------------------------------------------------------


def ssd_to_tf2_order(content: bytes) -> bytes:
    """List the SSD outputs as TF2 exports do: scores, boxes, count, classes, with TF2 names
    (``StatefulPartitionedCall:1, :3, :0, :2``)."""
    model = unpack(content)
    graph = model.subgraphs[0]
    op_name = b"TFLite_Detection_PostProcess"
    custom = [i for i, c in enumerate(model.operatorCodes) if c.customCode == op_name]
    op = next(o for o in graph.operators if o.opcodeIndex in custom)
    boxes, classes, scores, count = (int(t) for t in op.outputs)
    graph.outputs = np.array([scores, boxes, count, classes], np.int32)
    for tensor, suffix in ((scores, 1), (boxes, 3), (count, 0), (classes, 2)):
        graph.tensors[tensor].name = f"StatefulPartitionedCall:{suffix}".encode()
    return pack(model)


def rename_outputs(content: bytes, names: list[str]) -> bytes:
    """Give the subgraph's outputs (in listed order) new tensor names."""
    model = unpack(content)
    graph = model.subgraphs[0]
    for tensor, name in zip(graph.outputs, names):
        graph.tensors[int(tensor)].name = name.encode()
    return pack(model)


def _vector(builder: flatbuffers.Builder, offsets: list[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _floats(builder: flatbuffers.Builder, values: tuple[float, ...]) -> int:
    builder.StartVector(4, len(values), 4)
    for value in reversed(values):
        builder.PrependFloat32(value)
    return builder.EndVector()


@dataclass(frozen=True)
class MetadataSpec:
    """What to write into a model's standard metadata (a subset of metadata_schema.fbs)."""

    name: str = ""
    description: str = ""
    version: str = ""
    author: str = ""
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    label_file: str | None = None
    label_locale_files: tuple[tuple[str, str], ...] = ()  # (file, locale) extra label files


def metadata_flatbuffer(spec: MetadataSpec) -> bytes:
    """A ``TFLITE_METADATA`` buffer as the public schema lays it out (identifier M001)."""
    b = flatbuffers.Builder(256)
    texts = {"name": spec.name, "description": spec.description, "version": spec.version}
    texts["author"] = spec.author
    strings = {k: b.CreateString(v) for k, v in texts.items() if v}
    units = []
    if spec.mean is not None and spec.std is not None:
        mean, std = _floats(b, spec.mean), _floats(b, spec.std)
        b.StartObject(2)
        b.PrependUOffsetTRelativeSlot(0, mean, 0)
        b.PrependUOffsetTRelativeSlot(1, std, 0)
        norm = b.EndObject()
        b.StartObject(2)
        b.PrependUint8Slot(0, 1, 0)
        b.PrependUOffsetTRelativeSlot(1, norm, 0)
        units.append(b.EndObject())
    input_name = b.CreateString("image")
    unit_vector = _vector(b, units) if units else None
    b.StartObject(7)
    b.PrependUOffsetTRelativeSlot(0, input_name, 0)
    if unit_vector is not None:
        b.PrependUOffsetTRelativeSlot(4, unit_vector, 0)
    input_meta = b.EndObject()
    files = []
    label_files = [(name, "") for name in [spec.label_file] if name] + list(spec.label_locale_files)
    for file_name, locale in label_files:
        name = b.CreateString(file_name)
        locale_offset = b.CreateString(locale) if locale else None
        b.StartObject(5)
        b.PrependUOffsetTRelativeSlot(0, name, 0)
        b.PrependInt8Slot(2, 2, 0)  # TENSOR_AXIS_LABELS
        if locale_offset is not None:
            b.PrependUOffsetTRelativeSlot(3, locale_offset, 0)
        files.append(b.EndObject())
    file_vector = _vector(b, files) if files else None
    output_name = b.CreateString("output")
    b.StartObject(7)
    b.PrependUOffsetTRelativeSlot(0, output_name, 0)
    if file_vector is not None:
        b.PrependUOffsetTRelativeSlot(6, file_vector, 0)
    output_meta = b.EndObject()
    inputs, outputs = _vector(b, [input_meta]), _vector(b, [output_meta])
    b.StartObject(5)
    b.PrependUOffsetTRelativeSlot(2, inputs, 0)
    b.PrependUOffsetTRelativeSlot(3, outputs, 0)
    subgraph = b.EndObject()
    subgraphs = _vector(b, [subgraph])
    parser_version = b.CreateString("1.0.0")
    b.StartObject(8)
    for slot, key in ((0, "name"), (1, "description"), (2, "version"), (4, "author")):
        if key in strings:
            b.PrependUOffsetTRelativeSlot(slot, strings[key], 0)
    b.PrependUOffsetTRelativeSlot(3, subgraphs, 0)
    b.PrependUOffsetTRelativeSlot(7, parser_version, 0)
    b.Finish(b.EndObject(), file_identifier=b"M001")
    return bytes(b.Output())


def with_metadata(
    content: bytes, spec: MetadataSpec | None = None, files: dict[str, bytes] | None = None
) -> bytes:
    """The model with a ``TFLITE_METADATA`` buffer (when ``spec``) and a zip of ``files``
    appended, as the TFLite metadata writers and Ultralytics' exporter do."""
    if spec is not None:
        model = unpack(content)
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(metadata_flatbuffer(spec), np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = b"TFLITE_METADATA"
        entry.buffer = len(model.buffers) - 1
        model.metadata = (model.metadata or []) + [entry]
        content = pack(model)
    if files:
        stream = io.BytesIO()
        stream.write(content)
        with zipfile.ZipFile(stream, "a", zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                archive.writestr(name, data)
        content = stream.getvalue()
    return content


def ultralytics_metadata_json(names: list[str], task: str = "detect") -> bytes:
    """``metadata.json`` as Ultralytics writes it into the zip of its TFLite exports."""
    return json.dumps(
        {
            "description": "Ultralytics YOLO11n model",
            "author": "Ultralytics",
            "version": "8.3.0",
            "stride": 32,
            "task": task,
            "batch": 1,
            "imgsz": [INPUT_SIZE, INPUT_SIZE],
            "names": {str(i): n for i, n in enumerate(names)},
        },
        indent=2,
    ).encode()


# --- running a model --------------------------------------------------------------------------


def model_info(
    path: Path, num_labels: int = 0, use_op_outputs: bool = True
) -> tuple[Interpreter, ModelInfo]:
    """An interpreter for ``path`` and the ModelInfo that select_decoder reads."""
    from edgevision.inference.modelfile import read_model_file

    model_file = read_model_file(path)
    interpreter = Interpreter(model_content=model_file.content)
    interpreter.allocate_tensors()
    info = ModelInfo(
        inputs=tuple(TensorSpec.from_details(d) for d in interpreter.get_input_details()),
        outputs=tuple(TensorSpec.from_details(d) for d in interpreter.get_output_details()),
        custom_ops=model_file.custom_ops if use_op_outputs else (),
        op_outputs=model_file.op_outputs if use_op_outputs else {},
        num_labels=num_labels,
    )
    return interpreter, info


def run_model(
    path: Path,
    image: np.ndarray,
    num_labels: int = 0,
    family: str | None = None,
    use_op_outputs: bool = True,
    **options,
) -> Prediction:
    """Decode one BGR image through the model at ``path``, the way the runtime does."""
    from edgevision.decoders.select import select_decoder
    from edgevision.inference.preprocess import Preprocessor

    interpreter, info = model_info(path, num_labels, use_op_outputs)
    decoder = select_decoder(info, family=family, **options)
    tensor, transform = Preprocessor(info.inputs[0], decoder.resize)(image)
    interpreter.set_tensor(info.inputs[0].index, tensor)
    interpreter.invoke()
    outputs = {s.index: s.dequantize(interpreter.get_tensor(s.index)) for s in info.outputs}
    return decoder.decode(outputs, transform)
