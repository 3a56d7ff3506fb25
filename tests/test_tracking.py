"""The IoU tracker and the Frigate-shaped events built from its output, on synthetic box tracks."""

from __future__ import annotations

import time

import numpy as np
import pytest

from edgevision.core import Detections, Labels
from edgevision.tracking import EventBuilder, IouTracker
from edgevision.tracking.iou_tracker import iou_matrix

LABELS = Labels.from_list(["person", "car"])
FRAME = (640, 480)


def dets(*rows: tuple[float, float, float, float, float, int]) -> Detections:
    """Detections from (x1, y1, x2, y2, score, class_id) rows."""
    if not rows:
        return Detections.empty()
    array = np.array(rows, np.float32)
    return Detections(array[:, :4], array[:, 4], array[:, 5].astype(np.int32))


def walking(x: float, y: float = 100.0, size: float = 60.0, score: float = 0.8, cls: int = 0):
    return (x, y, x + size, y + size, score, cls)


def test_iou_matrix_matches_hand_computed_values() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 20, 20]], np.float32)
    b = np.array([[5, 5, 15, 15], [100, 100, 110, 110], [0, 0, 10, 10]], np.float32)
    expected = np.array([[25 / 175, 0.0, 1.0], [100 / 400, 0.0, 100 / 400]])
    np.testing.assert_allclose(iou_matrix(a, b), expected, rtol=1e-6)
    assert iou_matrix(a, np.zeros((0, 4))).shape == (2, 0)


def test_moving_object_keeps_one_id_after_min_hits() -> None:
    tracker = IouTracker(min_hits=3, max_age=2)
    ids = []
    for i in range(10):
        out, ended = tracker.update(dets(walking(10 + 8 * i)), timestamp=float(i))
        ids.append(int(out.track_ids[0]))
        assert ended == []
    assert ids[:2] == [-1, -1]
    assert set(ids[2:]) == {1}
    assert [t.id for t in tracker.tracks] == [1]


def test_track_ends_after_max_age_missed_frames_and_reports_it_once() -> None:
    tracker = IouTracker(min_hits=1, max_age=3)
    tracker.update(dets(walking(10)), 0.0)
    tracker.update(dets(walking(14, score=0.9)), 1.0)
    ended_at = []
    for i in range(2, 10):
        _, ended = tracker.update(Detections.empty(), float(i))
        ended_at += [(i, t.id, t.top_score, t.last_seen) for t in ended]
    assert ended_at == [(5, 1, pytest.approx(0.9), 1.0)]
    assert tracker.tracks == []


def test_one_frame_false_positive_never_gets_an_id() -> None:
    tracker = IouTracker(min_hits=2, max_age=5)
    out, _ = tracker.update(dets(walking(300)), 0.0)
    assert out.track_ids.tolist() == [-1]
    for i in range(1, 4):
        out, ended = tracker.update(Detections.empty(), float(i))
        assert ended == []
    out, _ = tracker.update(dets(walking(300)), 5.0)  # same place, but the streak was broken
    assert out.track_ids.tolist() == [-1]
    assert tracker.tracks == []


def test_missed_frames_of_a_moving_object_are_bridged_by_its_velocity() -> None:
    # 12 px per frame with a 60 px box: after 3 missed frames it is 48 px away (IoU 0.11 with
    # its last box), so only the constant-velocity guess can match it again.
    tracker = IouTracker(min_hits=2, max_age=5, iou_threshold=0.3)
    for i in range(5):
        tracker.update(dets(walking(12 * i)), float(i))
    for i in range(5, 8):
        tracker.update(Detections.empty(), float(i))
    out, ended = tracker.update(dets(walking(12 * 8)), 8.0)
    assert out.track_ids.tolist() == [1]
    assert ended == []


def test_objects_of_different_classes_do_not_steal_each_others_ids() -> None:
    tracker = IouTracker(min_hits=1, max_age=2)
    first, _ = tracker.update(dets(walking(100, cls=0), walking(105, cls=1)), 0.0)
    person, car = first.track_ids.tolist()
    for i in range(1, 6):
        # The car slides over the person's place and the person over the car's.
        out, _ = tracker.update(dets(walking(105 - i, cls=1), walking(100 + i, cls=0)), float(i))
        assert out.track_ids.tolist() == [car, person]


def test_two_people_walking_apart_keep_their_ids() -> None:
    tracker = IouTracker(min_hits=1, max_age=2)
    for i in range(15):
        out, _ = tracker.update(dets(walking(200 - 10 * i), walking(260 + 10 * i)), float(i))
        assert out.track_ids.tolist() == [1, 2]


def test_arguments_are_validated_with_their_names() -> None:
    with pytest.raises(ValueError, match="iou_threshold"):
        IouTracker(iou_threshold=0.0)
    with pytest.raises(ValueError, match="min_hits"):
        IouTracker(min_hits=0)
    with pytest.raises(ValueError, match="max_age"):
        IouTracker(max_age=-1)


def test_update_with_many_objects_is_fast() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1800, (100, 2)).astype(np.float32)
    boxes = np.concatenate([xy, xy + 40], axis=1)
    tracker = IouTracker(min_hits=1)
    frame = Detections(boxes, np.full(100, 0.9, np.float32), np.zeros(100, np.int32))
    tracker.update(frame, 0.0)
    start = time.perf_counter()
    for i in range(1, 21):
        shifted = Detections(boxes + i, frame.scores, frame.class_ids)
        out, _ = tracker.update(shifted, float(i))
    per_frame_ms = (time.perf_counter() - start) / 20 * 1e3
    assert len(set(out.track_ids.tolist())) == 100 and out.track_ids.min() >= 1
    assert per_frame_ms < 20, per_frame_ms


def run_clip(builder: EventBuilder, tracker: IouTracker, frames: list[Detections], fps: float = 10.0):
    """Feed frames through tracker and builder; return (frame index, event) pairs."""
    events = []
    for i, frame in enumerate(frames):
        tracked, ended = tracker.update(frame, i / fps)
        for event in builder.update(tracked, i / fps, FRAME, [t.id for t in ended]):
            events.append((i, event))
    return events


def test_object_entering_and_leaving_makes_one_new_and_one_end_event() -> None:
    # Frames 0-4 empty, a person walks in at frame 5 and is last seen at frame 24.
    frames = [Detections.empty()] * 5
    frames += [dets(walking(5 * i, score=0.6 + 0.01 * i)) for i in range(20)]
    frames += [Detections.empty()] * 10
    tracker = IouTracker(min_hits=3, max_age=4)
    events = run_clip(EventBuilder("porch", LABELS, max_missed=4), tracker, frames)

    kinds = [e["type"] for _, e in events]
    assert kinds[0] == "new" and kinds[-1] == "end"
    assert kinds.count("new") == 1 and kinds.count("end") == 1
    assert set(kinds[1:-1]) <= {"update"}
    assert len({e["after"]["id"] for _, e in events}) == 1

    new_at, new = events[0]
    assert new_at == 7  # confirmed on its third frame
    assert new["before"] == new["after"]
    after = new["after"]
    assert after["camera"] == "porch" and after["label"] == "person"
    assert after["end_time"] is None and after["active"] is True
    assert after["box"] == [10, 100, 70, 160]
    assert after["area"] == 3600 and after["ratio"] == 1.0 and after["region"] == [0, 0, 640, 480]
    assert after["start_time"] == pytest.approx(0.7) and after["frame_time"] == pytest.approx(0.7)

    end_at, end = events[-1]
    assert end_at == 24 + 4 + 1
    assert end["after"]["end_time"] == pytest.approx(2.4)  # when it was last seen, not when we gave up
    assert end["after"]["frame_time"] == pytest.approx(2.4)
    assert end["after"]["top_score"] == pytest.approx(0.79) and end["after"]["active"] is False
    assert end["before"] == events[-2][1]["after"]
    for (_, previous), (_, current) in zip(events, events[1:]):
        assert current["before"] == previous["after"]


def test_updates_are_rate_limited_per_object() -> None:
    # 30 fps for 4 s, the score rising every frame: without a limit that is 120 updates.
    frames = [dets(walking(2 * i, score=0.5 + 0.004 * i)) for i in range(120)]
    tracker = IouTracker(min_hits=1, max_age=2)
    builder = EventBuilder("yard", LABELS, update_interval_s=1.0)
    events = run_clip(builder, tracker, frames, fps=30.0)
    updates = [e for _, e in events if e["type"] == "update"]
    assert 3 <= len(updates) <= 4
    times = [e["after"]["frame_time"] for e in updates]
    assert all(b - a >= 1.0 - 1e-6 for a, b in zip(times, times[1:]))
    assert updates[-1]["after"]["top_score"] > updates[0]["after"]["top_score"]


def test_still_object_with_steady_score_sends_no_updates() -> None:
    frames = [dets(walking(100, score=0.7)) for _ in range(50)]
    events = run_clip(EventBuilder("yard", LABELS), IouTracker(min_hits=1), frames)
    assert [e["type"] for _, e in events] == ["new"]


def test_builder_ends_objects_by_missing_frames_without_tracker_help() -> None:
    builder = EventBuilder("yard", LABELS, max_missed=2)
    tracked = dets(walking(100)).with_track_ids(np.array([7]))
    assert [e["type"] for e in builder.update(tracked, 0.0, FRAME)] == ["new"]
    kinds = [[e["type"] for e in builder.update(Detections.empty(), t, FRAME)] for t in (1.0, 2.0, 3.0)]
    assert kinds == [[], [], ["end"]]
    assert builder.active == 0


def test_finish_ends_every_open_event_and_unconfirmed_tracks_make_none() -> None:
    builder = EventBuilder("yard", LABELS)
    tracked = dets(walking(0), walking(200, cls=1), walking(400)).with_track_ids(np.array([1, 2, -1]))
    new = builder.update(tracked, 5.0, FRAME)
    assert sorted(e["after"]["label"] for e in new) == ["car", "person"]
    end = builder.finish()
    assert [e["type"] for e in end] == ["end", "end"]
    assert all(e["after"]["end_time"] == 5.0 for e in end)
    assert builder.finish() == []


def test_track_frames_hook_tracks_each_camera_and_model_separately() -> None:
    from edgevision.core import Frame, FrameResult, ModelResult
    from edgevision.tracking import TrackFrames

    hook = TrackFrames(min_hits=1)
    image = np.zeros((480, 640, 3), np.uint8)
    for i in range(3):
        results = []
        for camera in ("a", "b"):
            frame = Frame(image, i, float(i), camera)
            models = (
                ModelResult("det", dets(walking(10 + 5 * i)), LABELS),
                ModelResult("det2", dets(walking(300), walking(10 + 5 * i)), LABELS),
            )
            results.append(hook(FrameResult(frame, models)))
    for result in results:
        first, second = (r.prediction.track_ids.tolist() for r in result.results)
        assert first == [1] and second == [1, 2]  # ids are per camera and model
    assert results[0].results[0].labels is LABELS
