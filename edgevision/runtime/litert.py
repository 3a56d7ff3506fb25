"""The one place that imports a TFLite runtime.

LiteRT (``ai-edge-litert``) first; ``tflite-runtime`` is abandoned and crashes with numpy 2, so
it is only a fallback, then ``tensorflow.lite`` for desktops that have TensorFlow anyway.
"""

from __future__ import annotations

import ctypes
import importlib
import logging
from types import ModuleType
from typing import Any

from edgevision.errors import EdgevisionError

log = logging.getLogger(__name__)

_CANDIDATES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")
_module: ModuleType | None = None


def runtime_module() -> ModuleType:
    """The first importable runtime module; it provides ``Interpreter`` and ``load_delegate``."""
    global _module
    if _module is None:
        for name in _CANDIDATES:
            try:
                _module = importlib.import_module(name)
            except ImportError:
                continue
            log.debug("TFLite runtime: %s", name)
            break
        else:
            raise EdgevisionError(
                "no TFLite runtime found: install one with 'pip install ai-edge-litert'"
            )
    return _module


def runtime_name() -> str:
    return runtime_module().__name__.split(".")[0]


def make_interpreter(
    model_path: str, num_threads: int | None, delegates: list[Any] | None
) -> Any:
    """A new interpreter; callers handle load errors (they know the model and delegate)."""
    module = runtime_module()
    return module.Interpreter(
        model_path=model_path,
        num_threads=num_threads,
        experimental_delegates=delegates or None,
    )


def load_delegate(library: str, options: dict[str, str] | None = None) -> Any:
    """Load a delegate library; raises OSError when it cannot be opened.

    The library is opened with ctypes first: LiteRT's ``Delegate`` prints an ignored
    exception from its destructor when the library is missing, which users would see as a
    traceback.
    """
    ctypes.CDLL(library)
    return runtime_module().load_delegate(library, options or {})
