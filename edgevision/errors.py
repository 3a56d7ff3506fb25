"""User-facing errors: one clear line naming the thing and the fix, and an exit code."""

from __future__ import annotations

EXIT_RUNTIME = 1
EXIT_USAGE = 2


class EdgevisionError(Exception):
    """An error a user can cause and fix; printed as one line without a traceback."""

    exit_code = EXIT_RUNTIME


class UsageError(EdgevisionError):
    """Bad command line, config or model file: the user must change what they asked for."""

    exit_code = EXIT_USAGE


class ModelError(UsageError):
    """The model file is missing, unreadable, or fits no supported family."""


class SourceError(EdgevisionError):
    """A camera, file or stream cannot be opened or read."""
