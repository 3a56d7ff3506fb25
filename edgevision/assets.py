"""Where the shipped models and the demo clip live.

``edgevision/models`` is a link to the top-level ``models/`` folder, so the same path works in
a source checkout, an editable install and a wheel (setuptools copies the linked files).
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = "digit_detector.tflite"
DEMO_CLIP = "demo.mp4"


def models_dir() -> Path:
    return Path(__file__).resolve().parent / "models"


def default_model_path() -> Path:
    return models_dir() / DEFAULT_MODEL


def demo_clip_path() -> Path:
    return models_dir() / DEMO_CLIP
