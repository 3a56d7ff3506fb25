"""Click commands ``edgevision service install`` and ``edgevision config check FILE``.

stdout carries each command's own answer here (there are no per-frame results to protect).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml
from click.core import ParameterSource

from edgevision.service.install import (
    DEFAULT_CONFIG_DIR,
    DEFAULT_UNIT_DIR,
    DEFAULT_USER,
    install_service,
)


def explicit_options(ctx: click.Context) -> dict[str, Any]:
    """The options of ``ctx`` the user typed (or set through the environment), not defaults:
    what :func:`edgevision.config.apply_overrides` lays over a config file."""
    return {
        name: value
        for name, value in ctx.params.items()
        if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)
    }


@click.group("service")
def service_group() -> None:
    """Run edgevision as a systemd service."""


@service_group.command("install")
@click.option("--dry-run", is_flag=True, help="Show what would be written; write nothing.")
@click.option("--unit-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_UNIT_DIR,
              show_default=True, help="Where the systemd unit goes.")
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_CONFIG_DIR,
              show_default=True, help="Where the starter config goes.")
@click.option("--user", default=DEFAULT_USER, show_default=True, help="System user the service runs as.")
@click.option("--force", is_flag=True, help="Replace an existing config with the starter config.")
def install(dry_run: bool, unit_dir: Path, config_dir: Path, user: str, force: bool) -> None:
    """Write the systemd unit and a starter config, then print the commands to enable it."""
    plan = install_service(dry_run=dry_run, unit_dir=unit_dir, config_dir=config_dir, user=user, force=force)
    for planned in plan.files:
        if planned.action == "keep":
            click.echo(f"keeping existing {planned.path} (--force replaces it)")
        elif dry_run:
            click.echo(f"would {planned.action} {planned.path} (mode {planned.mode:04o}):")
            click.echo("\n".join(f"    {line}" for line in planned.content.splitlines()))
        else:
            click.echo(f"{'replaced' if planned.action == 'replace' else 'wrote'} {planned.path}")
    click.echo("\nThen, as root:" if not dry_run else "\nThen you would run, as root:")
    for command in plan.commands:
        click.echo(f"  {command}")


@click.group("config")
def config_group() -> None:
    """Check edgevision config files."""


@config_group.command("check")
@click.argument("file", type=click.Path(path_type=Path, readable=False))
@click.option("--show", is_flag=True, help="Also print the config as loaded, secrets masked.")
def check(file: Path, show: bool) -> None:
    """Validate FILE without running: keys, types, values, referenced files, ${ENV} variables."""
    from edgevision.config import load_config  # noqa: PLC0415 - keeps --help fast

    config = load_config(file)
    outputs = [name for name in ("mqtt", "record", "http") if getattr(config.outputs, name) is not None]
    outputs = (["stdout"] if config.outputs.stdout else []) + outputs
    click.echo(
        f"{file}: OK ({len(config.cameras)} camera{'s' if len(config.cameras) != 1 else ''}: "
        f"{', '.join(config.cameras)}; outputs: {', '.join(outputs) or 'none'})"
    )
    if show:
        click.echo(yaml.safe_dump(config.redacted(), sort_keys=False), nl=False)
