"""Run the real ``edgevision`` entry point (its error handling included) in a subprocess.

The ``config`` and ``service`` groups are added when the CLI does not register them yet, so
these tests exercise the same ``main()`` users do.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_ENTRY = """
from edgevision.cli import cli, main
from edgevision.service.cli import config_group, service_group
for group in (config_group, service_group):
    if group.name not in cli.commands:
        cli.add_command(group)
main()
"""

# Root ignores file permissions; without these capabilities it meets them like the service user.
# Any other user meets them already (and may not drop capabilities).
WITHOUT_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


def run_cli(*args: str, env: dict[str, str] | None = None, prefix: list[str] | None = None,
            cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [*(prefix or []), sys.executable, "-c", _ENTRY, *args],
        capture_output=True, text=True, env=environment, cwd=cwd, timeout=timeout,
    )  # fmt: skip
