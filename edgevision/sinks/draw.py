"""Drawing results onto frames: boxes with labels, translucent class masks, an info overlay.

Annotators follow the supervision style: configuration in ``__init__``, one ``annotate`` method
that draws onto the image it is given and returns it. :func:`draw_frame_result` runs them for
every model's result on a copy of the frame, or on the frame itself when nothing else needs it
clean (the pipeline knows). Per-detection work is plain Python on lists: numpy calls on scalars
cost more than the OpenCV drawing itself.
"""

from __future__ import annotations

import functools
import logging

import cv2
import numpy as np

from edgevision.core import Classifications, Detections, FrameResult, Labels, Segmentation

log = logging.getLogger(__name__)

FONT = cv2.FONT_HERSHEY_SIMPLEX

# BGR, chosen to stay distinct from each other and readable with black or white text.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
    (10, 249, 72), (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0),
    (168, 153, 44), (255, 194, 0), (147, 69, 52), (255, 115, 100), (236, 24, 0),
    (255, 56, 132), (133, 0, 82), (255, 56, 203), (200, 149, 255), (199, 55, 255),
)  # fmt: skip


def class_color(class_id: int) -> tuple[int, int, int]:
    """The same colour for a class id in every frame, model and sink."""
    return PALETTE[int(class_id) % len(PALETTE)]


def _text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    b, g, r = background
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)


def _font_scale(image: np.ndarray) -> float:
    """Readable on a 320 px thumbnail and a 1080p frame alike."""
    return _font_scale_for(min(image.shape[0], image.shape[1]))


@functools.lru_cache(maxsize=32)
def _font_scale_for(short_side: int) -> float:
    return min(max(short_side / 720.0, 0.35), 1.0)


def _label(
    image: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int], scale: float, repeats: bool = True
) -> None:
    """A filled tag with ``text`` whose bottom-left corner is at (x, y), kept inside the image;
    ``repeats``: the text comes back in later frames, so its rendered tag is kept and copied
    (its size with it: measuring the text again cost a tenth of the drawing), else it is drawn
    straight into the frame."""
    if repeats:
        tag = _repeated_tag(text, color, scale)
        height, width = tag.shape[:2]
    else:
        (w, h), baseline = cv2.getTextSize(text, FONT, scale, _thickness(scale))
        height, width = h + baseline + 3, w + 5
    x = min(max(x, 0), max(0, image.shape[1] - width + 1))
    top = min(max(y, height - 1), image.shape[0]) - height + 1
    region = image[top : top + height, x : x + width]
    if repeats:
        region[...] = tag[: region.shape[0], : region.shape[1]]
    else:
        _draw_tag(region, text, color, scale, h)


def _thickness(scale: float) -> int:
    return max(1, round(scale * 2))


def _draw_tag(canvas: np.ndarray, text: str, color: tuple[int, int, int], scale: float, text_height: int) -> None:
    """The tag's pixels into ``canvas`` (its top-left corner at the tag's): ``text`` on a filled rectangle."""
    canvas[...] = color
    cv2.putText(canvas, text, (2, text_height + 2), FONT, scale, _text_color(color), _thickness(scale), cv2.LINE_AA)


@functools.lru_cache(maxsize=1024)
def _repeated_tag(text: str, color: tuple[int, int, int], scale: float) -> np.ndarray:
    """Rendered once, then copied: anti-aliased text cost 20 us a box, most of the drawing time,
    and a detector's tags repeat (10 labels x 100 scores)."""
    (w, h), baseline = cv2.getTextSize(text, FONT, scale, _thickness(scale))
    tag = np.empty((h + baseline + 3, w + 5, 3), np.uint8)
    _draw_tag(tag, text, color, scale, h)
    tag.flags.writeable = False
    return tag


class BoxAnnotator:
    """Boxes in class colours, tagged with ``[#track] label score``."""

    def __init__(self, thickness: int | None = None, show_score: bool = True, font_scale: float | None = None) -> None:
        self.thickness = thickness
        self.show_score = show_score
        self.font_scale = font_scale

    def annotate(self, image: np.ndarray, detections: Detections, labels: Labels) -> np.ndarray:
        scale = self.font_scale or _font_scale(image)
        thickness = self.thickness or max(1, round(scale * 3))
        track_ids = detections.track_ids.tolist() if detections.track_ids is not None else None
        rows = zip(detections.xyxy.tolist(), detections.class_ids.tolist(), detections.scores.tolist())
        for i, (box, class_id, score) in enumerate(rows):
            x1, y1, x2, y2 = (round(v) for v in box)
            color = class_color(class_id)
            cv2.rectangle(image, (x1, y1), (x2, y2), color, thickness)
            text = labels[class_id]
            if self.show_score:
                text += f" {score:.2f}"
            if track_ids is not None:
                text = f"#{track_ids[i]} {text}"
            tag_y = y1 if y1 > 20 else y1 + 20  # inside the box when it touches the top edge
            _label(image, text, x1, tag_y, color, scale)
        return image


MAX_DRAWN_CLASSES = 256  # one 8-bit lookup table of colours


class SegmentationAnnotator:
    """Each class's pixels blended with its colour, and a legend of the classes present."""

    def __init__(self, opacity: float = 0.45, background_class: int | None = 0, legend: bool = True) -> None:
        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"opacity must be in [0, 1], got {opacity}")
        self.opacity = opacity
        self.background_class = background_class
        self.legend = legend
        palette = np.array([class_color(c) for c in range(MAX_DRAWN_CLASSES)], np.uint8)
        self._palette = np.ascontiguousarray(palette.reshape(1, MAX_DRAWN_CLASSES, 3))

    def annotate(self, image: np.ndarray, segmentation: Segmentation, labels: Labels) -> np.ndarray:
        class_map = segmentation.class_map
        if class_map.shape != image.shape[:2]:
            class_map = cv2.resize(
                class_map.astype(np.int32), (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST
            )
        # Whole-image OpenCV operations: numpy fancy indexing here cost ~30 ms per 720p frame.
        index = np.clip(class_map, 0, MAX_DRAWN_CLASSES - 1).astype(np.uint8)
        colors = cv2.LUT(cv2.merge([index, index, index]), self._palette)
        mask = (class_map >= 0) & (class_map < MAX_DRAWN_CLASSES)
        if self.background_class is not None:
            mask &= class_map != self.background_class
        if mask.any():
            blended = cv2.addWeighted(image, 1.0 - self.opacity, colors, self.opacity, 0.0)
            cv2.copyTo(blended, mask.view(np.uint8), image)
        if self.legend:
            counts = np.bincount(index[mask], minlength=MAX_DRAWN_CLASSES)
            present = [int(c) for c in np.flatnonzero(counts)]
            self._draw_legend(image, present, labels)
        return image

    @staticmethod
    def _draw_legend(image: np.ndarray, class_ids: list[int], labels: Labels) -> None:
        """Swatches and names in the top-right corner, one row per class present."""
        scale = _font_scale(image)
        thickness = max(1, round(scale * 2))
        (_, row_h), baseline = cv2.getTextSize("Ag", FONT, scale, thickness)
        row = row_h + baseline + 4
        names = [labels[c] for c in class_ids]
        width = max((cv2.getTextSize(n, FONT, scale, thickness)[0][0] for n in names), default=0) + row + 8
        x0 = max(0, image.shape[1] - width - 4)
        for i, (class_id, name) in enumerate(zip(class_ids, names)):
            y = 4 + i * row
            if y + row > image.shape[0]:
                break
            cv2.rectangle(image, (x0, y), (image.shape[1] - 1, y + row), (0, 0, 0), cv2.FILLED)
            cv2.rectangle(image, (x0 + 3, y + 3), (x0 + row - 3, y + row - 3), class_color(class_id), cv2.FILLED)
            cv2.putText(image, name, (x0 + row + 2, y + row - baseline - 2), FONT, scale, (255, 255, 255),
                        thickness, cv2.LINE_AA)  # fmt: skip


class ClassificationAnnotator:
    """A classifier's top class and score as a tag in the bottom-left corner (``row`` 0 lowest)."""

    def annotate(self, image: np.ndarray, classifications: Classifications, labels: Labels, row: int = 0) -> np.ndarray:
        if len(classifications):
            class_id = int(classifications.class_ids[0])
            scale = _font_scale(image)
            text = f"{labels[class_id]} {float(classifications.scores[0]):.2f}"
            (_, h), baseline = cv2.getTextSize(text, FONT, scale, max(1, round(scale * 2)))
            _label(image, text, 0, image.shape[0] - row * (h + baseline + 6), class_color(class_id), scale)
        return image


class InfoAnnotator:
    """Camera name, frame index and processing FPS in the top-left corner."""

    def annotate(self, image: np.ndarray, camera: str, index: int, fps: float | None = None) -> np.ndarray:
        text = f"{camera} #{index}"
        if fps is not None:
            text += f"  {fps:.1f} FPS"
        scale = _font_scale(image)
        (_, h), baseline = cv2.getTextSize(text, FONT, scale, max(1, round(scale * 2)))
        _label(image, text, 0, h + baseline + 6, (0, 0, 0), scale, repeats=False)
        return image


_BOXES = BoxAnnotator()
_MASKS = SegmentationAnnotator()
_CLASSES = ClassificationAnnotator()
_INFO = InfoAnnotator()


def draw_frame_result(
    image: np.ndarray, frame_result: FrameResult, fps: float | None = None, *, in_place: bool = False
) -> np.ndarray:
    """``image`` (itself with ``in_place``, else a copy) with every model's results and the info
    line drawn on it.

    Masks go first so boxes and text of other models stay readable on top of them.
    """
    canvas = image if in_place else image.copy()
    results = frame_result.results
    for result in results:
        if isinstance(result.prediction, Segmentation):
            _MASKS.annotate(canvas, result.prediction, result.labels)
    for result in results:
        if isinstance(result.prediction, Detections):
            _BOXES.annotate(canvas, result.prediction, result.labels)
    row = 0
    for result in results:
        if isinstance(result.prediction, Classifications):
            _CLASSES.annotate(canvas, result.prediction, result.labels, row=row)
            row += 1
    frame = frame_result.frame
    _INFO.annotate(canvas, frame.camera, frame.index, fps)
    return canvas
