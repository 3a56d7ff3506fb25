"""Drawing boxes, masks, classes and the info line on real frames; the source frame stays intact."""

from __future__ import annotations

import numpy as np
import pytest

from edgevision.core import Classifications, Detections, Frame, FrameResult, Labels, ModelResult, Segmentation
from edgevision.sinks.draw import (
    PALETTE,
    BoxAnnotator,
    SegmentationAnnotator,
    class_color,
    draw_frame_result,
)

GREY = 90
H, W = 240, 320


def frame() -> Frame:
    return Frame(image=np.full((H, W, 3), GREY, np.uint8), index=3, timestamp=0.0, camera="cam")


def detections(boxes: list[list[float]], class_ids: list[int], scores: list[float] | None = None) -> Detections:
    return Detections(
        xyxy=np.array(boxes, np.float32).reshape(-1, 4),
        scores=np.array(scores or [0.9] * len(boxes), np.float32),
        class_ids=np.array(class_ids, np.int32),
    )


def result(*predictions: tuple[str, object, Labels]) -> FrameResult:
    f = frame()
    return FrameResult(f, tuple(ModelResult(name, p, labels) for name, p, labels in predictions))  # type: ignore[arg-type]


def test_palette_is_stable_and_distinct() -> None:
    assert class_color(3) == class_color(3 + len(PALETTE)) == PALETTE[3]
    assert len(set(PALETTE)) == len(PALETTE)


def test_boxes_in_class_colour_and_source_untouched() -> None:
    fr = result(("det", detections([[40, 60, 200, 220], [220, 30, 300, 120]], [1, 4]), Labels({1: "cat", 4: "dog"})))
    out = draw_frame_result(fr.frame.image, fr, fps=None)
    assert (fr.frame.image == GREY).all(), "the source frame was drawn on"
    assert out.shape == fr.frame.image.shape and out.dtype == np.uint8
    assert tuple(out[140, 40]) == class_color(1)  # left edge of the first box
    assert tuple(out[220, 120]) == class_color(1)  # bottom edge
    assert tuple(out[80, 300]) == class_color(4)  # right edge of the second box
    assert tuple(out[150, 120]) == (GREY,) * 3  # inside the box: not filled
    assert tuple(out[230, 10]) == (GREY,) * 3  # far from everything


def test_label_tag_is_drawn_above_the_box() -> None:
    fr = result(("det", detections([[100, 120, 200, 200]], [2]), Labels({2: "person"})))
    out = draw_frame_result(fr.frame.image, fr)
    tag = out[108:120, 100:150]  # a 0.35-scale tag: about 12 px high, 50 px wide
    assert (tag == class_color(2)).all(axis=2).mean() > 0.3  # the filled tag behind the text
    assert (tag != class_color(2)).any()  # with text on it


def test_score_and_track_ids_widen_the_tag() -> None:
    def tag_width(d: Detections, show_score: bool) -> int:
        image = np.full((H, W, 3), GREY, np.uint8)
        BoxAnnotator(show_score=show_score).annotate(image, d, Labels({0: "car"}))
        row = image[110, :]  # through the tag above the box at y=120
        return int((row == class_color(0)).all(axis=1).sum())

    plain = detections([[20, 120, 300, 200]], [0])
    assert tag_width(plain, False) < tag_width(plain, True)
    tracked = plain.with_track_ids(np.array([17]))
    assert tag_width(plain, True) < tag_width(tracked, True)


def test_a_repeated_tag_is_the_same_after_its_frame_is_drawn_over() -> None:
    """Tags are rendered once and copied into frames: drawing on a frame must not change them."""
    fr = result(("det", detections([[100, 120, 200, 200]], [2]), Labels({2: "person"})))
    first = draw_frame_result(fr.frame.image, fr)
    first[100:125, 90:160] = 0  # over the tag
    again = draw_frame_result(fr.frame.image, fr)
    assert (again[108:120, 100:150] == class_color(2)).all(axis=2).mean() > 0.3
    assert np.array_equal(again, draw_frame_result(fr.frame.image, fr))


def test_tags_at_the_frame_edges_stay_whole_inside_it() -> None:
    image = np.full((H, W, 3), GREY, np.uint8)
    BoxAnnotator().annotate(image, detections([[W - 8, H - 6, W - 1, H - 1]], [3]), Labels({3: "bicycle"}))
    tag_rows = np.flatnonzero((image == class_color(3)).all(axis=2).sum(axis=1) > 20)
    assert len(tag_rows) >= 8 and tag_rows.max() <= H - 1
    tag_columns = np.flatnonzero((image == class_color(3)).all(axis=2).any(axis=0))
    assert tag_columns.min() < W - 40  # moved left to fit, not cut off at the right edge


def test_segmentation_blends_class_colours_and_leaves_background() -> None:
    class_map = np.zeros((H, W), np.int32)
    class_map[150:, :100] = 2
    class_map[150:, 200:] = 5
    fr = result(("seg", Segmentation(class_map, 6), Labels.from_list(["bg", "a", "road", "c", "d", "person"])))
    out = draw_frame_result(fr.frame.image, fr)
    opacity = SegmentationAnnotator().opacity
    for (y, x), cls in (((200, 50), 2), ((200, 250), 5)):
        expected = np.round(GREY * (1 - opacity) + np.array(class_color(cls)) * opacity)
        assert np.abs(out[y, x].astype(int) - expected).max() <= 1
    assert tuple(out[200, 150]) == (GREY,) * 3  # background class is not painted
    assert (fr.frame.image == GREY).all()


def test_legend_lists_only_classes_present() -> None:
    class_map = np.zeros((H, W), np.int32)
    class_map[200:, :50] = 3
    image = np.full((H, W, 3), GREY, np.uint8)
    SegmentationAnnotator().annotate(image, Segmentation(class_map, 8), Labels())
    legend = image[:40, W // 2 :]
    assert (legend == class_color(3)).all(axis=2).any()
    for absent in (1, 2, 4, 5, 6, 7):
        assert not (legend == class_color(absent)).all(axis=2).any()
    no_legend = np.full((H, W, 3), GREY, np.uint8)
    SegmentationAnnotator(legend=False).annotate(no_legend, Segmentation(class_map, 8), Labels())
    assert (no_legend[:40, W // 2 :] == GREY).all()


def test_segmentation_map_of_another_size_is_scaled() -> None:
    small = np.zeros((H // 4, W // 4), np.int32)
    small[:, W // 8 :] = 1  # right half
    image = np.full((H, W, 3), GREY, np.uint8)
    SegmentationAnnotator(legend=False).annotate(image, Segmentation(small, 2), Labels())
    assert (image[:, : W // 2 - 2] == GREY).all() and not (image[:, W // 2 + 2 :] == GREY).any()


def test_several_models_on_one_frame() -> None:
    class_map = np.zeros((H, W), np.int32)
    class_map[180:, :] = 1
    fr = result(
        ("seg", Segmentation(class_map, 2), Labels()),
        ("det-a", detections([[30, 40, 120, 160]], [6]), Labels()),
        ("det-b", detections([[180, 40, 300, 160]], [7]), Labels()),
        ("cls", Classifications(np.array([9]), np.array([0.7], np.float32)), Labels()),
    )
    out = draw_frame_result(fr.frame.image, fr, fps=30.0)
    assert tuple(out[100, 30]) == class_color(6)
    assert tuple(out[100, 300]) == class_color(7)
    assert (out[H - 12 : H, :60] == class_color(9)).all(axis=2).any()  # classifier tag, bottom left
    assert not (out[200, 160] == GREY).all()  # mask drawn under the boxes


def test_info_line_shows_fps() -> None:
    fr = result()
    without = draw_frame_result(fr.frame.image, fr, fps=None)
    with_fps = draw_frame_result(fr.frame.image, fr, fps=12.5)
    corner = (slice(0, 25), slice(0, W))
    assert not (without[corner] == GREY).all()  # camera name and index
    assert (with_fps[corner] != GREY).any(axis=2).sum() > (without[corner] != GREY).any(axis=2).sum()
    assert (with_fps[30:] == GREY).all()  # nothing else drawn for an empty result


def test_empty_detections_and_bad_opacity() -> None:
    fr = result(("det", Detections.empty(), Labels()))
    out = draw_frame_result(fr.frame.image, fr)
    assert (out[30:] == GREY).all()
    with pytest.raises(ValueError, match="opacity"):
        SegmentationAnnotator(opacity=1.5)


def test_in_place_draws_on_the_frame_itself_exactly_what_a_copy_gets() -> None:
    boxes = detections([[40, 60, 200, 220], [2.5, 3.5, 300.5, 239.5]], [1, 4], [0.875, 0.125]).with_track_ids(
        np.array([5, 12])
    )
    fr = result(("det", boxes, Labels({1: "cat"})))
    copy = draw_frame_result(fr.frame.image, fr, fps=9.0)
    assert (fr.frame.image == GREY).all()
    drawn = draw_frame_result(fr.frame.image, fr, fps=9.0, in_place=True)
    assert drawn is fr.frame.image
    assert np.array_equal(drawn, copy) and not (drawn == GREY).all()
