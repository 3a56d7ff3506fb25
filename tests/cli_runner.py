"""Runs the real ``edgevision`` command in a subprocess, as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Completed:
    returncode: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def error_lines(self) -> list[str]:
        """Lines the user sees on stderr, without the runtime's own INFO chatter and logs."""
        return [
            line
            for line in self.stderr.splitlines()
            if line.strip() and not line.startswith("INFO: ") and " INFO " not in line
            and " WARNING " not in line
        ]


def edgevision(*args: str | Path, timeout: float = 120, env: dict | None = None, before: str = "") -> Completed:
    """``edgevision ARGS``; ``before``: Python run first in the same process, to set up TensorFlow
    as a GPU machine would (split the CPU into devices, mixed precision) before the CLI starts."""
    command = ["-m", "edgevision"]
    if before:
        command = ["-c", f"{before}\nimport sys\nsys.argv[0] = 'edgevision'\nfrom edgevision.cli import main\nmain()"]
    proc = subprocess.run(
        [sys.executable, *command, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )
    return Completed(proc.returncode, proc.stdout, proc.stderr)
