"""The demo clip shipped with the default detector: held-out digits gliding over a held-out
photo, entering and leaving the frame, so boxes change from frame to frame."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from train.digits import load_split
from train.scenes import SceneComposer, load_photo


def make_demo_clip(path: Path, seconds: float = 10.0, fps: int = 12, size: tuple[int, int] = (640, 360),
                   photo: str = "chelsea", seed: int = 7) -> list[dict]:
    """Writes an mp4v clip to ``path`` and returns the per-frame truth
    (``{"frame", "boxes": [[x1, y1, x2, y2], ...], "classes": [...]}``), also written next to it
    as ``<stem>.truth.json``."""
    width, height = size
    comp = SceneComposer(load_split("test"), [load_photo(photo)], seed=seed)
    rng = comp.rng
    background, _ = comp.moving_background(width + 64, height)
    frames = int(seconds * fps)
    lanes = [height * f for f in (0.2, 0.5, 0.8)]
    tracks = []
    for lane, cy in enumerate(lanes):
        direction = 1 if lane % 2 == 0 else -1
        speed = rng.uniform(5, 9)
        h = rng.uniform(0.2, 0.27) * height
        x = rng.uniform(-0.2, 0.3) * width - speed * frames
        band = background[int(cy - h / 2):int(cy + h / 2)]
        while x < 1.3 * width + h:
            index = int(rng.integers(len(comp.digits)))
            tracks.append({"index": index, "label": int(comp.digits.labels[index]), "lane": lane,
                           "start_x": x, "cy": cy + rng.uniform(-0.03, 0.03) * height, "h": h,
                           "speed": speed, "dir": direction, "phase": rng.uniform(0, 6.28),
                           "alpha": comp.digit_alpha(index), "color": comp.ink_color(band)})
            x += h * rng.uniform(1.4, 2.6)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path} with mp4v")
    truth = []
    for f in range(frames):
        pan = int(32 + 30 * np.sin(2 * np.pi * f / frames))  # a slow camera pan
        image = background[:, pan:pan + width].copy()
        mask = np.zeros((height, width), np.uint8)
        boxes, classes = [], []
        for t in tracks:
            travel = t["start_x"] + t["speed"] * f - 0.3 * width
            cx = travel if t["dir"] > 0 else width - travel
            if not -t["h"] < cx < width + t["h"]:
                continue
            cy = t["cy"] + 6 * np.sin(f / 5 + t["phase"])
            angle = 8 * np.sin(f / 9 + t["phase"])
            patch, x0, y0 = comp.warp(t["alpha"], cx, cy, t["h"], angle, 1.0, (width, height))
            box = comp.paste(image, mask, patch, x0, y0, t["label"], t["color"])
            if box is not None and (box[2] - box[0]) * (box[3] - box[1]) > 0.3 * t["h"] * t["h"] * 0.3:
                boxes.append([round(float(v), 1) for v in box])
                classes.append(t["label"])
        frame = np.clip(image, 0, 255).astype(np.uint8)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        truth.append({"frame": f, "boxes": boxes, "classes": classes})
    writer.release()
    path.with_suffix(".truth.json").write_text(json.dumps(
        {"fps": fps, "size": list(size), "photo": photo, "frames": truth}, separators=(",", ":")) + "\n")
    return truth
