"""A secret an API echoes back, in whatever escape, never reaches a run's stored text or its pages.

The issue: a secret written with JSON's "\\/" escape, URL-encoded or with its hex in another case
was stored as it came, and the run page, which pretty-prints (decodes) JSON, showed it in clear to
view-only users too.
"""

from __future__ import annotations

import html
import json
import re
from unittest import mock

import pytest
import responses
from django.test import Client

from connectit.redact import REDACTED, Redactor
from connectit.templatetags.connectit_tags import pretty_body
from definitions.models import AuthType, Definition, Outcome, Run, RunPage
from tests.conftest import make_authorization, set_token
from tests.test_definition_create import client_for, definitions_user, make_definition

API = "https://api.example.com/echo"
# Slashes and "+" so that "\/", "%2f" and "\u002B" forms differ from the raw value.
BEARER = "bear/er+tok/EN=="
API_KEY = "key/val+ue/ZZ"
PASSWORD = "pass/word+x/Y"
OAUTH2_TOKEN = "oauth/token+abc/Q="


def lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda match: match[0].lower(), text)


def echoes(secret: str) -> list[str]:
    """The secret as careless servers write it back."""
    from urllib.parse import quote

    return [
        secret.replace("/", "\\/"),  # PHP's json_encode
        lower_hex(quote(secret, safe="")),  # "%2f", not "%2F"
        secret.replace("+", "\\u002B").replace("/", "\\u002f"),  # .NET's JSON writer, mixed case
        "".join(f"\\u{ord(char):04x}" for char in secret),  # every character escaped
    ]


def echo_body(secret: str) -> str:
    # Written by hand: json.dumps would escape the backslashes of the escapes themselves.
    forms = echoes(secret)
    return '{"value": [' + ", ".join(f'{{"you_sent": "{form}"}}' for form in forms) + "]}"


CASES = [
    pytest.param({"auth_type": AuthType.BEARER, "bearer_token": BEARER}, BEARER, id="bearer"),
    pytest.param(
        {"auth_type": AuthType.API_KEY, "api_key_header": "X-Api-Key", "api_key_value": API_KEY},
        API_KEY,
        id="api-key",
    ),
    pytest.param(
        {"auth_type": AuthType.BASIC, "auth_username": "svc", "auth_password": PASSWORD}, PASSWORD, id="basic"
    ),
    pytest.param({"auth_type": AuthType.OAUTH2}, OAUTH2_TOKEN, id="oauth2"),
]


@pytest.fixture
def viewer(db) -> Client:
    """May look at definitions and runs, nothing else."""
    return client_for(definitions_user("viewer", "view_definition"))


def definition_for(fields: dict, **more) -> Definition:
    if fields["auth_type"] == AuthType.OAUTH2:
        authorization = make_authorization(code="ECHO")
        set_token(authorization, access_token=OAUTH2_TOKEN)
        fields = {**fields, "authorization": authorization}
    return make_definition(endpoint_url=API, items_property="value", **fields, **more)


def assert_clean(text: str, secret: str, where: str) -> None:
    """Neither the secret nor anything that decodes to it (JSON, URL, HTML) is in ``text``."""
    assert secret not in text, where
    assert Redactor(secret)(text) == text, f"{where}: an encoded form is left: {text[:500]}"
    assert secret not in html.unescape(text), where
    assert secret not in pretty_body(text, "application/json"), where


def run_pages(client: Client, run: Run) -> dict[str, str]:
    pages = {}
    for url in (
        f"/definitions/runs/{run.pk}/",
        f"/definitions/runs/{run.pk}/pages/1/",
        f"/definitions/runs/{run.pk}/download/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        content = b"".join(response.streaming_content) if response.streaming else response.content
        pages[url] = content.decode()
    return pages


@pytest.mark.parametrize(("fields", "secret"), CASES)
def test_an_echoed_secret_is_neither_stored_nor_shown(db, viewer, fields: dict, secret: str) -> None:
    record = definition_for(fields)
    with responses.RequestsMock() as api:
        api.get(
            API,
            body=echo_body(secret),
            content_type="application/json",
            headers={"X-Echo": lower_hex(echoes(secret)[1]), "X-Echo-Json": echoes(secret)[2]},
        )
        from definitions import runner
        from oauth2_auth.tokens import Trigger

        with mock.patch("oauth2_auth.tokens.get_access_token", return_value=OAUTH2_TOKEN):
            run = runner.run(record, params={}, trigger=Trigger("test"))
    assert run.outcome == Outcome.SUCCESS, run.message
    run.refresh_from_db()
    for name in (
        "request_line",
        "request_headers",
        "request_body",
        "response_headers",
        "response_body",
        "message",
    ):
        assert_clean(getattr(run, name), secret, name)
    page = run.page_set.get()
    assert_clean(page.url, secret, "page url")
    assert_clean(page.body, secret, "page body")
    assert json.loads(page.body)["value"][0] == {"you_sent": REDACTED}
    for url, content in run_pages(viewer, run).items():
        assert_clean(content, secret, url)


@pytest.mark.parametrize(("fields", "secret"), CASES)
def test_the_pages_redact_a_run_stored_before_the_fix(db, viewer, fields: dict, secret: str) -> None:
    """Runs stored by an older version kept the escaped forms: the pages redact again what they
    show, after pretty-printing, with the secrets the definition holds now."""
    record = definition_for(fields)
    body = echo_body(secret)
    run = Run.objects.create(
        definition=record,
        trigger="system",
        outcome=Outcome.SUCCESS,
        pages=1,
        http_status=200,
        response_content_type="application/json",
        request_line=f"GET {API}?echo={lower_hex(echoes(secret)[1])}",
        request_headers=f"X-Echo: {echoes(secret)[0]}",
        response_headers=f"x-echo: {echoes(secret)[1]}",
        message=f"server said {echoes(secret)[2]}",
    )
    RunPage.objects.create(run=run, number=1, http_status=200, url=f"{API}?k={echoes(secret)[1]}", body=body)
    for url, content in run_pages(viewer, run).items():
        assert_clean(content, secret, url)
    shown = html.unescape(viewer.get(f"/definitions/runs/{run.pk}/").content.decode())
    assert f'"you_sent": "{REDACTED}"' in shown  # pretty-printed, then redacted


def test_a_multi_page_download_is_redacted_after_merging(db, viewer) -> None:
    """Merging pages re-writes each record with json.dumps, which decodes every escape."""
    record = definition_for({"auth_type": AuthType.BEARER, "bearer_token": BEARER})
    run = Run.objects.create(
        definition=record,
        trigger="system",
        outcome=Outcome.SUCCESS,
        pages=2,
        response_content_type="application/json",
    )
    for number in (1, 2):
        RunPage.objects.create(run=run, number=number, http_status=200, url=API, body=echo_body(BEARER))
    content = run_pages(viewer, run)[f"/definitions/runs/{run.pk}/download/"]
    assert_clean(content, BEARER, "download")
    assert json.loads(content)[0] == {"you_sent": REDACTED}


def test_an_undecryptable_secret_does_not_hide_the_run(db, viewer, settings) -> None:
    """The pages decrypt the definition's secrets to redact with them; a missing key must not turn
    the run page into an error page (what was stored was redacted when the run was stored)."""
    from cryptography.fernet import Fernet

    record = definition_for({"auth_type": AuthType.BEARER, "bearer_token": BEARER})
    run = Run.objects.create(definition=record, trigger="system", outcome=Outcome.SUCCESS, response_body="{}")
    settings.CONNECTIT_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    response = viewer.get(f"/definitions/runs/{run.pk}/")
    assert response.status_code == 200
