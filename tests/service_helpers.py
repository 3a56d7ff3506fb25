"""Run the real ``edgevision`` command (its error handling included) in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Root ignores file permissions; without these capabilities it meets them like the service user.
# Any other user meets them already (and may not drop capabilities).
WITHOUT_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


def run_cli(*args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None,
            cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "edgevision", *args],
        capture_output=True, text=True, env=environment, cwd=cwd, timeout=timeout,
    )  # fmt: skip
