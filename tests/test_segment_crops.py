"""The segmenter trains on crops of its scenes and exports at the scenes' full size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")

from train import segment  # noqa: E402


def _scenes(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Images whose blue channel is 255 exactly where the mask holds a digit (random blobs)."""
    rng = np.random.default_rng(0)
    masks = (rng.random((n, size // 8, size // 8)) < 0.3).repeat(8, 1).repeat(8, 2).astype(np.uint8)
    masks *= rng.integers(1, 11, masks.shape, dtype=np.uint8)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    images[..., 2] = np.where(masks > 0, 255, 0)
    return images, masks


def test_random_crops_keep_images_and_masks_aligned(tmp_path: Path) -> None:
    images, masks = _scenes(16, 64)
    cfg = segment.SegmenterTraining(run_dir=tmp_path, size=64, crop=32, batch=16)
    x, targets = next(iter(segment.dataset(images, masks, cfg, training=True)))
    assert x.shape == (16, 32, 32, 3)
    assert targets["probabilities"].shape == (16, 8, 8, 11)
    # Colour jitter moves 255 no lower than 179 and 0 no higher than 25.
    ink = x.numpy()[..., 2] * segment.STD + segment.MEAN > 128
    np.testing.assert_array_equal(ink, targets["foreground"].numpy()[..., 0] > 0.5)
    # Each crop's mask is a window of one of the masks (the batch is shuffled), not always the same.
    places = [_place(crop, masks > 0) for crop in targets["foreground"].numpy()[..., 0] > 0.5]
    assert None not in places
    assert len(set(places)) > 1


def _place(crop: np.ndarray, masks: np.ndarray) -> int | None:
    """Where ``crop`` lies in any of ``masks`` (the window's index), or None."""
    for mask in masks:
        for place, window in enumerate(_windows(mask, crop.shape[0])):
            if (window == crop).all():
                return place
    return None


def _windows(mask: np.ndarray, side: int) -> list[np.ndarray]:
    n = mask.shape[0] - side + 1
    return [mask[top:top + side, left:left + side] for top in range(n) for left in range(n)]


def test_validation_crops_are_the_centres(tmp_path: Path) -> None:
    images, masks = _scenes(4, 64)
    cfg = segment.SegmenterTraining(run_dir=tmp_path, size=64, crop=32, batch=4)
    x, targets = next(iter(segment.dataset(images, masks, cfg, training=False)))
    np.testing.assert_allclose(x.numpy(), (images[:, 16:48, 16:48] - segment.MEAN) / segment.STD, atol=1e-6)
    np.testing.assert_array_equal(targets["foreground"].numpy()[..., 0], masks[:, 16:48, 16:48] > 0)


def test_a_model_trained_on_crops_exports_at_full_size() -> None:
    """The same weights in a model built for the full size give the same map."""
    from train.models import fcn_segmenter

    trained = fcn_segmenter(3, (32, 32, 3), width=0.25)
    exported = segment.inference_model(trained, (64, 96))
    assert exported.input.shape[1:] == (64, 96, 3)
    assert exported.output.shape[1:] == (64, 96, 3)
    full = fcn_segmenter(3, (64, 96, 3), width=0.25)
    full.set_weights(trained.get_weights())
    x = np.random.default_rng(1).normal(size=(2, 64, 96, 3)).astype(np.float32)
    expected = segment.inference_model(full).predict(x, verbose=0)
    np.testing.assert_allclose(exported.predict(x, verbose=0), expected, atol=1e-5)
