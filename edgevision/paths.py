"""Paths as people type them: ``~`` and ``~user`` expanded, with an error that names the path
where there is no such home (``Path.expanduser`` raises a bare RuntimeError there)."""

from __future__ import annotations

from pathlib import Path


def expand_user(path: str | Path) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; ValueError naming it when that fails."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        home = str(path).split("/", 1)[0]
        raise ValueError(f"cannot expand {home!r} in {str(path)!r}: no such user; write the full path") from None
