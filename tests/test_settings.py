from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from connectit import env

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def environ(monkeypatch):
    for name in ("X_FLAG", "X_FLAG_FILE", "X_NUMBER", "X_NUMBER_FILE", "X_LIST", "X_LIST_FILE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.parametrize("raw", ["maybe", "2", "yes please"])
def test_a_bad_boolean_raises(environ, raw: str) -> None:
    environ.setenv("X_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match="X_FLAG must be true or false"):
        env.env_bool("X_FLAG")


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("Yes", True), ("0", False), ("off", False)])
def test_booleans_parse(environ, raw: str, expected: bool) -> None:
    environ.setenv("X_FLAG", raw)
    assert env.env_bool("X_FLAG") is expected


def test_a_missing_boolean_takes_the_default(environ) -> None:
    assert env.env_bool("X_FLAG", True) is True


def test_a_bad_integer_raises(environ) -> None:
    environ.setenv("X_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_NUMBER must be a whole number"):
        env.env_int("X_NUMBER", 1)
    environ.setenv("X_NUMBER", "-5")
    with pytest.raises(ImproperlyConfigured, match="X_NUMBER must be at least 0"):
        env.env_int("X_NUMBER", 1, minimum=0)


def test_file_variants_are_read(environ, tmp_path) -> None:
    secret = tmp_path / "keys"
    secret.write_text("key-one\nkey-two\n")
    environ.setenv("X_LIST_FILE", str(secret))
    assert env.env_list("X_LIST") == ["key-one", "key-two"]
    environ.setenv("X_FLAG_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="X_FLAG_FILE: cannot read"):
        env.env_bool("X_FLAG")


def test_generated_secrets_are_private_and_stable(tmp_path) -> None:
    path = tmp_path / "var" / "secret_key"
    first = env.secret_file(path, env.new_secret_key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert env.secret_file(path, env.new_secret_key) == first


def load_settings(tmp_path: Path, **extra: str) -> subprocess.CompletedProcess:
    """Import the real settings in a fresh interpreter with a clean environment."""
    environ = {
        "PATH": os.environ["PATH"],
        "CONNECTIT_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "connectit.settings",
        **extra,
    }
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environ, capture_output=True, text=True, timeout=60
    )


def database_options(tmp_path: Path, **extra: str) -> dict:
    options = "settings.DATABASES['default']['OPTIONS']"
    code = f"import json; from connectit import settings; print(json.dumps({options}))"
    environ = {"PATH": os.environ["PATH"], "CONNECTIT_VAR_DIR": str(tmp_path / "var"), **extra}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_postgresql_may_prepare_the_worker_claims_unless_told_not_to(tmp_path) -> None:
    url = "postgres://app@db.example.com:5432/connectit?sslmode=require"
    assert database_options(tmp_path, DATABASE_URL=url) == {
        "sslmode": "require",
        "prepare_threshold": 1_000_000,
    }
    # Behind a pooler that cannot keep prepared statements (PgBouncer in transaction mode
    # before 1.21): nothing is prepared.
    off = database_options(tmp_path, DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS="false")
    assert off == {"sslmode": "require"}
    assert "prepare_threshold" not in database_options(tmp_path)  # SQLite


def test_settings_refuse_a_bad_debug_value(tmp_path) -> None:
    result = load_settings(tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "ImproperlyConfigured: DEBUG must be true or false (got 'maybe')" in result.stderr


def test_settings_refuse_a_bad_encryption_key(tmp_path) -> None:
    result = load_settings(tmp_path, CONNECTIT_ENCRYPTION_KEYS="not-a-key")
    assert result.returncode != 0
    assert "CONNECTIT_ENCRYPTION_KEYS: key 1 is not a Fernet key" in result.stderr
    assert "not-a-key" not in result.stderr.split("ImproperlyConfigured")[-1]


def test_settings_generate_private_key_files_on_first_run(tmp_path) -> None:
    result = load_settings(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"  # DEBUG is off unless set
    for name in ("secret_key", "encryption_key"):
        assert stat.S_IMODE((tmp_path / "var" / name).stat().st_mode) == 0o600


def test_production_settings_pass_the_deploy_check(tmp_path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "CONNECTIT_VAR_DIR": str(tmp_path / "var"),
        "DEBUG": "false",
        "SECRET_KEY": "x" * 30 + "production-only-secret-key-for-the-check-0123456789",
        "CONNECTIT_PUBLIC_URL": "https://connectit.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # Only the two HSTS options stay off by default: they bind every subdomain and the browsers'
    # preload list, a choice for the site's owner (SECURE_HSTS_INCLUDE_SUBDOMAINS/_PRELOAD).
    reported = {line.split()[1] for line in result.stderr.splitlines() if line.startswith("?: (")}
    assert reported == {"(security.W005)", "(security.W021)"}, result.stderr
