"""Keras model -> TFLite bytes, float32, float16, dynamic-range or full-integer int8.

Keras 3 models are written through ``keras.export.ExportArchive``: a plain ``tf.Module`` keeps
resource variables that the int8 calibrator cannot read, and freezing the graph first would
inline the ``TFLite_Detection_PostProcess`` composite function away.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import tensorflow as tf
from ai_edge_litert import schema_py_generated as schema

import keras

from export.flatbuffer import pack, unpack
from export.ssd_uint8 import POSTPROCESS_OP, postprocess_op, uint8_postprocess_inputs

log = logging.getLogger(__name__)

Quantization = Literal["float32", "float16", "dynamic", "int8"]
IODType = Literal["uint8", "int8", "float32"]


@dataclass(frozen=True)
class SSDPostProcess:
    """Settings of the ``TFLite_Detection_PostProcess`` op that ends an SSD model.

    The model's two outputs are box encodings ``[1, A, 4]`` (ty, tx, th, tw relative to the
    anchors, scaled by the scales below) and class scores ``[1, A, C + 1]`` with background at
    column 0; ``anchors`` is ``[A, 4]`` (ycenter, xcenter, h, w), normalized.
    """

    anchors: np.ndarray
    num_classes: int
    max_detections: int = 20
    score_threshold: float = 0.3
    iou_threshold: float = 0.5
    y_scale: float = 10.0
    x_scale: float = 10.0
    h_scale: float = 5.0
    w_scale: float = 5.0
    use_regular_nms: bool = False  # per-class NMS; TF's default fast NMS keeps one class per box

    def implements_signature(self) -> str:
        """The attribute string the MLIR converter reads to emit the custom op."""
        attrs = [
            ("max_detections", "i", self.max_detections),
            ("max_classes_per_detection", "i", 1),
            ("use_regular_nms", "b", str(self.use_regular_nms).lower()),
            ("nms_score_threshold", "f", self.score_threshold),
            ("nms_iou_threshold", "f", self.iou_threshold),
            ("y_scale", "f", self.y_scale),
            ("x_scale", "f", self.x_scale),
            ("h_scale", "f", self.h_scale),
            ("w_scale", "f", self.w_scale),
            ("num_classes", "i", self.num_classes),
        ]
        parts = ['name: "TFLite_Detection_PostProcess"']
        parts += [f'attr {{ key: "{k}" value {{ {t}: {v} }} }}' for k, t, v in attrs]
        return " ".join(parts)


def _serving_function(model: keras.Model, postprocess: SSDPostProcess | None) -> Callable:
    if postprocess is None:
        return lambda x: model(x, training=False)

    anchors = tf.constant(postprocess.anchors.astype(np.float32))

    @tf.function(experimental_implements=postprocess.implements_signature())
    def detection_postprocess(box_encodings, class_predictions, anchor_boxes):
        # Placeholder body: the converter replaces this whole function with the TFLite op.
        zero = tf.constant(0.0, dtype=tf.float32)
        return zero, zero, zero, zero

    def serve(x):
        box_encodings, class_scores = model(x, training=False)
        return detection_postprocess(box_encodings, class_scores, anchors)

    return serve


def convert(
    model: keras.Model,
    quantization: Quantization = "int8",
    representative_images: Iterable[np.ndarray] | None = None,
    io_dtype: IODType = "uint8",
    output_dtype: IODType | None = None,
    postprocess: SSDPostProcess | None = None,
    per_channel: bool = True,
) -> bytes:
    """Convert ``model`` (one float image input, values as the model expects) to TFLite.

    For ``int8`` the representative images (each ``[H, W, C]`` float32, already normalized the
    way the model was trained) calibrate every tensor; inputs and outputs become ``io_dtype``
    (outputs ``output_dtype`` where given).
    The SSD post-processing op keeps float outputs, as in every published SSD model, and in an
    int8 model takes uint8 inputs (:mod:`export.ssd_uint8`). ``per_channel=False`` gives each
    weight tensor one scale: a smaller file (a scale and a 64-bit zero point per channel add up
    in a small model), at some risk to accuracy that the export report shows.
    """
    model = float32_model(model)
    input_shape = (1, *model.input_shape[1:])
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        "serve",
        _serving_function(model, postprocess),
        input_signature=[tf.TensorSpec(input_shape, tf.float32)],
    )
    with tempfile.TemporaryDirectory() as saved_model_dir:
        archive.write_out(saved_model_dir, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
        converter.allow_custom_ops = postprocess is not None
        if quantization == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif quantization == "dynamic":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif quantization == "int8":
            if representative_images is None:
                raise ValueError("int8 quantization needs representative_images")
            images = [np.asarray(im, np.float32) for im in representative_images]

            def representative_dataset():
                for image in images:
                    yield [image[np.newaxis]]

            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative_dataset
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter._experimental_disable_per_channel = not per_channel  # noqa: SLF001 - no public switch
            if io_dtype != "float32":
                converter.inference_input_type = getattr(tf, io_dtype)
                if postprocess is None:
                    converter.inference_output_type = getattr(tf, output_dtype or io_dtype)
        elif quantization != "float32":
            raise ValueError(f"unknown quantization {quantization!r}")
        tflite_model = converter.convert()
    flat = unpack(tflite_model)
    if quantization == "int8" and postprocess is not None:
        uint8_postprocess_inputs(flat)
    if postprocess is not None:
        outputs_in_postprocess_order(flat)
    strip_intermediate_names(flat)
    tflite_model = pack(flat, len(tflite_model))
    log.info("converted %s to %s TFLite (%d bytes)", model.name, quantization, len(tflite_model))
    return tflite_model


def float32_model(model: keras.Model) -> keras.Model:
    """``model``, or where any layer computes in another type, a copy with the same weights that
    computes in float32.

    A model trained with mixed precision (on a GPU: ``train.runner.use_mixed_precision_if_gpu``)
    keeps float16 layers, and the TFLite converter refuses their float16 ops ("'tf.Conv2D' op is
    neither a custom op nor a flex op"). Its variables are float32 already.
    """
    config = model.get_config()
    float32_config = _float32_policies(config)
    if float32_config == config:
        return model
    copy = model.__class__.from_config(float32_config)
    copy.set_weights(model.get_weights())
    log.info("%s has layers computing in mixed precision: exporting a float32 copy", model.name)
    return copy


def _float32_policies(node):
    """A Keras config (nested dicts and lists) with every layer's dtype policy set to float32."""
    if isinstance(node, list):
        return [_float32_policies(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _float32_policies(v) for k, v in node.items()}
    policy = node.get("dtype")
    if isinstance(policy, dict) and policy.get("config", {}).get("name", "float32") != "float32":
        out["dtype"] = "float32"
    return out


def outputs_in_postprocess_order(model: schema.ModelT) -> None:
    """Lists the model's outputs as ``TFLite_Detection_PostProcess`` writes them: boxes, classes,
    scores, count (in place).

    The converter orders them by its own names for them (classes, count, boxes, scores here).
    Consumers that take the outputs by position, as Frigate does, or by the metadata's order of
    output descriptions, as MediaPipe does, need the op's order, which every published SSD has.
    """
    graph = model.subgraphs[0]
    op = postprocess_op(model)
    if sorted(int(i) for i in graph.outputs) != sorted(int(i) for i in op.outputs):
        raise ValueError(f"the model's outputs are not the four of {POSTPROCESS_OP}")
    graph.outputs = list(op.outputs)


def strip_intermediate_names(model: schema.ModelT) -> None:
    """Drops the names of ``model``'s tensors between its inputs and outputs (in place).

    The converter names every tensor after the ops that made it, about 130 bytes each: a twentieth
    of a small int8 model. Nothing reads them at run time (TFLite's own ``strip_strings`` tool
    drops them too); input and output names stay, as consumers look outputs up by name.
    """
    for graph in model.subgraphs:
        keep = {int(i) for i in graph.inputs} | {int(i) for i in graph.outputs}
        for index, tensor in enumerate(graph.tensors):
            if index not in keep:
                tensor.name = f"t{index}".encode()
