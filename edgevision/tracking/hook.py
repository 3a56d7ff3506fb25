"""A pipeline hook that gives every detection model's output persistent track ids."""

from __future__ import annotations

import dataclasses

from edgevision.core import Detections, FrameResult
from edgevision.tracking.iou_tracker import IouTracker


class TrackFrames:
    """``Pipeline(hooks=[TrackFrames()])``: one :class:`IouTracker` per camera and model.

    Sinks then see ``track_ids`` (``-1`` while a track is unconfirmed); the MQTT sink's
    :class:`~edgevision.tracking.events.EventBuilder` ends an object after the same number of
    missed frames as the tracker's ``max_age`` (keep both at their defaults).
    """

    def __init__(self, **tracker_options: float) -> None:
        self._options = tracker_options
        self._trackers: dict[tuple[str, str], IouTracker] = {}

    def __call__(self, result: FrameResult) -> FrameResult:
        tracked = []
        for model_result in result.results:
            prediction = model_result.prediction
            if isinstance(prediction, Detections) and prediction.track_ids is None:
                key = (result.frame.camera, model_result.model)
                tracker = self._trackers.get(key)
                if tracker is None:
                    tracker = self._trackers[key] = IouTracker(**self._options)  # type: ignore[arg-type]
                prediction, _ = tracker.update(prediction, result.frame.timestamp)
                model_result = dataclasses.replace(model_result, prediction=prediction)
            tracked.append(model_result)
        return dataclasses.replace(result, results=tuple(tracked))
