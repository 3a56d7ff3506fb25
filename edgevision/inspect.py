"""``edgevision inspect``: what a model file holds and how edgevision would run it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from edgevision.decoders.base import ModelInfo
from edgevision.decoders.select import select_decoder
from edgevision.errors import ModelError
from edgevision.inference.labels import load_labels
from edgevision.inference.modelfile import read_model_file
from edgevision.inference.tensors import TensorSpec
from edgevision.runtime import delegates, litert

_FLOAT_TYPES = {"float32", "float16"}


def _ops(interpreter: Any) -> list[dict]:
    try:
        return list(interpreter._get_ops_details())  # the runtime's only op listing
    except AttributeError:
        return []


def _integer_only(interpreter: Any, ops: list[dict]) -> bool:
    """True when every op works on integer tensors (what the Edge TPU compiler needs).

    The SSD post-processing op runs on the CPU on Coral too, so it and the DEQUANTIZE ops
    that only feed it may be float.
    """
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    postprocess_inputs = {
        index for op in ops if op["op_name"] == "TFLite_Detection_PostProcess" for index in op["inputs"]
    }
    for op in ops:
        if op["op_name"] in ("TFLite_Detection_PostProcess", "DELEGATE"):
            continue
        if op["op_name"] == "DEQUANTIZE" and set(op["outputs"]) <= postprocess_inputs:
            continue
        for index in [*op["inputs"], *op["outputs"]]:
            if index >= 0 and index in details and np.dtype(details[index]["dtype"]).name in _FLOAT_TYPES:
                return False
    return True


def describe_model(path: Path, labels: Path | None = None, delegate: str | None = None) -> dict:
    model_file = read_model_file(path)
    interpreter = litert.make_interpreter(str(path), None, None)
    try:
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as exc:
        raise ModelError(f"model {path} cannot be allocated ({str(exc).splitlines()[0]}); re-export it") from exc
    inputs = tuple(TensorSpec.from_details(d) for d in interpreter.get_input_details())
    outputs = tuple(TensorSpec.from_details(d) for d in interpreter.get_output_details())
    metadata = model_file.metadata
    label_names = load_labels(labels).as_dict() if labels else (
        {i: n for i, n in enumerate(metadata.labels)} if metadata and metadata.labels else {}
    )
    info = ModelInfo(
        inputs=inputs,
        outputs=outputs,
        custom_ops=model_file.custom_ops,
        op_outputs=model_file.op_outputs,
        op_options=model_file.op_options,
        num_labels=len(label_names),
    )
    try:
        decoder = select_decoder(info, metadata)
        family: dict[str, Any] = {"family": type(decoder).__name__, "task": decoder.task, "resize": decoder.resize}
    except ModelError as exc:
        family = {"family": None, "task": None, "error": str(exc)}
    ops = _ops(interpreter)
    integer_only = _integer_only(interpreter, ops)
    report: dict[str, Any] = {
        "path": str(path),
        "size_bytes": path.stat().st_size,
        "runtime": litert.runtime_name(),
        "inputs": [_tensor(s) for s in inputs],
        "outputs": [_tensor(s) for s in outputs],
        **family,
        "custom_ops": list(model_file.custom_ops),
        "metadata": None if metadata is None else {
            "name": metadata.name,
            "description": metadata.description,
            "version": metadata.version,
            "mean": metadata.mean,
            "std": metadata.std,
        },
        "labels": {str(k): v for k, v in label_names.items()},
        "ops": sorted({op["op_name"] for op in ops}),
        "integer_only": integer_only,
        "delegates": {
            "edgetpu": "compiled for the Edge TPU" if "edgetpu-custom-op" in model_file.custom_ops
            else ("integer-only: run edgetpu_compiler on it first" if integer_only
                  else "not integer-only: the Edge TPU would run none of it; export with --int8"),
        },
    }
    if delegate:
        choice = delegates.load(delegate, "cpu")
        report["delegates"][delegate] = "loads on this machine" if choice.delegate else "library not found here"
    return report


def _tensor(spec: TensorSpec) -> dict:
    return {
        "name": spec.name,
        "shape": list(spec.shape),
        "dtype": spec.dtype.name,
        "quantization": {"scale": spec.scale, "zero_point": spec.zero_point} if spec.quantized else None,
    }


def inspect_model(path: Path, as_json: bool, labels: Path | None, delegate: str | None) -> None:
    report = describe_model(path, labels, delegate)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    lines = [f"model     {report['path']} ({report['size_bytes']:,} bytes, runtime {report['runtime']})"]
    for kind in ("inputs", "outputs"):
        for t in report[kind]:
            q = t["quantization"]
            qs = f" scale={q['scale']:.6g} zero_point={q['zero_point']}" if q else ""
            lines.append(f"{kind[:-1]:<9} {t['name']} {t['shape']} {t['dtype']}{qs}")
    lines.append(f"family    {report['family'] or 'unknown'} ({report['task'] or report.get('error')})")
    if report["metadata"]:
        m = report["metadata"]
        lines.append(f"metadata  {m['name']!r} v{m['version']} mean={m['mean']} std={m['std']}")
    if report["labels"]:
        labels_text = ", ".join(list(report["labels"].values())[:12])
        more = " ..." if len(report["labels"]) > 12 else ""
        lines.append(f"labels    {len(report['labels'])}: {labels_text}{more}")
    else:
        lines.append("labels    none in the model: pass --labels FILE to name classes")
    lines.append(f"ops       {', '.join(report['ops'])}")
    for name, verdict in report["delegates"].items():
        lines.append(f"delegate  {name}: {verdict}")
    click.echo("\n".join(lines))
