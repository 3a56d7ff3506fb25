"""Scenes of handwritten digits pasted onto real photographs that ship with scikit-image and
scikit-learn.

Each digit is scaled, rotated and coloured against its background and pasted at a random
position; its tight box and its pixels are the ground truth for detection and segmentation.
Backgrounds are split like the digits: the test photos are never used to train.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from train.digits import Digits
from train.masks import resize_class_map

# Real photographs only (no printed text: it would hold digits without labels), from the sample
# images that scikit-image and scikit-learn ship.
TRAIN_PHOTOS = (
    "astronaut", "motorcycle_left", "motorcycle_right", "camera", "coins", "brick", "grass",
    "gravel", "moon", "hubble_deep_field", "immunohistochemistry", "retina", "clock_motion",
    "cell", "china", "flower",
)
TEST_PHOTOS = ("coffee", "chelsea", "rocket")

# Ink colour (SceneComposer.ink_color, and train.pretrain.ink in TensorFlow): dark on backgrounds
# whose mean grey is above LIGHT_BACKGROUND, light below, a random tint up to INK_STRENGTH away
# from black or white.
LIGHT_BACKGROUND = 120.0
INK_STRENGTH = 0.45


PHOTO_FILES = {  # name: (package, file in its sample-image folder)
    "astronaut": ("skimage", "astronaut.png"), "motorcycle_left": ("skimage", "motorcycle_left.png"),
    "motorcycle_right": ("skimage", "motorcycle_right.png"), "camera": ("skimage", "camera.png"),
    "coins": ("skimage", "coins.png"), "brick": ("skimage", "brick.png"), "grass": ("skimage", "grass.png"),
    "gravel": ("skimage", "gravel.png"), "moon": ("skimage", "moon.png"),
    "hubble_deep_field": ("skimage", "hubble_deep_field.jpg"), "immunohistochemistry": ("skimage", "ihc.png"),
    "retina": ("skimage", "retina.jpg"), "clock_motion": ("skimage", "clock_motion.png"),
    "cell": ("skimage", "cell.png"), "china": ("sklearn", "china.jpg"), "flower": ("sklearn", "flower.jpg"),
    "coffee": ("skimage", "coffee.png"), "chelsea": ("skimage", "chelsea.png"), "rocket": ("skimage", "rocket.jpg"),
}


def _sample_image_folder(package: str) -> str:
    import os

    if package == "skimage":
        import skimage.data

        return os.path.dirname(skimage.data.__file__)
    import sklearn.datasets

    return os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")


@lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """A sample photo, read from the files its package ships, as RGB uint8."""
    import os

    package, file = PHOTO_FILES[name]
    path = os.path.join(_sample_image_folder(package), file)
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: {package} sample photo missing or unreadable")
    scale = 720.0 / max(image.shape[:2])  # scenes are at most 640 wide: smaller is faster
    if scale < 1:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def photos(split: str) -> list[np.ndarray]:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return [load_photo(n) for n in (TRAIN_PHOTOS if split == "train" else TEST_PHOTOS)]


@dataclass(frozen=True)
class Scene:
    """An RGB ``HxWx3`` uint8 image, digit boxes ``[G, 4]`` as ``x1, y1, x2, y2`` pixels, their
    classes ``[G]`` (0..9) and a class map ``HxW`` uint8 (0 background, ``1 + digit``; ``None``
    where :func:`stretch` left it out)."""

    image: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray
    mask: np.ndarray | None


@dataclass(frozen=True)
class SceneStyle:
    """How scenes look; heights are fractions of the scene height."""

    min_digits: int = 2
    max_digits: int = 6
    min_height: float = 0.16
    max_height: float = 0.40
    max_rotation_deg: float = 15.0
    turned_backgrounds: float = 0.0  # the chance that a photo is turned a quarter, half or three quarters
    distractors: int = 0  # up to this many digit-like shapes that are not digits, drawn on the background


class SceneComposer:
    """Makes scenes from a digit split and a photo split with its own random generator."""

    def __init__(self, digits: Digits, backgrounds: list[np.ndarray], seed: int = 0,
                 style: SceneStyle = SceneStyle()) -> None:
        if len(digits) == 0 or not backgrounds:
            raise ValueError("a scene composer needs digits and background photos")
        self.digits = digits
        self.backgrounds = backgrounds
        self.style = style
        self.rng = np.random.default_rng(seed)

    # -- backgrounds ------------------------------------------------------------------------
    def background(self, width: int, height: int) -> np.ndarray:
        """A random crop of a random photo at the scene's aspect ratio, with colour jitter."""
        rng = self.rng
        photo = self.backgrounds[rng.integers(len(self.backgrounds))]
        if self.style.turned_backgrounds and rng.random() < self.style.turned_backgrounds:
            photo = np.rot90(photo, rng.integers(1, 4))  # more backgrounds from the few photos there are
        ph, pw = photo.shape[:2]
        aspect = width / height
        crop_w = min(pw, ph * aspect) * rng.uniform(0.45, 1.0)
        crop_h = crop_w / aspect
        x0 = rng.uniform(0, pw - crop_w)
        y0 = rng.uniform(0, ph - crop_h)
        crop = np.ascontiguousarray(photo[int(y0):int(y0 + crop_h), int(x0):int(x0 + crop_w)])
        image = cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
        if rng.random() < 0.5:
            image = image[:, ::-1]
        gain = rng.uniform(0.7, 1.3, size=3) * rng.uniform(0.8, 1.2)
        image = (image - 128.0) * rng.uniform(0.7, 1.2) + 128.0 + rng.uniform(-25, 25)
        return np.clip(image * gain, 0, 255)

    def moving_background(self, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
        """A fixed photo region for a clip: (background float32 image, photo used)."""
        photo = self.backgrounds[self.rng.integers(len(self.backgrounds))]
        ph, pw = photo.shape[:2]
        aspect = width / height
        crop_w = min(pw, ph * aspect)
        crop_h = crop_w / aspect
        y0 = (ph - crop_h) / 2
        x0 = (pw - crop_w) / 2
        crop = photo[int(y0):int(y0 + crop_h), int(x0):int(x0 + crop_w)]
        return cv2.resize(crop, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32), photo

    # -- digits -----------------------------------------------------------------------------
    def digit_alpha(self, index: int) -> np.ndarray:
        """The digit's ink as alpha in 0..1 (28x28, peak 1), with random stroke thickness."""
        image = self.digits.images[index]
        r = self.rng.random()
        if r < 0.2:
            image = cv2.dilate(image, np.ones((2, 2), np.uint8))
        elif r < 0.3:
            thinner = cv2.erode(image, np.ones((2, 2), np.uint8))
            if thinner.sum() > 0.6 * image.sum():  # thin strokes would vanish
                image = thinner
        alpha = image.astype(np.float32)
        return alpha / max(float(alpha.max()), 1.0)

    def ink_color(self, under: np.ndarray) -> np.ndarray:
        """A colour that stands out from the mean of ``under`` (the pixels a digit covers)."""
        rng = self.rng
        luminance = float(under.mean()) if under.size else 128.0
        tint = rng.uniform(0.0, 1.0, size=3)
        strength = rng.uniform(0.0, INK_STRENGTH)
        if luminance > LIGHT_BACKGROUND:
            return (tint * strength * 255).astype(np.float32)
        return (255 - tint * strength * 255).astype(np.float32)

    def warp(self, alpha28: np.ndarray, cx: float, cy: float, height_px: float, angle: float,
             stretch_x: float, size: tuple[int, int]) -> tuple[np.ndarray, int, int]:
        """The 28x28 alpha with its 20-pixel MNIST box ``height_px`` tall, centred at (cx, cy).

        Returns the alpha patch and the scene pixel of its top-left corner; the patch lies
        inside the scene (``size`` is width, height).
        """
        scale = height_px / 20.0
        half = int(np.ceil(14.0 * scale * 1.45 * max(stretch_x, 1.0)))
        x0 = max(int(cx) - half, 0)
        y0 = max(int(cy) - half, 0)
        x1 = min(int(cx) + half + 1, size[0])
        y1 = min(int(cy) + half + 1, size[1])
        m = cv2.getRotationMatrix2D((14.0, 14.0), angle, scale)
        m[0, :] *= stretch_x
        m[0, 2] += cx - x0 - 14.0 * stretch_x
        m[1, 2] += cy - y0 - 14.0
        patch = cv2.warpAffine(alpha28, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=0.0)
        return patch, x0, y0

    def place(self, alpha28: np.ndarray, width: int, height: int) -> tuple[np.ndarray, int, int]:
        """:meth:`warp` at a random height, stretch, position and rotation within the style."""
        rng, style = self.rng, self.style
        h = rng.uniform(style.min_height, style.max_height) * height
        stretch_x = rng.uniform(0.8, 1.25)
        cx = _uniform_between(rng, 0.6 * h * stretch_x, width - 0.6 * h * stretch_x)
        cy = _uniform_between(rng, 0.6 * h, height - 0.6 * h)
        angle = rng.uniform(-1, 1) * style.max_rotation_deg
        return self.warp(alpha28, cx, cy, h, angle, stretch_x, (width, height))

    def paste(self, image: np.ndarray, mask: np.ndarray, patch: np.ndarray, x0: int, y0: int,
              label: int, color: np.ndarray | None = None) -> np.ndarray | None:
        """Blends the alpha ``patch`` into ``image`` and ``mask`` at (x0, y0); returns the tight
        box ``x1, y1, x2, y2`` of its ink in scene pixels, or None where it has no ink."""
        box = _ink_box(patch)
        if box is None:
            return None
        bx1, by1, bx2, by2 = box
        alpha = patch[by1:by2, bx1:bx2]
        region = (slice(y0 + by1, y0 + by2), slice(x0 + bx1, x0 + bx2))
        if color is None:
            color = self.ink_color(image[region])
        a = alpha[..., None]
        image[region] = image[region] * (1.0 - a) + color * a
        mask[region][alpha > 0.5] = label + 1
        return np.array([x0 + bx1, y0 + by1, x0 + bx2, y0 + by2], np.float32)

    def draw_distractor(self, image: np.ndarray, digits_mask: np.ndarray | None = None) -> bool:
        """Draws, unlabelled, a shape that a detector may take for a digit: a filled oval with a rim
        and sometimes a pupil (eyes, coins, buttons read as 0), or a long arc (the rims of cups,
        plates and wheels read as 1). Returns False, drawing nothing, where the shape would come
        within a few pixels of a digit's ink in ``digits_mask``: a digit must keep its own shape."""
        rng = self.rng
        h, w = image.shape[:2]
        centre = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
        angle = rng.uniform(0, 180)
        stroke = max(1, int(rng.uniform(0.015, 0.05) * h))
        parts: list[tuple[np.ndarray | None, tuple]] = []  # (colour, or None: one that stands out; ellipse args)
        if rng.random() < 0.5:
            ry = rng.uniform(0.06, 0.25) * h
            axes = (int(ry * rng.uniform(0.5, 1.3)), int(ry))
            # Filled in a colour that stands out from the background, then rimmed in one that stands
            # out from the fill: a solid blob, never a ring of ink around background (a 0).
            parts += [(None, (axes, 0, 360, -1)), (None, (axes, 0, 360, stroke))]
            if rng.random() < 0.5:
                pupil = (max(1, int(axes[0] * rng.uniform(0.2, 0.6))), max(1, int(axes[1] * rng.uniform(0.3, 0.9))))
                parts.append((rng.uniform(0, 60, 3), (pupil, 0, 360, -1)))
        else:
            r = rng.uniform(0.4, 1.5) * h
            start = rng.uniform(0, 360)
            axes = (int(r), int(r * rng.uniform(0.3, 1.0)))
            parts.append((None, (axes, start, start + rng.uniform(30, 120), stroke)))
        canvases = []
        for _, (axes, start, end, thickness) in parts:
            canvas = np.zeros((h, w), np.uint8)
            cv2.ellipse(canvas, centre, axes, angle, start, end, 255, thickness, cv2.LINE_AA)
            canvases.append(canvas)
        if digits_mask is not None:
            footprint = cv2.dilate(np.maximum.reduce(canvases), np.ones((7, 7), np.uint8))
            if np.any((footprint > 0) & (digits_mask > 0)):
                return False
        for (color, _), canvas in zip(parts, canvases):
            self._blend(image, canvas, color)
        return True

    def _blend(self, image: np.ndarray, canvas: np.ndarray, color: np.ndarray | None) -> None:
        """Blends ``color`` (None: one that stands out from what it covers) into ``image`` with the
        uint8 ``canvas`` as alpha."""
        x, y, w, h = cv2.boundingRect(canvas)  # of the painted pixels
        if w == 0 or h == 0:
            return
        region = image[y:y + h, x:x + w]
        painted = canvas[y:y + h, x:x + w]
        if color is None:
            color = self.ink_color(region[painted > 127])
        alpha = painted.astype(np.float32)[..., None] / 255.0
        region[:] = region * (1.0 - alpha) + np.asarray(color, np.float32) * alpha

    def compose(self, width: int, height: int) -> Scene:
        """One scene: a background and ``min_digits..max_digits`` digits that do not touch."""
        rng, style = self.rng, self.style
        image = self.background(width, height)
        mask = np.zeros((height, width), np.uint8)
        boxes: list[np.ndarray] = []
        classes: list[int] = []
        for _ in range(rng.integers(style.min_digits, style.max_digits + 1)):
            index = int(rng.integers(len(self.digits)))
            label = int(self.digits.labels[index])
            alpha28 = self.digit_alpha(index)
            for _attempt in range(10):
                patch, x0, y0 = self.place(alpha28, width, height)
                box = _ink_box(patch)
                if box is None:
                    continue
                box = np.array(box, np.float32) + np.array([x0, y0, x0, y0], np.float32)
                if boxes and _touches(np.stack(boxes), box, margin=2.0):
                    continue
                pasted = self.paste(image, mask, patch, x0, y0, label)
                if pasted is not None:
                    boxes.append(pasted)
                    classes.append(label)
                break
        if style.distractors:  # (held-out scenes draw no more random numbers than they did before)
            for _ in range(rng.integers(0, style.distractors + 1)):
                for _attempt in range(3):
                    if self.draw_distractor(image, mask):
                        break
        image = self._camera_effects(image)
        return Scene(
            image=image,
            boxes=np.array(boxes, np.float32).reshape(-1, 4),
            classes=np.array(classes, np.int64),
            mask=mask,
        )

    def _camera_effects(self, image: np.ndarray) -> np.ndarray:
        rng = self.rng
        if rng.random() < 0.3:
            image = cv2.GaussianBlur(image, (3, 3), rng.uniform(0.3, 1.0))
        if rng.random() < 0.5:
            image = image + rng.normal(0, rng.uniform(1, 6), image.shape).astype(np.float32)
        return np.clip(image, 0, 255).astype(np.uint8)


def compose_in_workers(fill: Callable[..., tuple[np.ndarray, ...]], composer: SceneComposer, n: int,
                       workers: int | None = None) -> tuple[np.ndarray, ...]:
    """``fill(composer, count)`` for ``n`` items split over worker processes, each with a
    composer of its own seeded from ``composer``; the workers' arrays are joined in order.

    Composing is single-threaded numpy and OpenCV, so one process leaves the other cores idle
    while a training pool is made. ``fill`` must be picklable (a module-level function or a
    ``functools.partial`` of one), and a calling script needs the ``if __name__ == "__main__"``
    guard (workers are spawned). The result depends on the number of workers, not on timing.
    """
    workers = max(1, min(workers or os.cpu_count() or 1, n))
    seeds = composer.rng.integers(1 << 31, size=workers)
    counts = [len(part) for part in np.array_split(np.arange(n), workers)]
    composers = [SceneComposer(composer.digits, composer.backgrounds, int(s), composer.style) for s in seeds]
    if workers == 1:
        return fill(composers[0], n)
    # spawn, not fork: the parent may already run TensorFlow's and OpenCV's thread pools.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = list(pool.map(fill, composers, counts))
    return tuple(np.concatenate(arrays) for arrays in zip(*parts))


def _uniform_between(rng: np.random.Generator, a: float, b: float) -> float:
    """Uniform between ``a`` and ``b`` in either order: a digit wider than its margins allow is
    placed around the middle, overlapping the edges a little."""
    return rng.uniform(min(a, b), max(a, b))


def _ink_box(alpha: np.ndarray, threshold: float = 0.25) -> tuple[int, int, int, int] | None:
    """Tight ``x1, y1, x2, y2`` (end exclusive) of the pixels above ``threshold``, or None."""
    cols = np.flatnonzero((alpha > threshold).any(axis=0))
    if len(cols) == 0:
        return None
    rows = np.flatnonzero((alpha > threshold).any(axis=1))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _touches(boxes: np.ndarray, box: np.ndarray, margin: float) -> bool:
    """Whether ``box`` grown by ``margin`` pixels intersects any of ``boxes``."""
    ix = np.minimum(boxes[:, 2], box[2] + margin) - np.maximum(boxes[:, 0], box[0] - margin)
    iy = np.minimum(boxes[:, 3], box[3] + margin) - np.maximum(boxes[:, 1], box[1] - margin)
    return bool(np.any((ix > 0) & (iy > 0)))


def stretch(scene: Scene, width: int, height: int, with_mask: bool = False) -> Scene:
    """The scene resized to ``width x height`` without keeping its aspect (as SSD runtimes do);
    its class map too with ``with_mask`` (``None`` otherwise): a class map that stays on its
    image costs 3.5 ms for a detector scene, a quarter of composing it, and only segmentation
    reads it."""
    sy, sx = height / scene.image.shape[0], width / scene.image.shape[1]
    image = cv2.resize(scene.image, (width, height), interpolation=cv2.INTER_AREA)
    mask = resize_class_map(scene.mask, width, height) if with_mask else None
    boxes = scene.boxes * np.array([sx, sy, sx, sy], np.float32)
    return Scene(image, boxes, scene.classes, mask)
