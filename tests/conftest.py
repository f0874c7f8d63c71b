"""Shared fixtures: an administrator, a read-only user and an outsider, plus record factories."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from oauth2_auth.models import Authorization, BearerToken, GrantType

pytest_plugins = [
    "tests.provider.fixtures",
    "tests.oidc_provider.fixtures",
    "tests.soap_server.fixtures",
    "tests.browser",
    "tests.canary",
    "tests.network_guard",
]

PASSWORD = "correct-horse-battery-staple"


def pytest_configure(config: pytest.Config) -> None:
    # Production hashes passwords with PBKDF2 at Django's 1,000,000 iterations, which is right
    # there and cost the suite about 0.4 s per user created and per login (a third of its
    # time). A test needs a password that works, not one that is slow to guess: Django's own
    # advice for test settings. The servers the suite starts in other processes never log in.
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_user(db) -> User:
    return User.objects.create_superuser("admin", "admin@example.com", PASSWORD)


@pytest.fixture
def reader(db) -> User:
    """May look at authorizations but change nothing."""
    user = User.objects.create_user("reader", "reader@example.com", PASSWORD)
    user.user_permissions.add(Permission.objects.get(codename="view_authorization"))
    return user


@pytest.fixture
def outsider(db) -> User:
    """Logged in, but with no permission on authorizations."""
    return User.objects.create_user("outsider", "outsider@example.com", PASSWORD)


@pytest.fixture
def role_groups(transactional_db) -> None:
    """The role groups, in a transactional test. They come from data migrations, and the flush
    that ends every transactional test deletes them (post_migrate recreates only content types
    and permissions); so run those migrations' functions again. Both are idempotent."""
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations import RunPython

    loader = MigrationLoader(connection)
    state = loader.project_state()
    for key in (("connectit", "0002_roles"), ("connectit", "0004_alerts")):
        for operation in loader.get_migration(*key).operations:
            if isinstance(operation, RunPython):
                operation.code(state.apps, None)


def _client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    return _client_for(admin_user)


@pytest.fixture
def reader_client(reader: User) -> Client:
    return _client_for(reader)


@pytest.fixture
def outsider_client(outsider: User) -> Client:
    return _client_for(outsider)


# Token state lives in BearerToken (written by oauth2_auth.tokens in the app); tests set it up
# directly. "token_state" is the old name of BearerToken.state.
TOKEN_FIELDS = ("access_token", "refresh_token", "token_type", "expires_at", "obtained_at", "last_error")


def set_token(record: Authorization, **fields: Any) -> BearerToken:
    """Give ``record`` a token row holding ``fields`` (test set-up only)."""
    if "token_state" in fields:
        fields["state"] = fields.pop("token_state")
    token, _ = BearerToken.objects.update_or_create(authorization=record, defaults=fields)
    record.bearer = token
    return token


def make_authorization(**fields: Any) -> Authorization:
    values: dict[str, Any] = {
        "code": "ENDPOINT",
        "environment": "Business Central sandbox",
        "grant_type": GrantType.CLIENT_CREDENTIALS,
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret": "s3cr3t-client-value",
        "token_url": "https://login.microsoftonline.com/contoso/oauth2/v2.0/token",
        "scope": "https://api.businesscentral.dynamics.com/.default",
    }
    values.update(fields)
    token = {name: values.pop(name) for name in (*TOKEN_FIELDS, "token_state") if name in values}
    record = Authorization.objects.create(**values)
    if token:
        set_token(record, **token)
    return record


@pytest.fixture
def authorization(db) -> Authorization:
    return make_authorization()


def form_data(**overrides: Any) -> dict[str, Any]:
    """A complete, valid POST for the authorization form (authorization-code grant)."""
    data = {
        "code": "bc-sandbox",
        "environment": "Business Central sandbox",
        "grant_type": GrantType.AUTHORIZATION_CODE,
        "client_id": "my-client",
        "client_secret": "form-secret-value-123",
        "auth_url": "https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize",
        "auth_method": "GET",
        "redirect_url": "http://127.0.0.1:8000/oauth2/callback/",
        "use_pkce": "on",
        "token_url": "https://login.microsoftonline.com/contoso/oauth2/v2.0/token",
        "token_method": "POST",
        "resource_url": "",
        "scope": "https://api.businesscentral.dynamics.com/.default offline_access",
        "credential_type": "body",
        "content_type": "application/x-www-form-urlencoded",
        "access_token_property": "access_token",
        "expires_in_property": "expires_in",
        "refresh_token_property": "refresh_token",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}
