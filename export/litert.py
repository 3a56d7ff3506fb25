"""Runs exported models with LiteRT's interpreter (XNNPACK on, as on a device) for checks,
accuracy and latency. Feeds raw pixels: normalization and quantization happen here."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import numpy as np

DETECTION_OP = "TFLite_Detection_PostProcess"


class LiteModel:
    """One interpreter for one model; ``mean``/``std`` normalize pixels as in training."""

    def __init__(self, model: bytes, mean: float, std: float, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._bytes = model  # the interpreter reads from this buffer: keep it alive
        self.interpreter = Interpreter(model_content=model, num_threads=num_threads)
        self.interpreter.allocate_tensors()
        self.mean, self.std = mean, std
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_output_details()
        self.ops = [op["op_name"] for op in self.interpreter._get_ops_details()]
        self.detection_outputs = None
        for op in self.interpreter._get_ops_details():
            if op["op_name"] == DETECTION_OP:
                self.detection_outputs = [int(i) for i in op["outputs"]]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.input["shape"])

    def _quantize_input(self, pixels: np.ndarray) -> np.ndarray:
        x = (pixels.astype(np.float32) - self.mean) / self.std
        dtype = self.input["dtype"]
        scale, zero_point = self.input["quantization"]
        if np.issubdtype(dtype, np.integer) and scale:
            info = np.iinfo(dtype)
            return np.clip(np.round(x / scale + zero_point), info.min, info.max).astype(dtype)
        return x.astype(dtype)

    def invoke(self, pixels: np.ndarray) -> None:
        """Sets the input from ``pixels`` (``[H, W, C]`` as the model takes it) and invokes."""
        self.interpreter.set_tensor(self.input["index"], self._quantize_input(pixels)[np.newaxis])
        self.interpreter.invoke()

    def output(self, detail: dict) -> np.ndarray:
        value = self.interpreter.get_tensor(detail["index"])
        scale, zero_point = detail["quantization"]
        if np.issubdtype(value.dtype, np.integer) and scale:
            return (value.astype(np.float32) - zero_point) * scale
        return value

    def __call__(self, pixels: np.ndarray) -> list[np.ndarray]:
        """Dequantized outputs in the order of ``get_output_details`` (batch dim dropped)."""
        self.invoke(pixels)
        return [self.output(d)[0] for d in self.outputs]

    def detect(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For SSD models: (boxes ``[N, 4]`` ymin, xmin, ymax, xmax normalized, classes, scores),
        the tensors taken from the post-processing op's outputs, not their positions."""
        if self.detection_outputs is None:
            raise ValueError(f"model has no {DETECTION_OP} op")
        self.invoke(pixels)
        boxes, classes, scores, count = (self.interpreter.get_tensor(i) for i in self.detection_outputs)
        n = int(np.asarray(count).ravel()[0])
        return boxes[0, :n], classes[0, :n].astype(np.int64), scores[0, :n]


def invoke_latency_ms(models: dict[str, LiteModel], pixels: np.ndarray, runs: int = 50,
                      warmup: int = 5) -> dict[str, dict[str, float]]:
    """Median and best ``invoke()`` time per model, interleaving the models run by run so a
    busy machine slows them alike."""
    for m in models.values():
        m.interpreter.set_tensor(m.input["index"], m._quantize_input(pixels)[np.newaxis])
        for _ in range(warmup):
            m.interpreter.invoke()
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(runs):
        for name, m in models.items():
            t0 = time.perf_counter()
            m.interpreter.invoke()
            times[name].append((time.perf_counter() - t0) * 1000)
    return {name: {"median_ms": float(np.median(t)), "min_ms": float(np.min(t))} for name, t in times.items()}


# CPU flags for integer dot products, the instructions that make int8 kernels faster than float32.
DOT_PRODUCT_FLAGS = ("avx512_vnni", "avx_vnni", "asimddp", "dotprod")


def cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict:
    """The CPU's model name and the SIMD features that decide int8 vs float32 kernels
    (``simd`` is None where ``cpuinfo`` cannot be read)."""
    try:
        lines = cpuinfo.read_text().splitlines()
    except OSError:
        return {"model": platform.processor(), "simd": None}

    def field(*names: str) -> str:
        return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(names)), "")

    flags = field("flags", "Features").split()
    simd = sorted(f for f in flags if f.startswith(("avx", "asimd", "sve")) or f in ("fma", "dotprod", "i8mm"))
    return {"model": field("model name", "Model", "Hardware") or platform.processor(), "simd": simd}


def cpu_description(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU that timed the models, named with its integer dot-product support: on x86
    without VNNI, XNNPACK's int8 kernels are no faster than its float32 ones, so a speed-up
    measured on one machine says little about another."""
    info = cpu_features(cpuinfo)
    name = ", ".join(part for part in (info["model"], platform.machine(), f"{os.cpu_count()} cores") if part)
    if info["simd"] is None:
        return name
    dot = [f for f in DOT_PRODUCT_FLAGS if f in info["simd"]]
    return f"{name}, integer dot products: {'/'.join(dot) if dot else 'none'}"


def op_types(model: bytes) -> list[dict]:
    """Every op of the model: name and the types of its input and output tensors."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    out = []
    for op in interpreter._get_ops_details():
        def types(ids):
            return [np.dtype(tensors[i]["dtype"]).name for i in ids if i >= 0 and i in tensors]
        out.append({"op": op["op_name"], "inputs": types(op["inputs"]), "outputs": types(op["outputs"])})
    return out
