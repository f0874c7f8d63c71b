"""Settings of the loopback-only test authorization server. Never used in production."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from tests.provider.constants import (
    AC_NOPKCE_CLIENT_ID,
    DEFAULT_ACCESS_TOKEN_SECONDS,
    ENV_ACCESS_TOKEN_SECONDS,
    ENV_DB_PATH,
    SCOPES,
)

HERE = Path(__file__).resolve().parent


def _db_path() -> str:
    # Required: a default would leave a stray database file in the repository.
    path = os.environ.get(ENV_DB_PATH)
    if not path:
        raise ImproperlyConfigured(f"{ENV_DB_PATH} must name the provider's SQLite file")
    return path


def _access_token_seconds() -> int:
    raw = os.environ.get(ENV_ACCESS_TOKEN_SECONDS, str(DEFAULT_ACCESS_TOKEN_SECONDS))
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{ENV_ACCESS_TOKEN_SECONDS} must be an integer") from exc


def pkce_required(client_id: str) -> bool:
    """DOT calls this per authorization request; only `ac-nopkce` may skip PKCE."""
    return client_id != AC_NOPKCE_CLIENT_ID


SECRET_KEY = "test-provider-only-not-a-secret"  # loopback test server, throwaway data
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "oauth2_provider",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "tests.provider.urls"
WSGI_APPLICATION = "tests.provider.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [HERE / "templates"],
        "APP_DIRS": True,  # DOT's authorize.html
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _db_path(),
        "OPTIONS": {
            # 16 gunicorn threads write tokens concurrently: wait for the lock instead of
            # failing with "database is locked", and take it up front in transactions.
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}

# Tables come straight from the models (no migration files run): start-up stays well under
# a second, and nothing here needs a migration history.
MIGRATION_MODULES = {app.rsplit(".", 1)[-1]: None for app in INSTALLED_APPS}

# DOT hashes client secrets with the first hasher. PBKDF2 would cost ~0.3 s of CPU per
# client authentication and serialise stampede tests behind the GIL; MD5 still stores a hash.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"

# Cookies ignore the port: the app under test also runs on 127.0.0.1, so with Django's default
# names a browser logging in here would overwrite the app's own session and CSRF cookies.
SESSION_COOKIE_NAME = "provider_sessionid"
CSRF_COOKIE_NAME = "provider_csrftoken"

OAUTH2_PROVIDER = {
    "SCOPES": SCOPES,
    "DEFAULT_SCOPES": ["read"],
    "ACCESS_TOKEN_EXPIRE_SECONDS": _access_token_seconds(),
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    # A callable (not a dotted path: DOT does not import this setting) taking client_id.
    "PKCE_REQUIRED": pkce_required,
    # "force": the consent page is shown on every request, even for earlier approvals.
    "REQUEST_APPROVAL_PROMPT": "force",
    # Reject what the app must never rely on (and keep DOT's deprecation warnings quiet).
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    # Server errors end up in the log file the fixture shows when something fails.
    "loggers": {
        "django.request": {"handlers": ["stderr"], "level": "ERROR"},
        "oauth2_provider": {"handlers": ["stderr"], "level": "WARNING"},
    },
}
