"""Image classifiers with one ``[1, C]`` output, including 1001-class models whose class 0 is
"background"."""

from __future__ import annotations

import numpy as np

from edgevision.core import Classifications
from edgevision.decoders.base import InputTransform, ModelInfo
from edgevision.inference.tensors import TensorSpec

IMAGENET_WITH_BACKGROUND = 1001


def _as_probabilities(values: np.ndarray) -> np.ndarray:
    """Softmax only when the model emits logits; probabilities (softmax or sigmoid) pass as is."""
    if values.min() >= -1e-3 and values.max() <= 1.0 + 1e-3:
        return values
    exp = np.exp(values - values.max())
    return exp / exp.sum()


class ClassificationDecoder:
    """Top-k classes, best first.

    A background column 0 (``C == num_labels + 1``, or 1001 outputs) is never reported. When
    the labels do not name it (1000 ImageNet labels, or none) ids shift down by one so that
    they index those labels; when the labels include it (1001 labels) ids stay as they are.
    """

    task = "classification"
    resize = "stretch"

    def __init__(self, info: ModelInfo, output: TensorSpec, top_k: int = 5) -> None:
        self.output = output.index
        channels = int(np.prod(output.shape[1:]))
        labels = info.num_labels
        imagenet = channels == IMAGENET_WITH_BACKGROUND
        background = channels == labels + 1 or (imagenet and labels != channels)
        self.first = 1 if background or imagenet else 0
        self.id_offset = 1 if background else 0
        self.num_classes = channels - self.id_offset
        self.top_k = top_k

    def decode(self, outputs: dict[int, np.ndarray], transform: InputTransform) -> Classifications:
        probs = _as_probabilities(outputs[self.output].reshape(-1))[self.first :]
        k = min(self.top_k, len(probs))
        top = np.argpartition(-probs, k - 1)[:k]
        top = top[np.argsort(-probs[top], kind="stable")]
        return Classifications(
            class_ids=(top + self.first - self.id_offset).astype(np.int32),
            scores=probs[top].astype(np.float32),
        )
