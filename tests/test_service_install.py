"""`edgevision service install` writes a working unit and a starter config, and says what's next."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from service_helpers import WITHOUT_DAC, run_cli

from edgevision.config import load_config
from edgevision.errors import EXIT_USAGE, UsageError
from edgevision.service.install import edgevision_command, install_service


def test_dry_run_writes_nothing_and_shows_everything(tmp_path):
    unit_dir, config_dir = tmp_path / "units", tmp_path / "etc"
    result = run_cli("service", "install", "--dry-run", "--unit-dir", str(unit_dir), "--config-dir", str(config_dir))
    assert result.returncode == 0, result.stderr
    assert not unit_dir.exists() and not config_dir.exists()
    assert f"would write {unit_dir / 'edgevision.service'} (mode 0644):" in result.stdout
    assert f"would write {config_dir / 'edgevision.yaml'} (mode 0640):" in result.stdout
    assert "    Type=notify" in result.stdout and "    cameras:" in result.stdout
    assert "systemctl enable --now edgevision.service" in result.stdout


def test_install_writes_a_unit_that_verifies_and_a_config_that_loads(tmp_path):
    unit_dir, config_dir = tmp_path / "units", tmp_path / "etc"
    result = run_cli("service", "install", "--unit-dir", str(unit_dir), "--config-dir", str(config_dir), "--user", "pi")
    assert result.returncode == 0, result.stderr
    unit, config = unit_dir / "edgevision.service", config_dir / "edgevision.yaml"
    assert unit.stat().st_mode & 0o777 == 0o644 and config.stat().st_mode & 0o777 == 0o640
    text = unit.read_text()
    assert f"\nExecStart={edgevision_command()} run --config {config}\n" in text
    assert "User=pi\n" in text and "Group=pi\n" in text
    assert f"EnvironmentFile=-{config_dir / 'edgevision.env'}" in text
    assert load_config(config).cameras
    lines = result.stdout.splitlines()
    assert lines[:2] == [f"wrote {unit}", f"wrote {config}"]
    assert "  systemctl daemon-reload" in lines and "  systemctl enable --now edgevision.service" in lines
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
        assert (verify.returncode, verify.stderr) == (0, "")


def test_the_users_config_is_kept_unless_forced(tmp_path):
    config = tmp_path / "etc" / "edgevision.yaml"
    config.parent.mkdir()
    config.write_text("cameras: {mine: {source: demo}}\n")
    plan = install_service(unit_dir=tmp_path / "units", config_dir=config.parent, command="/usr/bin/edgevision")
    assert [f.action for f in plan.files] == ["write", "keep"]
    assert config.read_text() == "cameras: {mine: {source: demo}}\n"
    plan = install_service(unit_dir=tmp_path / "units", config_dir=config.parent, command="/usr/bin/edgevision", force=True)
    assert [f.action for f in plan.files] == ["replace", "replace"]
    assert "front:" in config.read_text()


def test_commands_create_the_missing_user_only(tmp_path):
    plan = install_service(dry_run=True, unit_dir=tmp_path, config_dir=tmp_path, user="edgevision-nobody-here", command="ev")
    assert plan.commands[0].startswith("useradd --system --user-group --groups video")
    assert plan.commands[0].endswith(" edgevision-nobody-here")
    plan = install_service(dry_run=True, unit_dir=tmp_path, config_dir=tmp_path, user="root", command="ev")
    assert not any(c.startswith("useradd") for c in plan.commands)
    assert f"ev config check {tmp_path / 'edgevision.yaml'}" in plan.commands


def test_bad_user_name_is_refused():
    with pytest.raises(UsageError, match="bad --user 'x\\\\nExecStartPre=/bin/sh'"):
        install_service(dry_run=True, user="x\nExecStartPre=/bin/sh", command="ev")


def test_unwritable_unit_folder_is_one_clear_line(tmp_path):
    folder = tmp_path / "units"
    folder.mkdir()
    folder.chmod(0o555)
    result = run_cli("service", "install", "--unit-dir", str(folder), "--config-dir", str(tmp_path / "etc"),
                     prefix=WITHOUT_DAC)  # fmt: skip
    assert result.returncode == EXIT_USAGE
    assert result.stderr.strip().splitlines()[-1] == (
        f"edgevision: error: cannot write {folder / 'edgevision.service'}: Permission denied; "
        "run with sudo, or pick folders with --unit-dir/--config-dir"
    )
    assert "Traceback" not in result.stderr and list(folder.iterdir()) == []
