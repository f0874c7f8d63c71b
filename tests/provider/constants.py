"""Credentials seeded into the test provider; shared by the server and the tests.

Kept free of Django imports so the app's test process can import it under its own settings.
"""

from __future__ import annotations

USERNAME = "alice"
PASSWORD = "alice-pass-123"

CC_CLIENT_ID = "cc-client"
CC_CLIENT_SECRET = "cc-secret"

AC_CLIENT_ID = "ac-client"
AC_CLIENT_SECRET = "ac-secret"

AC_NOPKCE_CLIENT_ID = "ac-nopkce"
AC_NOPKCE_CLIENT_SECRET = "ac-nopkce-secret"

INTROSPECTOR_CLIENT_ID = "introspector"
INTROSPECTOR_CLIENT_SECRET = "introspector-secret"

SCOPES = {
    "read": "Read data",
    "write": "Write data",
    "introspection": "Introspect tokens",
}

# A placeholder until a test registers its real callback with set_redirect_uris().
DEFAULT_REDIRECT_URI = "http://127.0.0.1/callback/"

# Environment variables the fixture passes to the server process.
ENV_DB_PATH = "PROVIDER_DB_PATH"
ENV_ACCESS_TOKEN_SECONDS = "PROVIDER_ACCESS_TOKEN_SECONDS"
DEFAULT_ACCESS_TOKEN_SECONDS = 300
