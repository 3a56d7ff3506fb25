"""Export a trained Keras model: TFLite conversion, metadata, and the export report.

The report compares the float32 model with the chosen quantization on a held-out split, both
run by LiteRT exactly as a device runs them: size, ``invoke()`` latency with XNNPACK, and
top-1 (classification), mAP@0.5 and mAP@0.5:0.95 (detection) or mIoU (segmentation).
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from export import metadata as md
from export import metrics
from export.litert import LiteModel, cpu_description, invoke_latency_ms

log = logging.getLogger(__name__)

Task = Literal["classification", "detection", "segmentation"]

# Largest accuracy loss of int8 against float (points of the task's main metric, 0..100).
INT8_TOLERANCE = {"classification": 0.5, "detection": 2.0, "segmentation": 2.0}
MAIN_METRIC = {"classification": "top1", "detection": "mAP@0.5", "segmentation": "mIoU"}
MIN_CALIBRATION_IMAGES = 10


@dataclass
class HeldOut:
    """The held-out split, as raw pixels the model takes (``[H, W, C]`` uint8 each).

    ``labels``: class ids (classification); ``boxes``/``classes``: per image, ``[G, 4]``
    ``x1, y1, x2, y2`` normalized to the input and ``[G]`` ids (detection); ``masks``: per
    image ``[H, W]`` class maps at the model's output size (segmentation).
    """

    images: list[np.ndarray]
    labels: np.ndarray | None = None
    boxes: list[np.ndarray] | None = None
    classes: list[np.ndarray] | None = None
    masks: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.images)


@dataclass
class ExportJob:
    """Everything about a model that its export needs besides the weights."""

    task: Task
    name: str
    description: str
    version: str
    labels: list[str]
    mean: float
    std: float
    representative: list[np.ndarray]  # uint8 pixels from the training data
    heldout: HeldOut | None = None
    postprocess: object | None = None  # export.convert.SSDPostProcess for detection
    grayscale: bool = False
    per_channel: bool = True  # int8 weight scales per output channel, or one per tensor
    output_dtype: str | None = None  # a quantized model's output type where it differs from its input's
    data_note: str = ""
    extra: dict = field(default_factory=dict)


def model_info(job: ExportJob) -> md.ModelInfo:
    """The standard metadata for ``job``: image input with its normalization, labels file."""
    labels = md.AssociatedFile(
        "labels.txt", ("\n".join(job.labels) + "\n").encode(),
        md.FileType.TENSOR_VALUE_LABELS if job.task == "detection" else md.FileType.TENSOR_AXIS_LABELS,
        "Class names, one per line, line number = class id.")
    color = md.ColorSpace.GRAYSCALE if job.grayscale else md.ColorSpace.RGB
    image = md.TensorInfo(
        "image", "Input image: uint8 pixels (float models: (pixel - mean) / std).",
        mean=(job.mean,), std=(job.std,), color_space=color, stats=(0.0, 255.0))
    if job.task == "detection":
        outputs = (
            md.TensorInfo("location", "Boxes ymin, xmin, ymax, xmax, normalized to the input.",
                          bounding_box=True, value_range=(2, 2)),
            md.TensorInfo("category", "Class id of each box.", value_range=(2, 2), files=(labels,)),
            md.TensorInfo("score", "Score of each box.", value_range=(2, 2)),
            md.TensorInfo("number of detections", "How many boxes are valid."),
        )
    elif job.task == "segmentation":
        outputs = (md.TensorInfo("segmentation_masks", "Per-pixel class scores [1, H, W, C].", files=(labels,)),)
    else:
        outputs = (md.TensorInfo("probability", "Class probabilities.", files=(labels,)),)
    return md.ModelInfo(name=job.name, description=job.description, version=job.version,
                        inputs=(image,), outputs=outputs)


def convert_with_metadata(model, job: ExportJob, quantization: str, io_dtype: str = "uint8") -> bytes:
    """TFLite bytes of ``model`` in ``quantization``, with the job's metadata populated."""
    from export.convert import convert

    if quantization == "int8" and len(job.representative) < MIN_CALIBRATION_IMAGES:
        from edgevision.errors import UsageError

        raise UsageError(f"calibration set too small: {len(job.representative)} images, int8 needs "
                         f"at least {MIN_CALIBRATION_IMAGES} from the training data")
    normalized = ((np.asarray(im, np.float32) - job.mean) / job.std for im in job.representative)
    tflite = convert(model, quantization=quantization,
                     representative_images=normalized if quantization == "int8" else None,
                     io_dtype=io_dtype, output_dtype=job.output_dtype, postprocess=job.postprocess,
                     per_channel=job.per_channel)
    return md.populate(tflite, model_info(job))


# -- evaluation -------------------------------------------------------------------------------

def predict(model: LiteModel, task: Task, image: np.ndarray):
    if task == "detection":
        boxes, classes, scores = model.detect(image)
        return metrics.ImageDetections(boxes[:, [1, 0, 3, 2]], scores, classes)
    out = model(image)[0]
    if task == "segmentation":
        return np.argmax(out, axis=-1)
    return out


def evaluate(model: LiteModel, job: ExportJob) -> dict[str, float]:
    held = job.heldout
    preds = [predict(model, job.task, im) for im in held.images]
    if job.task == "classification":
        return {"top1": metrics.top1(np.array([np.argmax(p) for p in preds]), held.labels)}
    if job.task == "detection":
        truths = [metrics.ImageDetections(b, np.ones(len(b)), c) for b, c in zip(held.boxes, held.classes)]
        return metrics.mean_average_precision(preds, truths, len(job.labels))
    num_classes = len(job.labels)
    conf = sum(metrics.confusion(p, m, num_classes) for p, m in zip(preds, held.masks))
    return metrics.mean_iou(conf)


@dataclass
class ExportResult:
    path: Path
    report: dict
    warnings: list[str]


def export_and_report(model, job: ExportJob, out: Path, quantization: str = "int8",
                      report_dir: Path | None = None, io_dtype: str = "uint8",
                      latency_runs: int = 50, samples: int = 4) -> ExportResult:
    """Writes ``out`` (and, with ``report_dir``, ``<name>.report.json|md|png`` there).

    Files appear only when everything before them succeeded: the model is written to a
    temporary name and renamed at the end.
    """
    quantized = convert_with_metadata(model, job, quantization, io_dtype)
    written = LiteModel(quantized, job.mean, job.std)
    report: dict = {
        "model": out.name, "task": job.task, "quantization": quantization,
        # as the file has them (a detector's outputs stay float32 whatever io_dtype says)
        "io_dtype": np.dtype(written.input["dtype"]).name, "output_dtype": np.dtype(written.outputs[0]["dtype"]).name,
        "labels": job.labels, "normalization": {"mean": job.mean, "std": job.std},
        "data": job.data_note, **job.extra,
    }
    warnings: list[str] = []
    if report_dir is not None:
        reference = quantized if quantization == "float32" else convert_with_metadata(model, job, "float32")
        report["size_bytes"] = {"float32": len(reference), quantization: len(quantized)}
        report["size_ratio"] = len(quantized) / len(reference)
        models = {"float32": LiteModel(reference, job.mean, job.std)}
        if quantization != "float32":
            models[quantization] = written
        probe = job.heldout.images[0] if job.heldout else job.representative[0]
        latency = invoke_latency_ms(models, probe, runs=latency_runs)
        report["latency"] = {"runner": "ai_edge_litert Interpreter, XNNPACK, 1 thread", "cpu": cpu_description(),
                             **latency}
        if quantization != "float32":
            report["speedup_vs_float32"] = latency["float32"]["median_ms"] / latency[quantization]["median_ms"]
        if job.heldout is not None:
            report["heldout_images"] = len(job.heldout)
            report["accuracy"] = {name: evaluate(m, job) for name, m in models.items()}
            warnings += accuracy_warnings(job.task, report["accuracy"], quantization)
        report["edgetpu"] = edgetpu_check(quantized)
        report["warnings"] = warnings
        report_dir.mkdir(parents=True, exist_ok=True)
        stem = report_dir / Path(out.name).stem
        from export.report import write_markdown, write_samples

        if job.heldout is not None:
            write_samples(models, job, stem.with_suffix(".report.png"), samples)
            report["samples_png"] = stem.with_suffix(".report.png").name
        stem.with_suffix(".report.json").write_text(json.dumps(_finite(report), indent=2) + "\n")
        write_markdown(report, stem.with_suffix(".report.md"))
        for w in warnings:
            log.warning(w)
            print(f"WARNING: {w}", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(quantized)
    tmp.replace(out)
    return ExportResult(out, report, warnings)


def _finite(value):
    """JSON has no NaN: classes absent from the held-out split are reported as null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def accuracy_warnings(task: Task, accuracy: dict[str, dict[str, float]], quantization: str) -> list[str]:
    if quantization == "float32":
        return []
    key = MAIN_METRIC[task]
    loss = 100 * (accuracy["float32"][key] - accuracy[quantization][key])
    limit = INT8_TOLERANCE[task]
    if loss > limit:
        return [f"{quantization} loses {loss:.2f} points of {key} against float32 "
                f"({100 * accuracy['float32'][key]:.2f} -> {100 * accuracy[quantization][key]:.2f}); "
                f"the limit is {limit} points"]
    return []


def edgetpu_check(model: bytes) -> dict:
    """Whether every op computes in integers, as the Edge TPU compiler needs.

    The SSD post-processing op is exempt: it runs on the CPU after the TPU part in every
    published Edge TPU detector.
    """
    from export.litert import DETECTION_OP, op_types

    float_ops = []
    for op in op_types(model):
        if op["op"] == DETECTION_OP:
            continue
        types = op["inputs"] + op["outputs"]
        if op["op"] in ("QUANTIZE", "DEQUANTIZE") and any(t in ("int8", "uint8") for t in types):
            continue  # converting the I/O at the edges of the graph
        if any(t.startswith("float") for t in types):
            float_ops.append(op["op"])
    return {"all_integer": not float_ops, "float_ops": sorted(set(float_ops))}
