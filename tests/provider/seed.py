"""Create the test user and the OAuth2 applications (idempotent)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from oauth2_provider.models import get_application_model

from tests.provider import constants as c

Application = get_application_model()

# client_id -> (client_secret, grant type)
APPLICATIONS = {
    c.CC_CLIENT_ID: (c.CC_CLIENT_SECRET, Application.GRANT_CLIENT_CREDENTIALS),
    c.AC_CLIENT_ID: (c.AC_CLIENT_SECRET, Application.GRANT_AUTHORIZATION_CODE),
    c.AC_NOPKCE_CLIENT_ID: (c.AC_NOPKCE_CLIENT_SECRET, Application.GRANT_AUTHORIZATION_CODE),
    c.INTROSPECTOR_CLIENT_ID: (c.INTROSPECTOR_CLIENT_SECRET, Application.GRANT_CLIENT_CREDENTIALS),
}


def seed() -> None:
    user_model = get_user_model()
    if not user_model.objects.filter(username=c.USERNAME).exists():
        user_model.objects.create_user(c.USERNAME, password=c.PASSWORD)
    for client_id, (secret, grant_type) in APPLICATIONS.items():
        _create_application(client_id, secret, grant_type)


def _create_application(client_id: str, secret: str, grant_type: str) -> None:
    if Application.objects.filter(client_id=client_id).exists():
        return
    is_auth_code = grant_type == Application.GRANT_AUTHORIZATION_CODE
    # The plaintext secret is hashed on save (hash_client_secret defaults to True in DOT 3).
    Application.objects.create(
        name=client_id,
        client_id=client_id,
        client_secret=secret,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=grant_type,
        redirect_uris=c.DEFAULT_REDIRECT_URI if is_auth_code else "",
        skip_authorization=False,  # the consent page must always be shown
    )
