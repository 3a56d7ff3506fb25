"""Offline digit data and composed scenes: splits never overlap, ground truth matches pixels."""

from __future__ import annotations

from functools import partial

import cv2
import numpy as np
import pytest

from train.detect import TRAINING_STYLE
from train.digits import load_split
from train.masks import resize_class_map
from train.pretrain import NOT_A_DIGIT, colour_jitter, crop_pool, ink, layer_pool, recombined_batches
from train.scenes import (
    INK_STRENGTH, TEST_PHOTOS, TRAIN_PHOTOS, SceneComposer, SceneStyle, compose_in_workers, photos, stretch,
)
from train.ssd import AnchorSpec, TargetEncoder


def test_digit_splits_are_disjoint_and_balanced() -> None:
    train, test = load_split("train"), load_split("test")
    assert len(test) == 1000 and len(train) == 4000
    assert np.bincount(test.labels).tolist() == [100] * 10
    train_keys = {im.tobytes() for im in train.images}
    assert not any(im.tobytes() in train_keys for im in test.images)
    a, b = train.split(0.1, seed=1)
    assert len(b) == 400 and len(a) == 3600


def test_test_photos_never_train() -> None:
    assert not set(TRAIN_PHOTOS) & set(TEST_PHOTOS)
    train, test = photos("train"), photos("test")  # every file ships with its package
    assert len(train) == len(TRAIN_PHOTOS) and len(test) == len(TEST_PHOTOS)
    assert all(p.ndim == 3 and p.shape[2] == 3 and p.dtype == np.uint8 for p in train + test)
    test_keys = {p.tobytes() for p in test}
    assert not any(p.tobytes() in test_keys for p in train)


@pytest.mark.parametrize("style", [SceneStyle(), TRAINING_STYLE], ids=["held-out", "detector-training"])
def test_scene_boxes_cover_their_digit_pixels(style: SceneStyle) -> None:
    comp = SceneComposer(load_split("test"), photos("test"), seed=3, style=style)
    for _ in range(10):
        scene = comp.compose(320, 180)
        assert scene.image.shape == (180, 320, 3) and scene.mask.shape == (180, 320)
        assert 1 <= len(scene.boxes) <= style.max_digits
        for (x1, y1, x2, y2), c in zip(scene.boxes.astype(int), scene.classes):
            inside = scene.mask[y1:y2, x1:x2]
            assert (inside == c + 1).sum() > 10  # the digit's own pixels are in its box
        # every labelled pixel lies in a box of its class
        ys, xs = np.nonzero(scene.mask)
        for y, x in zip(ys[::50], xs[::50]):
            c = scene.mask[y, x] - 1
            hits = [(b[0] <= x < b[2]) and (b[1] <= y < b[3]) for b, k in zip(scene.boxes, scene.classes) if k == c]
            assert any(hits)


@pytest.mark.parametrize("workers", [1, 2])
def test_pools_composed_in_workers_are_reproducible_and_never_repeat(workers: int) -> None:
    fill = partial(crop_pool, size=32, scene_size=(56, 32))
    digits, backgrounds = load_split("test"), photos("test")
    images, labels = compose_in_workers(fill, SceneComposer(digits, backgrounds, seed=5), 9, workers)
    again, _ = compose_in_workers(fill, SceneComposer(digits, backgrounds, seed=5), 9, workers)
    assert images.shape == (9, 32, 32, 3) and labels.shape == (9,)
    np.testing.assert_array_equal(images, again)
    assert len({image.tobytes() for image in images}) == 9  # each worker composes scenes of its own


def test_stretch_scales_boxes() -> None:
    scene = SceneComposer(load_split("test"), photos("test"), seed=4).compose(320, 180)
    small = stretch(scene, 192, 192)
    np.testing.assert_allclose(small.boxes, scene.boxes * [0.6, 192 / 180, 0.6, 192 / 180], rtol=1e-5)


@pytest.mark.parametrize("size", [(160, 160), (192, 256), (100, 70)])
def test_resized_class_map_follows_the_resized_ink(size) -> None:
    """Each pixel of a stretched scene's map takes the class that covers most of it in the image
    resized the same way (INTER_NEAREST lies a third of a pixel off and fails this)."""
    composer = SceneComposer(load_split("test"), photos("test"), seed=6, style=SceneStyle(2, 4, 0.2, 0.35))
    scene = composer.compose(240, 240)
    h, w = size
    classes = np.unique(scene.mask)
    assert len(classes) >= 3
    shares = np.stack([cv2.resize((scene.mask == c).astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
                       for c in classes])
    chosen = np.searchsorted(classes, stretch(scene, w, h, with_mask=True).mask)
    taken = np.take_along_axis(shares, chosen[None], axis=0)[0]
    np.testing.assert_allclose(taken, shares.max(axis=0), atol=1e-6)
    assert np.all(chosen[shares.max(axis=0) > 0.5] == shares.argmax(axis=0)[shares.max(axis=0) > 0.5])
    assert np.array_equal(resize_class_map(np.full((9, 9), 4, np.uint8), 5, 3), np.full((3, 5), 4, np.uint8))


def test_target_encoding_round_trips() -> None:
    spec = AnchorSpec()
    enc = TargetEncoder(spec.anchors())
    boxes = np.array([[0.2, 0.1, 0.4, 0.18], [0.5, 0.6, 0.9, 0.75]], np.float32)  # ymin xmin ymax xmax
    t = enc.encode(boxes, np.array([3, 7]))
    pos = t[:, 4] >= 0
    assert set(t[pos, 4].astype(int)) == {3, 7}
    decoded = enc.decode(t[:, :4])[pos]
    matched = boxes[(t[pos, 4] == 7).astype(int)]
    np.testing.assert_allclose(decoded, matched, atol=1e-5)


def test_distractors_paint_digit_sized_shapes_without_labels() -> None:
    comp = SceneComposer(load_split("test"), photos("test"), seed=6)
    painted = []
    for _ in range(40):
        image = np.full((180, 320, 3), 128.0, np.float32)
        comp.draw_distractor(image)
        painted.append(np.any(image != 128.0, axis=-1).mean())
    # Mostly a shape in view (a long arc may pass outside the frame), never the whole frame.
    assert np.mean(np.array(painted) > 0) > 0.5 and max(painted) < 0.3
    # Scenes with distractors still label only their digits.
    scene = SceneComposer(load_split("test"), photos("test"), seed=6, style=SceneStyle(distractors=3)).compose(320, 180)
    assert len(scene.classes) and set(np.unique(scene.mask)) <= {0, *(scene.classes + 1)}


def test_distractors_keep_clear_of_digit_ink() -> None:
    comp = SceneComposer(load_split("test"), photos("test"), seed=7)
    digits_mask = np.zeros((180, 320), np.uint8)
    digits_mask[60:120, 140:180] = 1  # a digit's ink in the middle of the frame
    near = np.zeros_like(digits_mask, bool)
    near[57:123, 137:183] = True  # within 3 pixels of it
    drawn = 0
    for _ in range(60):
        image = np.full((180, 320, 3), 128.0, np.float32)
        if comp.draw_distractor(image, digits_mask):
            drawn += 1
            assert not np.any(image[near] != 128.0)
        else:
            assert np.all(image == 128.0)  # refused: nothing drawn
    assert 0 < drawn < 60
    covered = np.ones_like(digits_mask)  # ink everywhere: nothing may be painted
    image = np.full((180, 320, 3), 128.0, np.float32)
    for _ in range(10):
        comp.draw_distractor(image, covered)
    assert np.all(image == 128.0)


def test_crop_pools_mix_in_crops_without_a_digit_only_when_asked() -> None:
    digits, backgrounds = load_split("test"), photos("test")
    _, plain = crop_pool(SceneComposer(digits, backgrounds, seed=8), 40, size=32, scene_size=(56, 32))
    images, mixed = crop_pool(SceneComposer(digits, backgrounds, seed=8), 40, size=32, scene_size=(56, 32),
                              background_share=0.5)
    assert NOT_A_DIGIT not in plain and set(plain) <= set(range(10))
    assert 8 <= np.sum(mixed == NOT_A_DIGIT) <= 32 and len(set(mixed) - {NOT_A_DIGIT}) >= 5
    assert images.shape == (40, 32, 32, 3)


def test_layer_pools_keep_each_digit_apart_from_the_backgrounds() -> None:
    digits, backgrounds = load_split("test"), photos("test")
    images, alphas, labels = layer_pool(SceneComposer(digits, backgrounds, seed=8), 40, size=48, background_share=0.3)
    assert images.shape == (40, 48, 48, 3) and alphas.shape == (40, 48, 48) and alphas.dtype == np.uint8
    empty = labels == NOT_A_DIGIT
    assert 4 <= empty.sum() <= 24 and set(labels[~empty]) <= set(range(10))
    peaks = alphas.reshape(40, -1).max(axis=1)
    assert np.all(peaks[empty] == 0) and np.all(peaks[~empty] >= 250)  # a whole digit, nothing for the rest
    ink_share = (alphas[~empty] > 127).mean(axis=(1, 2))
    assert np.all((ink_share > 0.02) & (ink_share < 0.5))
    assert len({im.tobytes() for im in images}) == 40


def test_ink_stands_out_from_what_it_covers_and_leaves_the_rest() -> None:
    backgrounds = np.zeros((2, 16, 16, 3), np.uint8)
    backgrounds[0], backgrounds[1] = 220, 30  # light and dark
    alphas = np.zeros((2, 16, 16), np.uint8)
    alphas[:, 4:12, 7:9] = 255  # a stroke
    out = np.asarray(ink(backgrounds, alphas))
    np.testing.assert_array_equal(out[:, :, :4], backgrounds[:, :, :4].astype(np.float32))
    assert out[0, 4:12, 7:9].max() <= INK_STRENGTH * 255 + 1e-3  # dark ink on the light background
    assert out[1, 4:12, 7:9].min() >= 255 - INK_STRENGTH * 255 - 1e-3  # light ink on the dark one


def test_colour_jitter_keeps_each_image_within_its_bounds_and_normalizes() -> None:
    import tensorflow as tf

    images = np.zeros((400, 8, 8, 3), np.uint8)
    images[:, :4] = (200, 60, 20)  # half of every image one colour, half black
    out = np.asarray(colour_jitter(tf.constant(images)))
    assert out.shape == images.shape and out.min() >= -1.0 and out.max() <= 1.0
    assert np.abs(out[:, 4:] + 1.0).max() < 0.5  # black stays dark
    colour = out[:, 0, 0]  # [400, 3]
    grey = np.ptp(colour, axis=1) < 1e-5
    assert 20 <= grey.sum() <= 110  # about 15% turned grey
    red, green, blue = colour[~grey].T
    assert np.all((red > green) & (green > blue))  # gain, contrast and brightness keep the hue here
    assert np.ptp(red) > 0.2  # but vary from image to image


def test_recombined_batches_ink_a_layer_onto_a_background_anew_every_batch() -> None:
    digits, backgrounds = load_split("test"), photos("test")
    pool = layer_pool(SceneComposer(digits, backgrounds, seed=8), 16, size=32, background_share=0.2)
    batches = iter(recombined_batches(*pool, batch=8, seed=3))
    seen = [next(batches) for _ in range(4)]
    for images, labels in seen:
        images, labels = np.asarray(images), np.asarray(labels)
        assert images.shape == (8, 32, 32, 3) and images.min() >= -1.0 and images.max() <= 1.0
        assert set(labels) <= set(pool[2])
    pairs = {np.asarray(images).tobytes() for images, _ in seen}
    assert len(pairs) == 4  # pairs, blur, noise and jitter drawn anew


def test_digits_too_big_for_their_margins_are_placed_around_the_middle() -> None:
    tall = SceneStyle(min_height=0.9, max_height=0.9)
    composer = SceneComposer(load_split("test"), photos("test"), seed=2, style=tall)
    for _ in range(20):
        patch, x0, y0 = composer.place(composer.digit_alpha(0), 32, 32)
        assert x0 >= 0 and y0 >= 0 and x0 + patch.shape[1] <= 32 and y0 + patch.shape[0] <= 32
        rows = np.flatnonzero((patch > 0.5).any(axis=1))
        assert np.ptp(rows) >= 20  # the whole height, not shrunk to fit


def test_random_affine_keeps_shape_and_moves_pixels() -> None:
    from train.classify import random_affine

    digits = load_split("test").images[:16][..., None]  # [16, 28, 28, 1] uint8
    rng = np.random.default_rng(0)
    same = random_affine(digits, rng, strength=0.0)
    np.testing.assert_array_equal(same, digits)  # no rotation, shift or zoom: the same pixels
    moved = random_affine(digits, rng, strength=1.0)
    assert moved.shape == digits.shape and moved.dtype == np.uint8
    changed = [not np.array_equal(a, b) for a, b in zip(moved, digits)]
    assert all(changed)
    # Ink stays roughly the same amount: a transform, not noise.
    ratio = moved.astype(np.float64).sum() / digits.astype(np.float64).sum()
    assert 0.7 < ratio < 1.3
    colour = np.repeat(digits[:2], 3, axis=-1)
    assert random_affine(colour, rng).shape == colour.shape
