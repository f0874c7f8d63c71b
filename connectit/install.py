"""The embedded install's files: ``var/``, the SQLite database and the generated keys.

Who may create what:

- ``manage.py migrate`` (the set-up step ``make run`` takes first) creates ``var/`` (mode 0700),
  the database file (mode 0600) and the keys.
- Every other management command and the web server open an existing install and never create
  one: run from the wrong folder, they would otherwise make an empty database with fresh keys
  and fail later with a raw ``no such table``.
- A plain import (the test suite, the benchmarks, their worker processes) may generate keys in
  ``var/`` but leaves the database to whoever connects.

In every case no encryption key is generated beside a database that already exists: its secrets
were encrypted with the key that went missing, and a new one would strand them.

This module imports nothing from Django's settings: ``manage.py`` calls it before they load.
"""

from __future__ import annotations

import contextlib
import os
import stat
from enum import Enum
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

# Commands that work before the database exists, or create it (migrate).
_NO_DATABASE_NEEDED = frozenset(
    {"check", "makemigrations", "help", "version", "collectstatic", "findstatic", "diffsettings"}
)
_CREATES = "migrate"
_PRIVATE_DIR = 0o700
_PRIVATE_FILE = 0o600
# SQLite gives its -wal and -shm files the database file's mode; older installs may have left
# looser ones behind.
_SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


class Mode(Enum):
    CREATE = "create"  # set up a new install if there is none
    OPEN = "open"  # the install must exist already
    DEFAULT = "default"  # keys may be generated; the database is left alone


class NotSetUp(ImproperlyConfigured):
    """The process must open an existing install, and there is none where it looked."""


_mode = Mode.DEFAULT


def set_mode_for_command(argv: list[str]) -> None:
    """Called by manage.py before the settings load."""
    global _mode
    command = argv[1] if len(argv) > 1 else "help"
    if command == _CREATES:
        _mode = Mode.CREATE
    elif command.startswith("-") or command in _NO_DATABASE_NEEDED:
        _mode = Mode.DEFAULT
    else:
        _mode = Mode.OPEN


def require_existing() -> None:
    """Called by the WSGI and ASGI entry points: a server never sets up an install by itself."""
    global _mode
    _mode = Mode.OPEN


def mode() -> Mode:
    return _mode


def database_exists(database: Path) -> bool:
    # An empty file is what a crashed first run or a stray connection leaves: no tables in it.
    try:
        return database.stat().st_size > 0
    except FileNotFoundError:
        return False


def prepare(var_dir: Path, database: Path | None) -> None:
    """Check and tighten the install's files before the settings read any key.

    ``database`` is the embedded SQLite file, or None when the database is a server.
    """
    if database is not None and _mode is Mode.OPEN and not database_exists(database):
        raise NotSetUp(
            f"No ConnectIT database at {database}. Point CONNECTIT_VAR_DIR (or DATABASE_URL) at the "
            "server's, or run `make run` (or `manage.py migrate`) to set up a new install there."
        )
    private_dir(var_dir)
    if database is None:
        return
    if _mode is Mode.CREATE:
        private_dir(database.parent)
        _create_private_file(database)
    for suffix in _SQLITE_SUFFIXES:
        tighten(Path(f"{database}{suffix}"), _PRIVATE_FILE)


def key_may_be_generated(key_file: Path, database: Path | None) -> None:
    """Refuse to generate ``key_file`` beside a database that needs the key that went missing."""
    if key_file.exists() or database is None or not database_exists(database):
        return
    raise ImproperlyConfigured(
        f"{key_file} is missing, but the database {database} exists and its secrets were encrypted "
        "with that key. Restore the file from a backup or set CONNECTIT_ENCRYPTION_KEYS; a new key "
        "would not decrypt them."
    )


def private_dir(path: Path) -> None:
    """Create ``path`` with mode 0700, or tighten it when this user owns it."""
    path.mkdir(mode=_PRIVATE_DIR, parents=True, exist_ok=True)
    tighten(path, _PRIVATE_DIR)


def tighten(path: Path, mode: int) -> None:
    """Remove permissions beyond ``mode`` from a file or folder this user owns."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & ~mode:
        path.chmod(stat.S_IMODE(info.st_mode) & mode)


def _create_private_file(path: Path) -> None:
    # Created before SQLite opens it, so it never exists with the umask's wider mode.
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE))
