"""The published per-frame JSON object (schema ``edgevision/schema/frame.schema.json``).

The same dictionary goes to stdout, MQTT and the HTTP API; it is built once per frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from edgevision.core import (
    Classifications,
    Detections,
    FrameResult,
    Labels,
    ModelResult,
    Segmentation,
)

SCHEMA_VERSION = 1
MIN_POLYGON_AREA_PX = 16


def frame_payload(result: FrameResult, polygons: bool = False) -> dict:
    frame = result.frame
    return {
        "schema_version": SCHEMA_VERSION,
        "camera": frame.camera,
        "frame_index": frame.index,
        "timestamp": round(frame.timestamp, 6),
        "width": frame.width,
        "height": frame.height,
        "models": [model_payload(r, polygons) for r in result.results],
        "timings_ms": {k: round(v, 3) for k, v in result.timings_ms.items()},
    }


def model_payload(result: ModelResult, polygons: bool = False) -> dict:
    prediction = result.prediction
    body: dict = {"name": result.model}
    if isinstance(prediction, Detections):
        body["task"] = "detection"
        body["detections"] = detections_payload(prediction, result.labels)
    elif isinstance(prediction, Classifications):
        body["task"] = "classification"
        body["classes"] = [
            {"label": result.labels[c], "class_id": int(c), "score": round(float(s), 4)}
            for c, s in zip(prediction.class_ids, prediction.scores)
        ]
    elif isinstance(prediction, Segmentation):
        body["task"] = "segmentation"
        body["areas"] = {
            result.labels[c]: round(f, 5) for c, f in prediction.area_fractions().items()
        }
        if polygons:
            body["polygons"] = segmentation_polygons(prediction, result.labels)
    else:
        raise TypeError(f"unknown prediction type {type(prediction).__name__}")
    body["timings_ms"] = {k: round(v, 3) for k, v in result.timings_ms.items()}
    return body


def detections_payload(detections: Detections, labels: Labels) -> list[dict]:
    boxes = np.round(detections.xyxy, 1).tolist()
    items = []
    for i, (box, score, class_id) in enumerate(zip(boxes, detections.scores, detections.class_ids)):
        item = {
            "label": labels[class_id],
            "class_id": int(class_id),
            "score": round(float(score), 4),
            "box": box,
        }
        if detections.track_ids is not None:
            item["track_id"] = int(detections.track_ids[i])
        items.append(item)
    return items


def segmentation_polygons(segmentation: Segmentation, labels: Labels) -> dict[str, list]:
    """Outer contours per class (background, class 0, left out), simplified to ~1 px."""
    polygons: dict[str, list] = {}
    for class_id in np.unique(segmentation.class_map):
        if class_id == 0:
            continue
        mask = (segmentation.class_map == class_id).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        shapes = [
            cv2.approxPolyDP(c, 1.0, True).reshape(-1, 2).tolist()
            for c in contours
            if cv2.contourArea(c) >= MIN_POLYGON_AREA_PX
        ]
        if shapes:
            polygons[labels[int(class_id)]] = shapes
    return polygons
