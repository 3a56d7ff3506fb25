"""A loaded TFLite model: interpreter, preprocessor and decoder, built once and reused for
every frame."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgevision.core import Labels, ModelResult
from edgevision.decoders.base import Decoder, ModelInfo
from edgevision.decoders.select import select_decoder
from edgevision.errors import ModelError
from edgevision.inference.labels import check_label_count, load_labels
from edgevision.inference.modelfile import ModelFile, read_model_file
from edgevision.inference.preprocess import Preprocessor
from edgevision.inference.tensors import TensorSpec
from edgevision.runtime import delegates, litert

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelOptions:
    """How to load and decode one model; every field has a sensible default."""

    labels_path: Path | None = None
    threads: int | None = None
    delegate: str | None = None
    delegate_fallback: delegates.FallbackPolicy = "cpu"
    family: str | None = None
    score_threshold: float | None = None
    iou_threshold: float | None = None
    agnostic_nms: bool | None = None
    max_detections: int | None = None
    top_k: int | None = None

    def decoder_kwargs(self) -> dict[str, float | int]:
        names = ("score_threshold", "iou_threshold", "agnostic_nms", "max_detections", "top_k")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


class Model:
    """Runs frames through one TFLite model and returns decoded, labelled predictions."""

    def __init__(self, path: str | Path, options: ModelOptions | None = None) -> None:
        options = options or ModelOptions()
        self.path = Path(path)
        self._lock = threading.Lock()
        self.file: ModelFile = read_model_file(self.path)
        self.name = (self.file.metadata.name if self.file.metadata and self.file.metadata.name else None) or self.path.stem
        self.delegate = delegates.load(options.delegate, options.delegate_fallback)
        self._interpreter = self._make_interpreter(options)
        self.inputs = tuple(TensorSpec.from_details(d) for d in self._interpreter.get_input_details())
        self._input_tensor = self._interpreter.tensor(self.inputs[0].index)
        self.outputs = tuple(TensorSpec.from_details(d) for d in self._interpreter.get_output_details())
        self.labels = self._labels(options.labels_path)
        self.info = ModelInfo(
            inputs=self.inputs,
            outputs=self.outputs,
            custom_ops=self.file.custom_ops,
            op_outputs=self.file.op_outputs,
            op_options=self.file.op_options,
            num_labels=len(self.labels),
        )
        self.decoder: Decoder = select_decoder(
            self.info, self.file.metadata, options.family, **options.decoder_kwargs()
        )
        if self.labels:
            check_label_count(self.labels, self.info, self.decoder, self._labels_origin)
        metadata = self.file.metadata
        self.preprocessor = Preprocessor(
            self.inputs[0],
            self.decoder.resize,
            metadata.mean if metadata else None,
            metadata.std if metadata else None,
        )
        log.info(
            "model %s: %s, %s input %s, on %s",
            self.name,
            self.decoder.task,
            self.inputs[0].dtype.name,
            list(self.inputs[0].shape),
            self.delegate.description,
        )

    def _make_interpreter(self, options: ModelOptions):
        attached = [self.delegate.delegate] if self.delegate.delegate is not None else None
        try:
            interpreter = litert.make_interpreter(str(self.path), options.threads, attached)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            if attached is None:
                raise ModelError(
                    f"model {self.path} could not be loaded by the TFLite runtime "
                    f"({str(exc).splitlines()[0]}); re-export it or check it with 'edgevision inspect'"
                ) from exc
            if options.delegate_fallback == "fail":
                raise ModelError(
                    f"delegate '{options.delegate}' cannot run model {self.path} "
                    f"({str(exc).splitlines()[0]}); use --delegate-fallback cpu"
                ) from exc
            log.warning("delegate '%s' cannot run %s; running on CPU", options.delegate, self.path.name)
            self.delegate = delegates.DelegateChoice(options.delegate, None, None)
            return self._make_interpreter(ModelOptions(threads=options.threads))
        return interpreter

    def _labels(self, labels_path: Path | None) -> Labels:
        if labels_path is not None:
            self._labels_origin = str(labels_path)
            return load_labels(labels_path)
        self._labels_origin = f"metadata of {self.path}"
        if self.file.metadata and self.file.metadata.labels:
            return Labels(
                {i: name for i, name in enumerate(self.file.metadata.labels) if name and name != "???"}
            )
        return Labels()

    @property
    def task(self) -> str:
        return self.decoder.task

    def predict(self, image_bgr: np.ndarray) -> ModelResult:
        """Decode one BGR frame; boxes and maps come back in the frame's own pixels.

        Cameras share models, and an interpreter runs one frame at a time: hence the lock.
        """
        with self._lock:
            return self._predict(image_bgr)

    def _predict(self, image_bgr: np.ndarray) -> ModelResult:
        t0 = time.perf_counter()
        # Straight into the input tensor; the view must be gone before invoke() runs.
        transform = self.preprocessor(image_bgr, out=self._input_tensor())[1]
        t1 = time.perf_counter()
        self._interpreter.invoke()
        t2 = time.perf_counter()
        outputs = {s.index: s.dequantize(self._interpreter.get_tensor(s.index)) for s in self.outputs}
        prediction = self.decoder.decode(outputs, transform)
        t3 = time.perf_counter()
        timings = {
            "preprocess": (t1 - t0) * 1e3,
            "invoke": (t2 - t1) * 1e3,
            "decode": (t3 - t2) * 1e3,
        }
        return ModelResult(self.name, prediction, self.labels, timings)
