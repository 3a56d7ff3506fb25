"""``recipe.json``: what a training run was, written next to its checkpoints so that
``edgevision export`` can rebuild the calibration set and the held-out split."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgevision.errors import UsageError

RECIPE = "recipe.json"


@dataclass
class Recipe:
    task: str  # classification | detection | segmentation
    model: str  # mnist-cnn | mobilenet-v2 | ssd | fcn
    labels: list[str]
    size: tuple[int, int]  # input height, width
    mean: float
    std: float
    grayscale: bool = False
    data: dict = field(default_factory=dict)  # format, path, annotations
    validation_split: float = 0.1
    seed: int = 0
    anchors: list[dict] | None = None  # detection: AnchorLevel fields per level
    command: str = ""

    def save(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / RECIPE).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, run_dir: Path) -> Recipe:
        path = run_dir / RECIPE
        if not path.is_file():
            raise UsageError(f"{path}: not found; export a model from a run folder made by 'edgevision train'")
        try:
            return cls(**json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError) as exc:
            raise UsageError(f"{path}: unreadable recipe ({exc})") from None
