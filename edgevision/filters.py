"""Per-camera detection filters from the config: labels to keep and polygon zones."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from edgevision.core import Detections, FrameResult


class CameraFilter:
    """A pipeline hook that drops detections a camera's config does not want.

    ``labels_to_keep`` keeps only those labels. ``zones`` keeps only objects whose box's
    bottom-centre (where it stands) lies inside at least one named polygon, like a driveway.
    """

    def __init__(
        self,
        labels_to_keep: Sequence[str] | None = None,
        zones: Mapping[str, Sequence[Sequence[float]]] | None = None,
    ) -> None:
        self.labels_to_keep = set(labels_to_keep or ())
        self.zones = [np.asarray(points, np.float32).reshape(-1, 1, 2) for points in (zones or {}).values()]

    @property
    def active(self) -> bool:
        return bool(self.labels_to_keep or self.zones)

    def __call__(self, result: FrameResult) -> FrameResult:
        kept = []
        for model_result in result.results:
            detections = model_result.prediction
            if isinstance(detections, Detections) and len(detections):
                keep = np.ones(len(detections), bool)
                if self.labels_to_keep:
                    names = [model_result.labels[c] for c in detections.class_ids]
                    keep &= np.array([name in self.labels_to_keep for name in names])
                if self.zones:
                    keep &= self._in_any_zone(detections.xyxy)
                model_result = dataclasses.replace(model_result, prediction=detections[keep])
            kept.append(model_result)
        return dataclasses.replace(result, results=tuple(kept))

    def _in_any_zone(self, xyxy: np.ndarray) -> np.ndarray:
        feet = np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1)
        inside = np.zeros(len(xyxy), bool)
        for polygon in self.zones:
            inside |= np.array([cv2.pointPolygonTest(polygon, (float(x), float(y)), False) >= 0 for x, y in feet])
        return inside
