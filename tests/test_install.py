"""The embedded install's files: who may create them, and their modes.

Every test runs the real ``manage.py`` (or imports the real WSGI module) in a fresh interpreter
with its own ``CONNECTIT_VAR_DIR`` and a umask that would leave new files world-readable.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KEYS = ("secret_key", "encryption_key")


def run(var: Path, *args: str, code: str | None = None) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ["PATH"],
        "CONNECTIT_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "connectit.settings",
    }
    command = [sys.executable, "-c", code] if code else [sys.executable, "manage.py", *args]
    return subprocess.run(
        command,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(0o022),
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A var/ set up the way `make run` sets it up."""
    var = tmp_path_factory.mktemp("install") / "var"
    result = run(var, "migrate", "--noinput", "-v0")
    assert result.returncode == 0, result.stderr
    return var


def test_migrate_creates_a_private_var_dir(installed) -> None:
    assert mode(installed) == 0o700


def test_migrate_creates_a_private_database_and_keys(installed) -> None:
    assert mode(installed / "connectit.sqlite3") == 0o600
    for name in KEYS:
        assert mode(installed / name) == 0o600


def test_the_databases_wal_and_shm_files_are_private(installed) -> None:
    # SQLite creates them on the first write in WAL mode, with the database file's mode.
    old_umask = os.umask(0o022)
    try:
        connection = sqlite3.connect(installed / "connectit.sqlite3")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE IF NOT EXISTS probe (x)")
        connection.execute("INSERT INTO probe VALUES (1)")
        connection.commit()
        try:
            for suffix in ("-wal", "-shm"):
                assert mode(Path(f"{installed}/connectit.sqlite3{suffix}")) == 0o600
        finally:
            connection.close()
    finally:
        os.umask(old_umask)


def test_a_command_opens_the_existing_install(installed) -> None:
    result = run(installed, "get_token", "NOSUCH")
    assert "There is no OAuth2 authorization with code 'NOSUCH'" in result.stderr


def test_a_command_refuses_a_missing_database(tmp_path) -> None:
    var = tmp_path / "var"
    result = run(var, "get_token", "ENDPOINT")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line, no traceback
    assert lines[0].startswith("Error: No ConnectIT database at ")
    assert str(var / "connectit.sqlite3") in lines[0]
    assert "CONNECTIT_VAR_DIR" in lines[0]
    assert not var.exists()  # no keys, no database, not even the folder


def test_no_key_is_generated_beside_an_existing_database(installed, tmp_path) -> None:
    var = tmp_path / "var"
    var.mkdir()
    (var / "connectit.sqlite3").write_bytes((installed / "connectit.sqlite3").read_bytes())
    for args in (("refresh_tokens",), ("migrate", "--noinput")):
        result = run(var, *args)
        assert result.returncode != 0
        assert "encryption_key is missing, but the database" in result.stderr
        assert "Traceback" not in result.stderr
        assert not (var / "encryption_key").exists()


def test_an_older_install_with_loose_modes_is_tightened(installed, tmp_path) -> None:
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    for name in ("connectit.sqlite3", *KEYS):
        (var / name).write_bytes((installed / name).read_bytes())
    (var / "connectit.sqlite3").chmod(0o644)
    var.chmod(0o755)
    result = run(var, "get_token", "NOSUCH")
    assert "There is no OAuth2 authorization" in result.stderr
    assert mode(var) == 0o700
    assert mode(var / "connectit.sqlite3") == 0o600


def test_commands_that_need_no_database_create_none(tmp_path) -> None:
    var = tmp_path / "var"
    result = run(var, "check")
    assert result.returncode == 0, result.stderr
    assert not (var / "connectit.sqlite3").exists()


def test_the_web_server_refuses_a_missing_database(tmp_path) -> None:
    var = tmp_path / "var"
    result = run(var, code="import connectit.wsgi")
    assert result.returncode != 0
    assert "No ConnectIT database at" in result.stderr
    assert not var.exists()
