"""Resizing class maps so that they stay aligned with the images resized beside them."""

from __future__ import annotations

import cv2
import numpy as np


def resize_class_map(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """``mask`` (``HxW`` class ids) resized to ``width x height``: each pixel takes the class that
    covers most of its footprint (ties go to the lower id), as ``INTER_AREA`` averages the image.

    OpenCV's ``INTER_NEAREST`` samples the top-left source pixel of each footprint, so a 240 ->
    160 map lies a third of a pixel up and left of its image on average, alternating with the
    pixel's parity; even a perfect model of the image scores mIoU 0.94 against such a map."""
    classes = np.unique(mask)
    if len(classes) == 1:
        return np.full((height, width), classes[0], mask.dtype)
    shares = np.stack([cv2.resize((mask == c).astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
                       for c in classes])
    return classes[np.argmax(shares, axis=0)].astype(mask.dtype)
