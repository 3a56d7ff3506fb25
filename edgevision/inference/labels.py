"""Class names from a ``--labels`` file or a model's own label list, and the check that they
fit the model."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from edgevision.core import Labels
from edgevision.decoders.base import Decoder, ModelInfo
from edgevision.errors import ModelError, UsageError

log = logging.getLogger(__name__)

# Label files pad unused ids with these (COCO's 90-id files use "???", torchvision's "N/A").
PLACEHOLDERS = frozenset({"???", "", "n/a"})
_ID_LINE = re.compile(r"^(\d+)[\s:,]+(.+)$")


def is_placeholder(name: str) -> bool:
    return name.strip().lower() in PLACEHOLDERS


def labels_from_names(names: list[str]) -> Labels:
    """Names in id order; placeholder names leave their id unnamed."""
    return Labels({i: n.strip() for i, n in enumerate(names) if not is_placeholder(n)})


def parse_labels(text: str, source: str) -> Labels:
    """Plain lines (id = line number) or ``id label`` lines, not a mix of both."""
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not any(lines):
        raise UsageError(f"label file {source} is empty; put one label per line")
    matches = [_ID_LINE.match(line) for line in lines if line]
    if all(matches):
        names: dict[int, str] = {}
        for match in matches:
            class_id, name = int(match.group(1)), match.group(2).strip()
            if class_id in names:
                raise UsageError(f"label file {source}: id {class_id} appears twice; keep one")
            if not is_placeholder(name):
                names[class_id] = name
        return Labels(names)
    return labels_from_names(lines)


def load_labels(path: str | Path) -> Labels:
    """Read a ``--labels`` file; a missing or unreadable file is one clear error."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"label file {path} not found; check the --labels path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read label file {path}: {exc}; pass a UTF-8 text file") from None
    labels = parse_labels(text, str(path))
    log.info("loaded %d labels from %s", len(labels), path)
    return labels


def label_count(labels: Labels) -> int:
    """Number of class ids the labels cover (placeholders included: highest id + 1)."""
    names = labels.as_dict()
    return max(names) + 1 if names else 0


def check_label_count(labels: Labels, info: ModelInfo, decoder: Decoder, source: str) -> None:
    """Raise when the labels cannot name this model's classes.

    The highest labelled id must be the decoder's last class: more ids means the file belongs
    to another model, fewer means classes would go unnamed. Decoders that cannot know their
    class count (SSD post-processing, end-to-end YOLO) accept any labels.
    """
    num_classes = getattr(decoder, "num_classes", None)
    if num_classes is None or not labels:
        return
    count = label_count(labels)
    if count != num_classes:
        outputs = ", ".join(str(list(s.shape)) for s in info.outputs)
        raise ModelError(
            f"labels from {source} cover {count} classes but the model (outputs {outputs}) has "
            f"{num_classes}; use the label file that came with this model (--labels FILE)"
        )
