"""Readers for training data in the formats people already have.

* classification: a folder per class (``root/<class>/*.jpg|png|...``);
* detection: COCO JSON (``instances.json`` + an image folder) or YOLO txt labels
  (``images/x.jpg`` + ``labels/x.txt`` lines ``class cx cy w h``, normalized, and a
  ``classes.txt`` or ``data.yaml`` with the names);
* segmentation: image + PNG mask pairs with the same stem (``images/``, ``masks/``), mask pixel
  values being class ids (0 background).

Every reader checks the whole dataset before training starts; a problem is one
``UsageError`` line naming the file (and line) so nothing is trained or written on bad data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgevision.errors import UsageError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


@dataclass(frozen=True)
class ClassificationData:
    paths: list[Path]
    labels: np.ndarray
    class_names: list[str]


@dataclass(frozen=True)
class DetectionData:
    """Per image: its path, size (w, h), boxes ``[G, 4]`` x1, y1, x2, y2 pixels, class ids."""

    paths: list[Path]
    sizes: list[tuple[int, int]]
    boxes: list[np.ndarray]
    classes: list[np.ndarray]
    class_names: list[str]


@dataclass(frozen=True)
class SegmentationData:
    images: list[Path]
    masks: list[Path]
    class_names: list[str]


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _need_dir(path: Path, what: str) -> Path:
    if not path.exists():
        raise UsageError(f"{path}: {what} not found")
    if not path.is_dir():
        raise UsageError(f"{path}: {what} must be a folder")
    return path


def _image_size(path: Path) -> tuple[int, int]:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise UsageError(f"{path}: not a readable image")
    return int(image.shape[1]), int(image.shape[0])


# -- classification ---------------------------------------------------------------------------

def read_class_folders(root: str | Path) -> ClassificationData:
    root = _need_dir(Path(root), "dataset folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise UsageError(f"{root}: no class folders (expected {root}/<class name>/<images>)")
    paths, labels = [], []
    for i, folder in enumerate(folders):
        images = _images_in(folder)
        if not images:
            raise UsageError(f"{folder}: class folder has no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        paths += images
        labels += [i] * len(images)
    if len(folders) < 2:
        raise UsageError(f"{root}: only one class folder ({folders[0].name}); a classifier needs two or more")
    return ClassificationData(paths, np.array(labels, np.int64), [f.name for f in folders])


# -- detection: COCO --------------------------------------------------------------------------

def read_coco(annotations: str | Path, images_dir: str | Path | None = None) -> DetectionData:
    """COCO ``instances`` JSON; ``images_dir`` defaults to the JSON's folder."""
    annotations = Path(annotations)
    if not annotations.is_file():
        raise UsageError(f"{annotations}: COCO annotation file not found")
    images_dir = _need_dir(Path(images_dir) if images_dir else annotations.parent, "image folder")
    try:
        doc = json.loads(annotations.read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{annotations}:{exc.lineno}: broken JSON ({exc.msg})") from None
    except UnicodeDecodeError:
        raise UsageError(f"{annotations}: not a text file") from None
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
            raise UsageError(f"{annotations}: no '{key}' list (is this a COCO instances file?)")
    categories = sorted(doc["categories"], key=lambda c: c.get("id", 0))
    if not categories:
        raise UsageError(f"{annotations}: 'categories' is empty")
    cat_index = {c["id"]: i for i, c in enumerate(categories)}
    images = {}
    for im in doc["images"]:
        try:
            images[im["id"]] = (images_dir / im["file_name"], int(im["width"]), int(im["height"]))
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"{annotations}: image entry {im!r:.80} lacks id, file_name, width or height") from None
    per_image: dict[int, list[tuple[list[float], int]]] = {i: [] for i in images}
    for ann in doc["annotations"]:
        aid = ann.get("id", "?")
        if ann.get("image_id") not in images:
            raise UsageError(f"{annotations}: annotation {aid} names unknown image_id {ann.get('image_id')!r}")
        if ann.get("category_id") not in cat_index:
            raise UsageError(f"{annotations}: annotation {aid} names unknown category_id {ann.get('category_id')!r}")
        path, w, h = images[ann["image_id"]]
        try:
            x, y, bw, bh = (float(v) for v in ann["bbox"])
        except (KeyError, TypeError, ValueError):
            raise UsageError(f"{annotations}: annotation {aid} has no [x, y, w, h] bbox") from None
        if bw <= 0 or bh <= 0 or x < -0.5 or y < -0.5 or x + bw > w + 0.5 or y + bh > h + 0.5:
            raise UsageError(f"{annotations}: annotation {aid}: box {[x, y, bw, bh]} lies outside "
                             f"its image {path.name} ({w}x{h})")
        if not ann.get("iscrowd", 0):
            per_image[ann["image_id"]].append(([x, y, x + bw, y + bh], cat_index[ann["category_id"]]))
    paths, sizes, boxes, classes = [], [], [], []
    for image_id, (path, w, h) in images.items():
        if not path.is_file():
            raise UsageError(f"{annotations}: image {path} (id {image_id}) not found")
        items = per_image[image_id]
        paths.append(path)
        sizes.append((w, h))
        boxes.append(np.array([b for b, _ in items], np.float32).reshape(-1, 4))
        classes.append(np.array([c for _, c in items], np.int64))
    if not paths:
        raise UsageError(f"{annotations}: no images")
    return DetectionData(paths, sizes, boxes, classes, [str(c.get("name", c["id"])) for c in categories])


# -- detection: YOLO --------------------------------------------------------------------------

def _yolo_names(root: Path) -> list[str] | None:
    names = root / "classes.txt"
    if names.is_file():
        return [ln.strip() for ln in names.read_text().splitlines() if ln.strip()]
    data = root / "data.yaml"
    if data.is_file():
        import yaml

        try:
            doc = yaml.safe_load(data.read_text()) or {}
        except yaml.YAMLError as exc:
            raise UsageError(f"{data}: broken YAML ({str(exc).splitlines()[0]})") from None
        found = doc.get("names")
        if isinstance(found, dict):
            return [str(found[k]) for k in sorted(found)]
        if isinstance(found, list):
            return [str(n) for n in found]
        raise UsageError(f"{data}: no 'names' list")
    return None


def read_yolo(root: str | Path) -> DetectionData:
    """``root/images/*`` with ``root/labels/<stem>.txt``; an image without a label file has no
    objects. Names come from ``root/classes.txt`` or ``root/data.yaml``."""
    root = _need_dir(Path(root), "dataset folder")
    images_dir = _need_dir(root / "images", "image folder")
    labels_dir = _need_dir(root / "labels", "label folder")
    names = _yolo_names(root)
    if names is None:
        raise UsageError(f"{root}: no classes.txt or data.yaml naming the classes")
    paths, sizes, boxes, classes = [], [], [], []
    for path in _images_in(images_dir):
        w, h = _image_size(path)
        label_file = labels_dir / f"{path.stem}.txt"
        b, c = [], []
        if label_file.is_file():
            for n, line in enumerate(label_file.read_text().splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.split()
                try:
                    if len(parts) != 5:
                        raise ValueError
                    cls = int(parts[0])
                    cx, cy, bw, bh = (float(v) for v in parts[1:])
                except ValueError:
                    raise UsageError(f"{label_file}:{n}: expected 'class cx cy w h', got {line.strip()!r:.60}") from None
                if not 0 <= cls < len(names):
                    raise UsageError(f"{label_file}:{n}: class {cls} not in 0..{len(names) - 1}")
                x1, y1, x2, y2 = cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2
                eps = 1e-3
                if bw <= 0 or bh <= 0 or x1 < -eps or y1 < -eps or x2 > 1 + eps or y2 > 1 + eps:
                    raise UsageError(f"{label_file}:{n}: box lies outside its image {path.name} "
                                     f"(normalized x1 y1 x2 y2 = {x1:.3f} {y1:.3f} {x2:.3f} {y2:.3f})")
                b.append([x1 * w, y1 * h, x2 * w, y2 * h])
                c.append(cls)
        paths.append(path)
        sizes.append((w, h))
        boxes.append(np.clip(np.array(b, np.float32).reshape(-1, 4), 0, [w, h, w, h]))
        classes.append(np.array(c, np.int64))
    if not paths:
        raise UsageError(f"{images_dir}: no images")
    return DetectionData(paths, sizes, boxes, classes, names)


# -- segmentation -----------------------------------------------------------------------------

def read_mask_pairs(root: str | Path, class_names: list[str] | None = None) -> SegmentationData:
    """``root/images/<stem>.*`` with ``root/masks/<stem>.png``; names from ``root/classes.txt``
    (line 0 is background) unless given."""
    import cv2

    root = _need_dir(Path(root), "dataset folder")
    images_dir = _need_dir(root / "images", "image folder")
    masks_dir = _need_dir(root / "masks", "mask folder")
    if class_names is None:
        names_file = root / "classes.txt"
        if not names_file.is_file():
            raise UsageError(f"{root}: no classes.txt (one name a line, background first)")
        class_names = [ln.strip() for ln in names_file.read_text().splitlines() if ln.strip()]
    images, masks = [], []
    for path in _images_in(images_dir):
        mask_path = masks_dir / f"{path.stem}.png"
        if not mask_path.is_file():
            raise UsageError(f"{path}: no mask {mask_path.name} in {masks_dir}")
        mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
        if mask is None or mask.ndim != 2:
            raise UsageError(f"{mask_path}: not a single-channel PNG mask")
        if (mask.shape[1], mask.shape[0]) != _image_size(path):
            raise UsageError(f"{mask_path}: size {mask.shape[1]}x{mask.shape[0]} differs from its image {path.name}")
        if int(mask.max()) >= len(class_names):
            raise UsageError(f"{mask_path}: class value {int(mask.max())} but only {len(class_names)} classes")
        images.append(path)
        masks.append(mask_path)
    if not images:
        raise UsageError(f"{images_dir}: no images")
    return SegmentationData(images, masks, class_names)


def split_indices(n: int, validation: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(train, validation) indices; at least one of each when ``n`` >= 2."""
    if not 0 < validation < 1:
        raise UsageError(f"validation split must be between 0 and 1, got {validation}")
    order = np.random.default_rng(seed).permutation(n)
    k = min(max(1, int(round(n * validation))), n - 1) if n >= 2 else 0
    return np.sort(order[k:]), np.sort(order[:k])
