"""``edgevision service install``: write the systemd unit and a starter config.

The unit shipped in ``systemd/`` is a template: install points its ``ExecStart=`` at the
``edgevision`` of the environment it runs from (a venv on a Pi is the common case) and at the
chosen config, so the service runs exactly what the user just tested by hand.
"""

from __future__ import annotations

import logging
import pwd
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from edgevision.errors import EdgevisionError, UsageError

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).resolve().parent / "templates"
UNIT_NAME = "edgevision.service"
CONFIG_NAME = "edgevision.yaml"
DEFAULT_UNIT_DIR = Path("/etc/systemd/system")
DEFAULT_CONFIG_DIR = Path("/etc/edgevision")
DEFAULT_USER = "edgevision"
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass
class PlannedFile:
    path: Path
    content: str
    mode: int
    action: str  # "write", "replace" or "keep"


@dataclass
class InstallPlan:
    """What install writes (or would write with --dry-run) and the commands left to the user."""

    files: list[PlannedFile] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


def edgevision_command() -> str:
    """How systemd starts this install: the ``edgevision`` script next to this Python (a venv),
    else the one on PATH, else this Python with ``-m edgevision`` (a source checkout)."""
    beside = Path(sys.executable).with_name("edgevision")
    if beside.is_file():
        return str(beside)
    found = shutil.which("edgevision")
    if found:
        return str(Path(found).resolve())
    return f"{Path(sys.executable).resolve()} -m edgevision"


def _template(name: str) -> str:
    try:
        return (TEMPLATES / name).read_text()
    except OSError:
        raise EdgevisionError(f"the service template {name} is missing from this install; reinstall edgevision") from None


def render_unit(command: str, config_path: Path, user: str) -> str:
    """The shipped unit with this install's command, config and user."""
    text = _template(UNIT_NAME)
    text = re.sub(r"^ExecStart=.*$", f"ExecStart={command} run --config {config_path}", text, flags=re.M)
    text = re.sub(r"^User=.*$", f"User={user}", text, flags=re.M)
    text = re.sub(r"^EnvironmentFile=.*$", f"EnvironmentFile=-{config_path.with_suffix('.env')}", text, flags=re.M)
    return re.sub(r"^Group=.*$", f"Group={user}", text, flags=re.M)


def install_service(
    dry_run: bool = False,
    unit_dir: Path = DEFAULT_UNIT_DIR,
    config_dir: Path = DEFAULT_CONFIG_DIR,
    user: str = DEFAULT_USER,
    force: bool = False,
    command: str | None = None,
) -> InstallPlan:
    """Write the unit and (unless one exists, or ``force``) the starter config; return the plan.

    The unit is always replaced: it is ours and carries no user settings. The config is the
    user's, so an existing one is kept unless ``force``.
    """
    if not _USER_NAME.match(user):
        raise UsageError(f"bad --user {user!r}: use a system user name like 'edgevision' (a-z, 0-9, '_', '-')")
    unit_path = Path(unit_dir) / UNIT_NAME
    config_path = Path(config_dir) / CONFIG_NAME
    command = command or edgevision_command()
    unit = render_unit(command, config_path, user)
    plan = InstallPlan()
    plan.files.append(PlannedFile(unit_path, unit, 0o644, "replace" if unit_path.exists() else "write"))
    config_action = "keep" if config_path.exists() and not force else ("replace" if config_path.exists() else "write")
    plan.files.append(PlannedFile(config_path, _template(CONFIG_NAME), 0o640, config_action))
    plan.commands = _commands(command, user, config_path)
    if not dry_run:
        for planned in plan.files:
            if planned.action != "keep":
                _write(planned)
    return plan


def _write(planned: PlannedFile) -> None:
    try:
        planned.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = planned.path.with_name(f".{planned.path.name}.tmp")
        temporary.write_text(planned.content)
        temporary.chmod(planned.mode)
        temporary.replace(planned.path)  # never leaves a half-written unit behind
    except OSError as exc:
        raise UsageError(
            f"cannot write {planned.path}: {exc.strerror or exc}; run with sudo, or pick folders with "
            "--unit-dir/--config-dir"
        ) from None
    log.debug("wrote %s", planned.path)


def _commands(command: str, user: str, config_path: Path) -> list[str]:
    commands = []
    try:
        pwd.getpwnam(user)
    except KeyError:
        commands.append(
            f"useradd --system --user-group --groups video --home-dir /var/lib/edgevision "
            f"--no-create-home --shell /usr/sbin/nologin {user}"
        )
    commands += [
        f"chown root:{user} {config_path} && chmod 0640 {config_path}",
        f"{command} config check {config_path}",
        "systemctl daemon-reload",
        f"systemctl enable --now {UNIT_NAME}",
        f"journalctl -u {UNIT_NAME} -f",
    ]
    return commands
