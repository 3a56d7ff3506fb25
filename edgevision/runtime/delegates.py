"""Accelerator delegates by name or library path, with a fallback policy.

``edgetpu`` is the Coral Edge TPU; ``gpu`` the TFLite GPU delegate; anything else is taken as
a delegate library path. A delegate that cannot load either falls back to the CPU (logged) or
fails with one clear line, as the user chose.
"""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass
from typing import Any, Literal

from edgevision.errors import UsageError
from edgevision.runtime import litert

log = logging.getLogger(__name__)

FallbackPolicy = Literal["cpu", "fail"]

_EDGETPU_LIBRARY = {
    "Linux": "libedgetpu.so.1",
    "Darwin": "libedgetpu.1.dylib",
    "Windows": "edgetpu.dll",
}
_NAMED = {
    "edgetpu": lambda: _EDGETPU_LIBRARY.get(platform.system(), "libedgetpu.so.1"),
    "gpu": lambda: "libtensorflowlite_gpu_delegate.so",
}


@dataclass(frozen=True)
class DelegateChoice:
    """What the user asked for and what actually runs."""

    requested: str | None
    library: str | None
    delegate: Any | None

    @property
    def description(self) -> str:
        if self.delegate is None:
            return "CPU (XNNPACK)"
        return f"{self.requested} ({self.library})"


def resolve_library(name_or_path: str) -> str:
    factory = _NAMED.get(name_or_path.lower())
    return factory() if factory else name_or_path


def load(name_or_path: str | None, fallback: FallbackPolicy = "cpu") -> DelegateChoice:
    """Load the delegate, or return a CPU choice according to ``fallback``."""
    if not name_or_path or name_or_path.lower() == "cpu":
        return DelegateChoice(None, None, None)
    library = resolve_library(name_or_path)
    try:
        delegate = litert.load_delegate(library)
    except (ValueError, OSError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if fallback == "fail":
            raise UsageError(
                f"delegate '{name_or_path}' could not be loaded from {library} ({reason}); "
                "install its library or use --delegate-fallback cpu"
            ) from exc
        log.warning("delegate '%s' unavailable (%s); running on CPU", name_or_path, reason)
        return DelegateChoice(name_or_path, None, None)
    return DelegateChoice(name_or_path, library, delegate)
