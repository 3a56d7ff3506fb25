"""Object tracking: ids that persist across frames, and the events they make."""

from edgevision.tracking.events import EventBuilder
from edgevision.tracking.hook import TrackFrames
from edgevision.tracking.iou_tracker import IouTracker, Track

__all__ = ["EventBuilder", "IouTracker", "Track", "TrackFrames"]
