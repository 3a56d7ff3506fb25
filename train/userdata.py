"""User datasets -> in-memory arrays at the model's input size, split train / validation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgevision.errors import UsageError
from train import datasets
from train.masks import resize_class_map
from train.recipe import Recipe


@dataclass
class Arrays:
    """uint8 images ``[N, H, W, C]`` and per-task targets (labels, boxes + classes, masks)."""

    images: np.ndarray
    labels: np.ndarray | None = None
    boxes: list[np.ndarray] | None = None  # x1, y1, x2, y2 normalized to the image
    classes: list[np.ndarray] | None = None
    masks: np.ndarray | None = None

    def take(self, idx: np.ndarray) -> Arrays:
        pick = lambda v: None if v is None else (v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx])  # noqa: E731
        return Arrays(self.images[idx], pick(self.labels), pick(self.boxes), pick(self.classes), pick(self.masks))


def read(recipe: Recipe) -> tuple[Arrays, list[str]]:
    """Reads the recipe's dataset (checked whole first) at the recipe's input size."""
    import cv2

    from train.classify import load_images

    fmt, path = recipe.data.get("format"), recipe.data.get("path")
    h, w = recipe.size
    if recipe.task == "classification":
        if fmt != "folder":
            raise UsageError(f"unknown classification data format {fmt!r} (folder)")
        data = datasets.read_class_folders(path)
        if h != w:
            raise UsageError("classification input must be square")
        return Arrays(load_images(data.paths, h, recipe.grayscale), labels=data.labels), data.class_names
    if recipe.task == "detection":
        if fmt == "coco":
            data = datasets.read_coco(recipe.data["annotations"], path)
        elif fmt == "yolo":
            data = datasets.read_yolo(path)
        else:
            raise UsageError(f"unknown detection data format {fmt!r} (coco, yolo)")
        images = load_images_stretched(data.paths, w, h)
        boxes = [b / np.array([sw, sh, sw, sh], np.float32) for b, (sw, sh) in zip(data.boxes, data.sizes)]
        return Arrays(images, boxes=boxes, classes=data.classes), data.class_names
    if recipe.task == "segmentation":
        if fmt != "masks":
            raise UsageError(f"unknown segmentation data format {fmt!r} (masks)")
        data = datasets.read_mask_pairs(path)
        images = load_images_stretched(data.images, w, h)
        masks = np.stack([resize_class_map(cv2.imread(str(m), cv2.IMREAD_UNCHANGED), w, h) for m in data.masks])
        return Arrays(images, masks=masks), data.class_names
    raise UsageError(f"unknown task {recipe.task!r} (classification, detection, segmentation)")


def load_images_stretched(paths, width: int, height: int) -> np.ndarray:
    import cv2

    out = np.empty((len(paths), height, width, 3), np.uint8)
    for i, p in enumerate(paths):
        im = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if im is None:
            raise UsageError(f"{p}: not a readable image")
        out[i] = cv2.cvtColor(cv2.resize(im, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    return out


def split(arrays: Arrays, recipe: Recipe) -> tuple[Arrays, Arrays]:
    train_idx, val_idx = datasets.split_indices(len(arrays.images), recipe.validation_split, recipe.seed)
    return arrays.take(train_idx), arrays.take(val_idx)
