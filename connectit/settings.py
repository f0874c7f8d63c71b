"""Settings for ConnectIT OAuth2. Everything comes from the environment (see README.md)."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import bootstrap_wrapper
import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from connectit import install
from connectit.csp import policy as csp_policy
from connectit.env import env_bool, env_float, env_int, env_list, env_str, new_secret_key, secret_file

BASE_DIR = Path(__file__).resolve().parent.parent
# Generated keys and the embedded database live here (mode 0700); git-ignored.
VAR_DIR = Path(env_str("CONNECTIT_VAR_DIR") or BASE_DIR / "var").resolve()


def _database() -> dict:
    url = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'connectit.sqlite3'}"
    try:
        config = dj_database_url.parse(url)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {
            # Take the write lock when a transaction starts, so two writers never deadlock
            # upgrading read locks; wait for it instead of failing at once.
            "transaction_mode": "IMMEDIATE",
            "timeout": env_int("CONNECTIT_SQLITE_TIMEOUT", 30, minimum=1),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        config["CONN_HEALTH_CHECKS"] = True
        if env_bool("DATABASE_PREPARED_STATEMENTS", True):
            # Lets connectit.db.prepared_cursor prepare the worker's claims. Nothing else is
            # prepared, whatever the threshold: Django's cursors bind on the client.
            config.setdefault("OPTIONS", {}).setdefault("prepare_threshold", 1_000_000)
    # Kept between requests (and between a worker's tasks): opening one costs more than a query.
    config["CONN_MAX_AGE"] = env_int("CONN_MAX_AGE", 60, minimum=0)
    return config


DATABASES = {"default": _database()}
# The SQLite file, or None for a database server (or SQLite in memory).
_SQLITE_FILE = (
    Path(DATABASES["default"]["NAME"]).resolve()
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    and DATABASES["default"]["NAME"] not in ("", ":memory:")
    else None
)
# Before any key is read or generated: refuse a missing install, create or tighten its files.
install.prepare(VAR_DIR, _SQLITE_FILE)

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY") or secret_file(VAR_DIR / "secret_key", new_secret_key)

CONNECTIT_PUBLIC_URL = env_str("CONNECTIT_PUBLIC_URL").rstrip("/")
_public = urlsplit(CONNECTIT_PUBLIC_URL) if CONNECTIT_PUBLIC_URL else None
if _public is not None and (_public.scheme not in ("http", "https") or not _public.hostname):
    raise ImproperlyConfigured("CONNECTIT_PUBLIC_URL must be an absolute http(s) URL")
_default_hosts = ["127.0.0.1", "localhost", "[::1]"]
if _public is not None:
    _default_hosts.append(_public.hostname)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", _default_hosts)
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS",
    [f"{_public.scheme}://{_public.netloc}"] if _public is not None else [],
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    # Throttles failed logins (see the login protection settings below).
    "axes",
    # Registers django-csp's system checks for its settings.
    "csp",
    # Background work: the task framework and its database backend (tables and the worker).
    "django_tasks",
    "django_tasks_db",
    "connectit",
    "oauth2_auth",
    "definitions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Above everything that may answer by itself (login redirects, error pages), so every
    # response gets the Content-Security-Policy header.
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a logged-in user unless its view opts out with @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After messages, so the page after an idle sign-out can say why.
    "connectit.login_protection.IdleSessionMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "connectit.middleware.DecryptionErrorMiddleware",
    # Last, as axes asks: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "connectit.urls"
WSGI_APPLICATION = "connectit.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


if _SQLITE_FILE is not None:
    # A file, not memory, so that threads and separate processes in the tests share the test
    # database the way gunicorn workers share the real one.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-connectit.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# axes first: it refuses a locked-out username or address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)


# bootstrap-wrapper ships Bootstrap's dist files (css/, js/), so pages work offline with no CDN.
STATICFILES_DIRS = [BASE_DIR / "static", ("bootstrap", str(bootstrap_wrapper.get_bootstrap_dir()))]
# WhiteNoise serves straight from the finders, so no collectstatic step is needed to run.
WHITENOISE_USE_FINDERS = True
# Files served at the site's root, such as /favicon.ico, which browsers ask for on every page.
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
WHITENOISE_AUTOREFRESH = DEBUG

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Security ------------------------------------------------------------------------------
# Served over HTTPS when the public URL says so (or CONNECTIT_HTTPS=true behind a proxy).
HTTPS = env_bool("CONNECTIT_HTTPS", _public is not None and _public.scheme == "https")
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
CONNECTIT_BEHIND_PROXY = env_bool("CONNECTIT_BEHIND_PROXY", False)
if CONNECTIT_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600, minimum=60)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Same-origin scripts and styles only, nothing inline, no framing (connectit/csp.py). Pages that
# send a form to an OAuth2 provider add its origin to form-action with csp.allow_form_action.
CONTENT_SECURITY_POLICY = csp_policy(https=HTTPS)
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS")

# --- ConnectIT -----------------------------------------------------------------------------
# Plain http is refused for non-loopback endpoints unless this is set.
CONNECTIT_ALLOW_HTTP = env_bool("CONNECTIT_ALLOW_HTTP", False)
# The documents a WSDL imports (and the WSDL) may come from private, link-local or loopback addresses.
CONNECTIT_ALLOW_PRIVATE_NETWORKS = env_bool("CONNECTIT_ALLOW_PRIVATE_NETWORKS", False)
# Seconds any outbound request may take (token endpoints, APIs, WSDLs).
CONNECTIT_HTTP_TIMEOUT = env_int("CONNECTIT_HTTP_TIMEOUT", 15, minimum=1)
# A token refreshes when it expires within this many seconds.
CONNECTIT_REFRESH_MARGIN = env_int("CONNECTIT_REFRESH_MARGIN", 60, minimum=0)
# Lifetime assumed for a token whose response carries no expires_in.
CONNECTIT_DEFAULT_TOKEN_LIFETIME = env_int("CONNECTIT_DEFAULT_TOKEN_LIFETIME", 3600, minimum=1)
# Largest answer a definition run reads (one import page, one export response).
CONNECTIT_RESPONSE_MAX_BYTES = env_int("CONNECTIT_RESPONSE_MAX_BYTES", 32 * 1024 * 1024, minimum=1024)
# Import pages a run keeps in its log, in bytes; pages past this are counted but not kept.
CONNECTIT_RUN_KEEP_BYTES = env_int("CONNECTIT_RUN_KEEP_BYTES", 64 * 1024 * 1024, minimum=0)
# How long a Get Token consent (its state and PKCE verifier) may take.
CONNECTIT_CONSENT_TIMEOUT = env_int("CONNECTIT_CONSENT_TIMEOUT", 600, minimum=30)
# Days the audit trail keeps its entries.
CONNECTIT_AUDIT_DAYS = env_int("CONNECTIT_AUDIT_DAYS", 365, minimum=1)

# --- Login protection (django-axes; hooks in connectit/login_protection.py) --------------------
# Failed logins lock a username after CONNECTIT_LOGIN_FAILURES and, separately, a client address
# after CONNECTIT_LOGIN_ADDRESS_FAILURES (higher: many people may share one office address), on
# every login form (ours and the admin's), until CONNECTIT_LOGIN_COOLOFF_MINUTES pass without a
# failure.
AXES_FAILURE_LIMIT = env_int("CONNECTIT_LOGIN_FAILURES", 5, minimum=1)
CONNECTIT_LOGIN_ADDRESS_FAILURES = env_int(
    "CONNECTIT_LOGIN_ADDRESS_FAILURES", 4 * AXES_FAILURE_LIMIT, minimum=1
)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("CONNECTIT_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HANDLER = "connectit.login_protection.LoginProtectionHandler"
# REMOTE_ADDR, or X-Forwarded-For's last entry only behind our proxy (CONNECTIT_BEHIND_PROXY).
AXES_CLIENT_IP_CALLABLE = "connectit.login_protection.client_address"
# The login page with "Try again in N minutes", not axes' bare text page.
AXES_LOCKOUT_CALLABLE = "connectit.login_protection.lockout_response"
# Log lines name the username and address (axes would mask them), quoted, never the password.
AXES_CLIENT_STR_CALLABLE = "connectit.login_protection.client_description"
# No "AXES: BEGIN" banner on stderr at every start (every manage.py command, e.g. get_token).
AXES_VERBOSE = False
# The audit trail records every sign-in already; axes' own table of them would only grow.
AXES_DISABLE_ACCESS_LOG = True
# A success does not wipe the failures: an attacker with one valid account could otherwise reset
# their address's count between guesses at other accounts.
AXES_RESET_ON_SUCCESS = False
# Logins end after this many minutes without a request (SESSION_COOKIE_AGE still ends them anyway).
CONNECTIT_SESSION_IDLE_MINUTES = env_int("CONNECTIT_SESSION_IDLE_MINUTES", 60, minimum=1)


def _encryption_keys() -> list[str]:
    keys = env_list("CONNECTIT_ENCRYPTION_KEYS")
    if not keys:
        key_file = VAR_DIR / "encryption_key"
        install.key_may_be_generated(key_file, _SQLITE_FILE)
        keys = [secret_file(key_file, lambda: Fernet.generate_key().decode())]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ImproperlyConfigured(
                f"CONNECTIT_ENCRYPTION_KEYS: key {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
            ) from None
    return keys


# --- Background work (see connectit/worker.py) ---------------------------------------------------
# Runs, schedules, token keep-alive, retention and alerts run in `manage.py worker` processes;
# the database is the queue, so any number of workers on any number of servers may share it.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# How often an idle worker looks for queued work (seconds): the queue latency's upper bound.
CONNECTIT_WORKER_POLL = env_float("CONNECTIT_WORKER_POLL", 0.25, minimum=0.05)
# Tasks one worker process runs at once: runs mostly wait for APIs, so threads overlap them.
CONNECTIT_WORKER_THREADS = env_int("CONNECTIT_WORKER_THREADS", 4, minimum=1)
# A running run's worker writes a heartbeat this often; without one for WORKER_LOST_AFTER seconds
# the run is marked failed ("worker lost").
CONNECTIT_HEARTBEAT_SECONDS = env_int("CONNECTIT_HEARTBEAT_SECONDS", 10, minimum=1)
CONNECTIT_WORKER_LOST_AFTER = env_int("CONNECTIT_WORKER_LOST_AFTER", 60, minimum=2)
# A run's overall deadline when its definition sets none (seconds).
CONNECTIT_RUN_DEADLINE = env_int("CONNECTIT_RUN_DEADLINE", 3600, minimum=10)
# The Entra ID presets' sign-in origin instead of each cloud's own (a stand-in, a proxy); empty:
# login.microsoftonline.com and the national clouds' hosts (oauth2_auth/presets.py).
CONNECTIT_ENTRA_LOGIN_BASE = env_str("CONNECTIT_ENTRA_LOGIN_BASE", "")
# An import's GET answered 429 or 503 waits for Retry-After (at most RETRY_AFTER_MAX seconds),
# at most RETRY_ATTEMPTS times per request.
CONNECTIT_RETRY_ATTEMPTS = env_int("CONNECTIT_RETRY_ATTEMPTS", 5, minimum=0)
CONNECTIT_RETRY_AFTER_MAX = env_int("CONNECTIT_RETRY_AFTER_MAX", 120, minimum=1)
# Runs (with their pages) older than this many days are deleted; a definition may keep its own.
CONNECTIT_RUN_RETENTION_DAYS = env_int("CONNECTIT_RUN_RETENTION_DAYS", 30, minimum=1)
# Tokens that expire within this many seconds are renewed ahead of time by the workers, and
# authorization-code tokens not refreshed for KEEPALIVE_DAYS are refreshed, so an idle refresh
# token never reaches a provider's inactivity limit (Entra ID: 90 days).
CONNECTIT_RENEW_AHEAD = env_int("CONNECTIT_RENEW_AHEAD", 300, minimum=0)
CONNECTIT_KEEPALIVE_DAYS = env_int("CONNECTIT_KEEPALIVE_DAYS", 7, minimum=1)

# --- Alerts and e-mail (see connectit/alerts.py) -------------------------------------------------
# Who hears about an authorization that needs consent again, a token renewal that keeps failing or
# a schedule whose runs keep failing: e-mail recipients and/or a webhook (a signed JSON POST).
CONNECTIT_ALERT_EMAILS = env_list("CONNECTIT_ALERT_EMAILS")
CONNECTIT_ALERT_WEBHOOK_URL = env_str("CONNECTIT_ALERT_WEBHOOK_URL").strip()
CONNECTIT_ALERT_WEBHOOK_SECRET = env_str("CONNECTIT_ALERT_WEBHOOK_SECRET")
if CONNECTIT_ALERT_WEBHOOK_URL:
    # The full URL policy (validators.validate_endpoint_url) needs settings; the workers apply it
    # before each POST and the Alerts page shows its verdict. A receiver cannot tell our alerts
    # from anyone's without the signature, so an unsigned webhook is a configuration error.
    if urlsplit(CONNECTIT_ALERT_WEBHOOK_URL).scheme not in ("http", "https"):
        raise ImproperlyConfigured("CONNECTIT_ALERT_WEBHOOK_URL must be an absolute http(s) URL")
    if len(CONNECTIT_ALERT_WEBHOOK_SECRET) < 16:
        raise ImproperlyConfigured(
            "CONNECTIT_ALERT_WEBHOOK_SECRET (or _FILE) must be set, at least 16 characters, "
            "when CONNECTIT_ALERT_WEBHOOK_URL is: the receiver checks the signature with it"
        )
# Consecutive failed token renewals of one authorization, and consecutive failed scheduled runs of
# one definition, that open an incident.
CONNECTIT_ALERT_AFTER_FAILURES = env_int("CONNECTIT_ALERT_AFTER_FAILURES", 3, minimum=1)
CONNECTIT_ALERT_RUN_FAILURES = env_int(
    "CONNECTIT_ALERT_RUN_FAILURES", CONNECTIT_ALERT_AFTER_FAILURES, minimum=1
)
# How often (seconds) one worker looks for new and cleared problems.
CONNECTIT_ALERT_CHECK_SECONDS = env_int("CONNECTIT_ALERT_CHECK_SECONDS", 30, minimum=1)
# Django's mail settings. The e-mail backend is SMTP unless EMAIL_BACKEND names another (the
# console backend prints alerts, handy on a laptop).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS (STARTTLS, port 587) or EMAIL_USE_SSL (port 465), not both")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 15, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "connectit@localhost")

# The first key encrypts; every key decrypts (see oauth2_auth/fields.py).
CONNECTIT_ENCRYPTION_KEYS = _encryption_keys()


def _one_warning_line(record: logging.LogRecord) -> bool:
    """Django logs a request whose Host header is not in ALLOWED_HOSTS at ERROR, with a traceback;
    scanners send such requests all day, and the stack says nothing the message does not."""
    record.levelno, record.levelname = logging.WARNING, "WARNING"
    record.exc_info, record.exc_text = None, None
    return True


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"one_warning_line": {"()": "django.utils.log.CallbackFilter", "callback": _one_warning_line}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    # Request errors would dump the POST body of a failed request into the log; Django already
    # filters sensitive_post_parameters, and we keep the level at ERROR without request bodies.
    "loggers": {
        "django.request": {"level": "ERROR", "propagate": True},
        # At DEBUG, urllib3 logs every request line, query string included: a GET token request
        # would put the client secret and refresh token in the log.
        "urllib3": {"level": "INFO"},
        # On the logger itself, so the record is changed before any handler (or mail_admins,
        # which takes ERROR only) sees it.
        "django.security.DisallowedHost": {"filters": ["one_warning_line"]},
        # axes logs every attempt at INFO; failures and lockouts come at WARNING.
        "axes": {"level": "WARNING"},
        # The task framework logs two lines per task at INFO; the run page holds what happened.
        "django_tasks": {"level": "WARNING"},
    },
}
