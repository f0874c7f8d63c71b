"""Unit tests of oauth2_auth.flows: the token requests on the wire and the parsing of answers."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock
from urllib.parse import parse_qsl, quote, quote_plus, unquote_plus, urlsplit

import pytest
import requests
import responses
from django.conf import settings
from django.test import override_settings

from connectit import http
from oauth2_auth import flows

TOKEN_URL = "https://login.example.com/contoso/oauth2/v2.0/token"
HOST = "login.example.com"
# Characters that RFC 6749 §2.3.1 makes us form-encode before building the Basic header.
CLIENT_ID = "app:id+with space%"
CLIENT_SECRET = "s3cr3t:+ /%&=value"
ACCESS = "access-token-value-AAAA1111"
REFRESH = "refresh-token-value-RRRR2222"
CODE = "authorization-code-value-CCCC3333"
VERIFIER = "code-verifier-value-VVVV4444"
SECRETS = (CLIENT_SECRET, ACCESS, REFRESH, CODE, VERIFIER)
SCOPE = "https://api.businesscentral.dynamics.com/.default offline_access"
RESOURCE = "https://api.businesscentral.dynamics.com"
REDIRECT_URI = "https://connectit.example.com/oauth2/callback/"
GOOD = {"access_token": ACCESS, "expires_in": 3600, "refresh_token": REFRESH, "token_type": "Bearer"}
HTML = "<!DOCTYPE html><html><body><form action='/login'>Sign in</form></body></html>"


def make_client(**fields: Any) -> flows.Client:
    values: dict[str, Any] = {"token_url": TOKEN_URL, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    values.update(fields)
    return flows.Client(**values)


def form_body(call: responses.Call) -> dict[str, str]:
    body = call.request.body
    if isinstance(body, bytes):
        body = body.decode()
    pairs = parse_qsl(body, keep_blank_values=True, strict_parsing=True)
    assert len(pairs) == len(dict(pairs))  # no parameter sent twice
    return dict(pairs)


def query_of(call: responses.Call) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True, strict_parsing=True))


def url_without_query(call: responses.Call) -> str:
    return call.request.url.split("?")[0]


def assert_safe(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def fail(client: flows.Client | None = None, call=flows.client_credentials) -> flows.OAuth2Error:
    with pytest.raises(flows.OAuth2Error) as caught:
        call(client or make_client())
    assert_safe(str(caught.value))
    return caught.value


def provider_text(error: flows.OAuth2Error) -> str:
    """The message without the advice that follows it (tests/test_provider_advice.py)."""
    return str(error).split(" Advice: ")[0]


# --- basic_auth_header -----------------------------------------------------------------------------


def test_it_form_encodes_basic_credentials() -> None:
    header = flows.basic_auth_header(CLIENT_ID, CLIENT_SECRET)
    pair = "app%3Aid%2Bwith+space%25:s3cr3t%3A%2B+%2F%25%26%3Dvalue"
    assert header == "Basic " + base64.b64encode(pair.encode()).decode()


def test_it_round_trips_basic_credentials() -> None:
    header = flows.basic_auth_header(CLIENT_ID, CLIENT_SECRET)
    decoded = base64.b64decode(header.removeprefix("Basic ")).decode()
    client_id, _, secret = decoded.partition(":")
    assert (unquote_plus(client_id), unquote_plus(secret)) == (CLIENT_ID, CLIENT_SECRET)


def test_it_utf8_encodes_non_ascii_basic_credentials() -> None:
    header = flows.basic_auth_header("clïent", "sécret")
    assert base64.b64decode(header[6:]).decode() == "cl%C3%AFent:s%C3%A9cret"


# --- The token request on the wire ----------------------------------------------------------------


@responses.activate
def test_it_posts_a_form_with_body_credentials() -> None:
    responses.add(responses.POST, TOKEN_URL, json=GOOD)
    flows.client_credentials(make_client(scope=SCOPE))
    call = responses.calls[0]
    assert call.request.method == "POST"
    assert call.request.url == TOKEN_URL
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert call.request.headers["Accept"] == "application/json"
    assert call.request.headers["User-Agent"] == http.USER_AGENT
    assert "Authorization" not in call.request.headers
    assert form_body(call) == {
        "grant_type": "client_credentials",
        "scope": SCOPE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }


@responses.activate
def test_it_sends_basic_credentials_form_encoded() -> None:
    responses.add(responses.POST, TOKEN_URL, json=GOOD)
    flows.client_credentials(make_client(credential_type="basic"))
    call = responses.calls[0]
    pair = "app%3Aid%2Bwith+space%25:s3cr3t%3A%2B+%2F%25%26%3Dvalue"
    assert call.request.headers["Authorization"] == "Basic " + base64.b64encode(pair.encode()).decode()
    assert form_body(call) == {"grant_type": "client_credentials"}


@responses.activate
def test_it_posts_json() -> None:
    responses.add(responses.POST, TOKEN_URL, json=GOOD)
    flows.client_credentials(make_client(content_type=flows.JSON, scope=SCOPE, resource=RESOURCE))
    call = responses.calls[0]
    assert call.request.headers["Content-Type"] == "application/json"
    assert json.loads(call.request.body) == {
        "grant_type": "client_credentials",
        "scope": SCOPE,
        "resource": RESOURCE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }


@responses.activate
def test_it_posts_json_with_basic_credentials() -> None:
    responses.add(responses.POST, TOKEN_URL, json=GOOD)
    flows.client_credentials(make_client(content_type=flows.JSON, credential_type="basic"))
    call = responses.calls[0]
    assert call.request.headers["Authorization"] == flows.basic_auth_header(CLIENT_ID, CLIENT_SECRET)
    assert json.loads(call.request.body) == {"grant_type": "client_credentials"}


@responses.activate
def test_it_puts_params_in_the_query_for_get() -> None:
    responses.add(responses.GET, TOKEN_URL, json=GOOD)
    flows.client_credentials(make_client(token_method="GET", scope=SCOPE))
    call = responses.calls[0]
    assert call.request.method == "GET"
    assert url_without_query(call) == TOKEN_URL
    assert call.request.body is None
    assert "Content-Type" not in call.request.headers
    assert query_of(call) == {
        "grant_type": "client_credentials",
        "scope": SCOPE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }


@responses.activate
def test_it_uses_the_query_for_get_even_with_json_content_type() -> None:
    responses.add(responses.GET, TOKEN_URL, json=GOOD)
    flows.client_credentials(
        make_client(token_method="GET", content_type=flows.JSON, credential_type="basic")
    )
    call = responses.calls[0]
    assert call.request.body is None
    assert query_of(call) == {"grant_type": "client_credentials"}
    assert call.request.headers["Authorization"] == flows.basic_auth_header(CLIENT_ID, CLIENT_SECRET)


@responses.activate
def test_it_sends_scope_and_resource_when_set() -> None:
    responses.add(responses.POST, TOKEN_URL, json=GOOD)
    flows.client_credentials(make_client(scope=SCOPE, resource=RESOURCE))
    body = form_body(responses.calls[0])
    assert (body["scope"], body["resource"]) == (SCOPE, RESOURCE)


@responses.activate
def test_it_omits_scope_and_resource_when_blank() -> None:
    responses.add(responses.POST, TOKEN_URL, json=GOOD)
    flows.client_credentials(make_client())
    body = form_body(responses.calls[0])
    assert "scope" not in body
    assert "resource" not in body


@responses.activate
def test_it_omits_a_blank_client_secret() -> None:
    responses.add(responses.POST, TOKEN_URL, json=GOOD)
    flows.client_credentials(make_client(client_secret=""))
    assert form_body(responses.calls[0]) == {"grant_type": "client_credentials", "client_id": CLIENT_ID}


@responses.activate
@override_settings(CONNECTIT_HTTP_TIMEOUT=7)
def test_it_passes_the_configured_timeout() -> None:
    responses.add(responses.POST, TOKEN_URL, json=GOOD)
    flows.client_credentials(make_client())
    assert responses.calls[0].request.req_kwargs["timeout"] == settings.CONNECTIT_HTTP_TIMEOUT == 7


@responses.activate
@override_settings(CONNECTIT_HTTP_TIMEOUT=9)
def test_it_calls_the_session_with_timeout_and_no_redirects() -> None:
    responses.add(responses.POST, TOKEN_URL, json=GOOD)
    session = http.session()
    with mock.patch.object(session, "request", wraps=session.request) as request:
        flows.client_credentials(make_client())
    request.assert_called_once()
    args, kwargs = request.call_args
    assert args == ("POST", TOKEN_URL)
    assert kwargs["timeout"] == 9
    assert kwargs["allow_redirects"] is False
    assert kwargs["stream"] is True


@responses.activate
def test_it_exchanges_a_code() -> None:
    responses.add(responses.POST, TOKEN_URL, json=GOOD)
    client = make_client(scope=SCOPE, resource=RESOURCE)
    token = flows.exchange_code(client, code=CODE, redirect_uri=REDIRECT_URI, code_verifier=VERIFIER)
    assert token.access_token == ACCESS
    assert form_body(responses.calls[0]) == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": VERIFIER,
        "resource": RESOURCE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }


@responses.activate
def test_it_exchanges_a_code_without_pkce() -> None:
    responses.add(responses.POST, TOKEN_URL, json=GOOD)
    client = make_client(credential_type="basic")
    flows.exchange_code(client, code=CODE, redirect_uri=REDIRECT_URI, code_verifier=None)
    assert form_body(responses.calls[0]) == {
        "grant_type": "authorization_code",
        "code": CODE,
        "redirect_uri": REDIRECT_URI,
    }


@responses.activate
def test_it_refreshes() -> None:
    responses.add(responses.POST, TOKEN_URL, json=GOOD)
    flows.refresh(make_client(scope=SCOPE), REFRESH)
    assert form_body(responses.calls[0]) == {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "scope": SCOPE,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }


@responses.activate
def test_it_refreshes_with_get_and_basic_credentials() -> None:
    responses.add(responses.GET, TOKEN_URL, json=GOOD)
    flows.refresh(make_client(token_method="GET", credential_type="basic"), REFRESH)
    call = responses.calls[0]
    assert call.request.method == "GET"
    assert query_of(call) == {"grant_type": "refresh_token", "refresh_token": REFRESH}
    assert call.request.headers["Authorization"] == flows.basic_auth_header(CLIENT_ID, CLIENT_SECRET)


# --- Parsing good answers -------------------------------------------------------------------------


@responses.activate
def test_it_parses_a_token_response() -> None:
    responses.add(responses.POST, TOKEN_URL, json={**GOOD, "scope": "read write"})
    token = flows.client_credentials(make_client())
    assert token == flows.Token(
        access_token=ACCESS, expires_in=3600, refresh_token=REFRESH, token_type="Bearer", scope="read write"
    )


@responses.activate
def test_it_reads_nested_property_names() -> None:
    responses.add(responses.POST, TOKEN_URL, json={"data": GOOD, "access_token": "decoy"})
    client = make_client(
        access_token_property="data.access_token",
        expires_in_property="data.expires_in",
        refresh_token_property="data.refresh_token",
    )
    token = flows.client_credentials(client)
    assert (token.access_token, token.expires_in, token.refresh_token) == (ACCESS, 3600, REFRESH)


@responses.activate
def test_it_accepts_a_numeric_string_expires_in() -> None:
    responses.add(responses.POST, TOKEN_URL, json={"access_token": ACCESS, "expires_in": "3600"})
    assert flows.client_credentials(make_client()).expires_in == 3600


@responses.activate
def test_it_accepts_a_missing_expires_in() -> None:
    responses.add(responses.POST, TOKEN_URL, json={"access_token": ACCESS})
    token = flows.client_credentials(make_client())
    assert token.expires_in is None
    assert token.refresh_token is None
    assert token.token_type == "Bearer"


@responses.activate
def test_it_rejects_a_non_numeric_expires_in() -> None:
    responses.add(responses.POST, TOKEN_URL, json={"access_token": ACCESS, "expires_in": "soon-" + REFRESH})
    error = fail()
    assert "'expires_in'" in str(error)
    assert "not a number" in str(error)


@responses.activate
def test_it_rejects_an_infinite_expires_in() -> None:
    responses.add(responses.POST, TOKEN_URL, json={"access_token": ACCESS, "expires_in": "inf"})
    assert "not a number" in str(fail())


@responses.activate
def test_it_parses_a_form_encoded_token_response() -> None:
    body = f"access_token={ACCESS}&expires_in=3600&refresh_token={REFRESH}&token_type=bearer"
    responses.add(responses.POST, TOKEN_URL, body=body, content_type="application/x-www-form-urlencoded")
    token = flows.client_credentials(make_client())
    assert (token.access_token, token.expires_in, token.refresh_token) == (ACCESS, 3600, REFRESH)
    assert token.token_type == "bearer"


@responses.activate
def test_it_parses_a_form_encoded_answer_labelled_text_plain() -> None:
    responses.add(
        responses.POST, TOKEN_URL, body=f"access_token={ACCESS}&scope=repo", content_type="text/plain"
    )
    token = flows.client_credentials(make_client())
    assert (token.access_token, token.scope) == (ACCESS, "repo")


# --- Bad answers -------------------------------------------------------------------------------------


@responses.activate
def test_it_explains_an_html_page() -> None:
    responses.add(responses.POST, TOKEN_URL, body=HTML, content_type="text/html")
    error = fail()
    assert str(error) == (
        f"The token endpoint at {HOST} answered HTTP 200 with text/html, not JSON. "
        "Check the Access Token URL: it may point to a login page instead of the token endpoint."
    )
    assert error.status == 200


@responses.activate
def test_it_explains_an_html_page_with_a_byte_order_mark() -> None:
    page = '\ufeff<!DOCTYPE html><html lang="en"><body>Sign in</body></html>'
    responses.add(responses.POST, TOKEN_URL, body=page, content_type="text/html")
    assert str(fail()).startswith(f"The token endpoint at {HOST} answered HTTP 200 with text/html, not JSON.")


@responses.activate
def test_it_explains_an_html_error_page() -> None:
    responses.add(responses.POST, TOKEN_URL, body=HTML, status=500, content_type="text/html")
    error = fail()
    assert str(error) == f"The token endpoint at {HOST} answered HTTP 500 with text/html, not JSON."
    assert error.status == 500
    assert not error.consent_required


@responses.activate
def test_it_explains_a_500_with_a_json_error() -> None:
    body = {"error": "server_error", "error_description": "Try again later"}
    responses.add(responses.POST, TOKEN_URL, json=body, status=500)
    error = fail()
    assert (
        provider_text(error)
        == f"The token endpoint at {HOST} refused the request: server_error (Try again later)."
    )
    assert (error.error, error.status) == ("server_error", 500)


@responses.activate
def test_it_explains_a_500_with_json_but_no_error() -> None:
    responses.add(responses.POST, TOKEN_URL, json={"message": "boom"}, status=503)
    error = fail()
    assert str(error) == f"The token endpoint at {HOST} answered HTTP 503."


@responses.activate
def test_it_explains_an_empty_answer() -> None:
    responses.add(responses.POST, TOKEN_URL, body="", status=502)
    assert "answered HTTP 502 with an empty answer" in str(fail())


@responses.activate
def test_it_does_not_follow_a_redirect() -> None:
    responses.add(responses.POST, TOKEN_URL, status=302, headers={"Location": "https://elsewhere.example/"})
    error = fail()
    assert len(responses.calls) == 1
    assert "answered HTTP 302" in str(error)


@responses.activate
@override_settings(CONNECTIT_HTTP_TIMEOUT=7)
def test_it_explains_a_timeout() -> None:
    responses.add(responses.POST, TOKEN_URL, body=requests.exceptions.ReadTimeout())
    error = fail()
    assert str(error) == f"Token request failed: {HOST} did not answer within 7 seconds."


@responses.activate
def test_it_explains_a_refused_connection() -> None:
    # requests puts the whole URL (query included) into the exception text.
    text = f"HTTPSConnectionPool(host='{HOST}', port=443): Max retries exceeded with url: /token?secret="
    text += f"{CLIENT_SECRET} (Caused by NewConnectionError('[Errno 111] Connection refused'))"
    responses.add(responses.POST, TOKEN_URL, body=requests.exceptions.ConnectionError(text))
    error = fail()
    assert str(error) == f"Token request failed: Could not connect to {HOST} (connection refused)."


@responses.activate
def test_it_explains_invalid_json() -> None:
    responses.add(
        responses.POST, TOKEN_URL, body='{"access_token": "' + ACCESS, content_type="application/json"
    )
    error = fail()
    assert str(error).startswith(f"The token endpoint at {HOST} answered HTTP 200 with invalid JSON")


@responses.activate
def test_it_explains_a_json_array() -> None:
    responses.add(responses.POST, TOKEN_URL, json=[ACCESS])
    assert "JSON that is not an object" in str(fail())


@responses.activate
def test_it_names_the_missing_property_without_values() -> None:
    body = {"token": ACCESS, "expires_in": 3600, "refresh": REFRESH, "token_type": "Bearer"}
    responses.add(responses.POST, TOKEN_URL, json=body)
    error = fail()
    assert str(error) == (
        f"The token response from {HOST} has no 'access_token' property "
        "(it has: expires_in, refresh, token, token_type). Check the Access Token Property name."
    )
    assert "3600" not in str(error)
    assert "Bearer" not in str(error)


@responses.activate
def test_it_names_a_missing_nested_property() -> None:
    responses.add(responses.POST, TOKEN_URL, json={"data": {"token": ACCESS}})
    error = fail(make_client(access_token_property="data.access_token"))
    assert "no 'data.access_token' property (it has: data)" in str(error)


@responses.activate
def test_it_rejects_a_non_string_access_token() -> None:
    responses.add(responses.POST, TOKEN_URL, json={"access_token": {"value": ACCESS}})
    assert "no 'access_token' property" in str(fail())


@responses.activate
def test_it_explains_an_error_body() -> None:
    body = {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}
    responses.add(responses.POST, TOKEN_URL, json=body, status=401)
    error = fail()
    assert provider_text(error) == (
        f"The token endpoint at {HOST} refused the request: invalid_client "
        "(AADSTS7000215: Invalid client secret provided.)."
    )
    assert (error.error, error.status) == ("invalid_client", 401)
    assert not error.consent_required


@responses.activate
def test_it_explains_an_error_body_without_description() -> None:
    responses.add(responses.POST, TOKEN_URL, json={"error": "unsupported_grant_type"}, status=400)
    assert (
        provider_text(fail()) == f"The token endpoint at {HOST} refused the request: unsupported_grant_type."
    )


@responses.activate
def test_it_explains_an_error_in_a_200_answer() -> None:
    responses.add(responses.POST, TOKEN_URL, json={"error": "bad_verification_code"})
    assert fail().error == "bad_verification_code"


@responses.activate
def test_it_explains_a_form_encoded_error() -> None:
    body = "error=invalid_scope&error_description=The+scope+is+unknown"
    responses.add(responses.POST, TOKEN_URL, body=body, status=400, content_type=flows.FORM)
    error = fail()
    assert (
        provider_text(error)
        == f"The token endpoint at {HOST} refused the request: invalid_scope (The scope is unknown)."
    )


@responses.activate
def test_it_marks_invalid_grant_as_consent_required() -> None:
    body = {"error": "invalid_grant", "error_description": "The refresh token has expired."}
    responses.add(responses.POST, TOKEN_URL, json=body, status=400)
    error = fail(call=lambda client: flows.refresh(client, REFRESH))
    assert error.consent_required
    assert "invalid_grant (The refresh token has expired.)" in str(error)


@responses.activate
def test_it_refuses_an_oversized_answer() -> None:
    big = json.dumps({"access_token": ACCESS, "padding": "x" * flows.TOKEN_MAX_BYTES})
    responses.add(responses.POST, TOKEN_URL, body=big, content_type="application/json")
    error = fail()
    assert (
        str(error)
        == f"Token request failed: The answer from {HOST} is larger than 1024 KiB; it was not read."
    )


@responses.activate
def test_it_reads_an_answer_of_exactly_the_limit() -> None:
    body = json.dumps({"access_token": ACCESS, "p": ""})
    body = body[:-2] + "x" * (flows.TOKEN_MAX_BYTES - len(body)) + '"}'
    assert len(body) == flows.TOKEN_MAX_BYTES
    responses.add(responses.POST, TOKEN_URL, body=body, content_type="application/json")
    assert flows.client_credentials(make_client()).access_token == ACCESS


@responses.activate
def test_it_keeps_the_code_out_of_an_exchange_error() -> None:
    responses.add(responses.POST, TOKEN_URL, body=HTML, status=500, content_type="text/html")
    with pytest.raises(flows.OAuth2Error) as caught:
        flows.exchange_code(make_client(), code=CODE, redirect_uri=REDIRECT_URI, code_verifier=VERIFIER)
    assert_safe(str(caught.value))


BAD_ANSWERS = {
    "html": {"body": HTML, "status": 200, "content_type": "text/html"},
    "html500": {"body": HTML, "status": 500, "content_type": "text/html"},
    "json500": {"json": {"error": "server_error"}, "status": 500},
    "timeout": {"body": requests.exceptions.ReadTimeout(f"read timed out: {TOKEN_URL}?s={CLIENT_SECRET}")},
    "refused": {"body": requests.exceptions.ConnectionError(f"refused: {TOKEN_URL}?s={CLIENT_SECRET}")},
    "invalid_json": {"body": "{not json", "content_type": "application/json"},
    "missing": {"json": {"token": ACCESS, "refresh": REFRESH}},
    "error": {"json": {"error": "invalid_client"}, "status": 401},
    "invalid_grant": {"json": {"error": "invalid_grant"}, "status": 400},
    "oversized": {"body": "x" * (flows.TOKEN_MAX_BYTES + 1), "content_type": "application/json"},
}


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_it_keeps_secrets_out_of_errors_and_logs(answer, method, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(token_method=method)
    with responses.RequestsMock() as rsps:
        rsps.add(method, TOKEN_URL, **answer)
        with pytest.raises(flows.OAuth2Error) as caught:
            flows.refresh(client, REFRESH)
        with pytest.raises(flows.OAuth2Error) as caught_exchange:
            flows.exchange_code(client, code=CODE, redirect_uri=REDIRECT_URI, code_verifier=VERIFIER)
    assert_safe(str(caught.value) + str(caught_exchange.value))
    assert_safe(repr(caught.value) + repr(client))
    assert_safe(caplog.text)
    assert_safe(" ".join(record.getMessage() for record in caplog.records))


def test_it_keeps_secrets_out_of_reprs() -> None:
    client = make_client()
    token = flows.Token(access_token=ACCESS, expires_in=60, refresh_token=REFRESH, token_type="Bearer")
    assert_safe(repr(client) + str(client) + repr(token) + str(token))


# --- Secrets a token endpoint echoes in its error text ---------------------------------------------


def refuse(description: str, *, status: int = 400, error: str = "invalid_client") -> None:
    """The token endpoint refuses with an error_description that may quote the request."""
    body = {"error": error, "error_description": description}
    responses.add(responses.POST, TOKEN_URL, json=body, status=status)


def assert_redacted(error: flows.OAuth2Error, *leaks: str) -> None:
    text = str(error)
    assert "[redacted]" in text
    for leak in leaks:
        assert leak not in text
        assert leak not in error.error
        assert all(leak not in str(arg) for arg in error.args)


def basic_credentials() -> str:
    return flows.basic_auth_header(CLIENT_ID, CLIENT_SECRET).removeprefix("Basic ")


@responses.activate
def test_it_redacts_an_echoed_client_secret() -> None:
    refuse(f"bad secret {CLIENT_SECRET}")
    error = fail()
    assert_redacted(error, CLIENT_SECRET)
    assert (
        provider_text(error)
        == f"The token endpoint at {HOST} refused the request: invalid_client (bad secret [redacted])."
    )
    assert (error.error, error.status) == ("invalid_client", 400)


@responses.activate
@pytest.mark.parametrize("echo", ["Basic {}", "{}"], ids=["header", "credentials"])
def test_it_redacts_echoed_basic_credentials(echo: str) -> None:
    refuse(f"bad Authorization header: {echo.format(basic_credentials())}")
    error = fail(make_client(credential_type="basic"))
    assert_redacted(error, basic_credentials())


@responses.activate
def test_it_redacts_an_echoed_refresh_token() -> None:
    refuse(f"refresh token {REFRESH} was revoked", error="invalid_grant")
    error = fail(call=lambda client: flows.refresh(client, REFRESH))
    assert_redacted(error, REFRESH)
    assert error.consent_required


@responses.activate
def test_it_redacts_an_echoed_code_and_code_verifier() -> None:
    refuse(f"code {CODE} does not match code_verifier {VERIFIER}", error="invalid_grant")
    error = fail(
        call=lambda client: flows.exchange_code(
            client, code=CODE, redirect_uri=REDIRECT_URI, code_verifier=VERIFIER
        )
    )
    assert_redacted(error, CODE, VERIFIER)
    assert str(error).count("[redacted]") == 2


ENCODINGS = {
    "quote": quote,
    "quote_nothing_safe": lambda value: quote(value, safe=""),
    "quote_plus": quote_plus,
    "form": flows._form_encode,
    "json": lambda value: json.dumps(value)[1:-1],
    "json_escaped_slash": lambda value: json.dumps(value)[1:-1].replace("/", "\\/"),
    "base64": lambda value: base64.b64encode(value.encode()).decode(),
    "html": html.escape,
}


@responses.activate
@pytest.mark.parametrize("encode", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_it_redacts_an_encoded_client_secret(encode) -> None:
    # CLIENT_SECRET holds "/+= &": each encoding writes it differently from the raw value.
    encoded = encode(CLIENT_SECRET)
    refuse(f"request was client_secret={encoded}&grant_type=client_credentials")
    assert_redacted(fail(), encoded)


@responses.activate
def test_it_redacts_an_echoed_json_request_body() -> None:
    # A provider quoting the JSON it received, with "/" escaped as some JSON writers do.
    echoed = json.dumps({"client_secret": CLIENT_SECRET}).replace("/", "\\/")
    refuse(f"could not use {echoed}")
    assert_redacted(fail(make_client(content_type=flows.JSON)), "s3cr3t", "value")


@responses.activate
def test_it_redacts_the_secret_in_the_error_code() -> None:
    responses.add(responses.POST, TOKEN_URL, json={"error": f"invalid_client:{CLIENT_SECRET}"}, status=401)
    error = fail()
    assert_redacted(error, CLIENT_SECRET)
    assert error.error == "invalid_client:[redacted]"


@responses.activate
def test_it_redacts_before_clipping_a_long_description() -> None:
    # Clipping first would cut the secret in two and leave its first half in the message.
    refuse("x" * 480 + " " + REFRESH)
    error = fail(call=lambda client: flows.refresh(client, REFRESH))
    assert REFRESH[:8] not in str(error)


@responses.activate
def test_it_redacts_before_collapsing_whitespace() -> None:
    # clip() joins runs of whitespace; a secret holding two spaces would no longer match after it.
    secret = "two  spaced\tsecret-value"
    refuse(f"bad secret {secret}")
    error = fail(make_client(client_secret=secret))
    assert_redacted(error, secret, " ".join(secret.split()))


@responses.activate
def test_it_redacts_a_secret_in_property_names() -> None:
    # A text answer that looks like a form is read as one; its property names are then quoted.
    body = f"unknown+client_secret+{quote_plus(CLIENT_SECRET)}=1"
    responses.add(responses.POST, TOKEN_URL, body=body, content_type="text/plain")
    error = fail()
    assert_redacted(error, CLIENT_SECRET)
    assert "it has: unknown client_secret [redacted])" in str(error)


@responses.activate
def test_it_keeps_an_html_page_quoting_the_secret_out_of_the_message() -> None:
    page = f"<html><body>Bad client_secret {html.escape(CLIENT_SECRET)} ({CLIENT_SECRET})</body></html>"
    responses.add(responses.POST, TOKEN_URL, body=page, status=500, content_type="text/html")
    error = fail()
    assert str(error) == f"The token endpoint at {HOST} answered HTTP 500 with text/html, not JSON."


@responses.activate
def test_it_redacts_an_echo_in_a_get_request() -> None:
    responses.add(
        responses.GET,
        TOKEN_URL,
        json={"error": "invalid_request", "error_description": f"?s={CLIENT_SECRET}"},
    )
    assert_redacted(fail(make_client(token_method="GET")), CLIENT_SECRET)


@responses.activate
def test_it_leaves_a_very_short_secret_alone() -> None:
    # Redacting three characters would mangle innocent text and protect nothing.
    refuse("the client abc is unknown")
    assert "client abc is unknown" in str(fail(make_client(client_secret="abc")))


@responses.activate
def test_it_keeps_no_unredacted_copy_of_the_message() -> None:
    refuse(f"bad secret {CLIENT_SECRET}")
    error = fail()
    assert error.__context__ is None or CLIENT_SECRET not in str(error.__context__)
    assert error.__cause__ is None


# --- Secrets in debug logs over a real socket (responses bypasses urllib3's own logging) ----------


class _TokenHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(GOOD).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def local_token_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TokenHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/token"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_it_keeps_secrets_out_of_debug_logs_on_the_wire(method, local_token_url, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    client = make_client(token_url=local_token_url, token_method=method)
    flows.exchange_code(client, code=CODE, redirect_uri=REDIRECT_URI, code_verifier=VERIFIER)
    flows.refresh(client, REFRESH)
    # Form-encoded forms of the secrets too: that is how they would appear in a logged URL.
    encoded = [flows._form_encode(secret) for secret in SECRETS]
    for text in [caplog.text, *(record.getMessage() for record in caplog.records)]:
        assert_safe(text)
        for secret in encoded:
            assert secret not in text


# --- Consent URL -------------------------------------------------------------------------------------


def test_it_builds_consent_params() -> None:
    client = make_client(scope=SCOPE, resource=RESOURCE)
    params = flows.consent_params(
        client, redirect_uri=REDIRECT_URI, state="st4te", code_challenge="ch4llenge"
    )
    assert params == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "scope": SCOPE,
        "resource": RESOURCE,
        "state": "st4te",
        "code_challenge": "ch4llenge",
        "code_challenge_method": "S256",
    }


def test_it_leaves_out_pkce_scope_and_resource_when_not_given() -> None:
    params = flows.consent_params(
        make_client(), redirect_uri=REDIRECT_URI, state="st4te", code_challenge=None
    )
    assert params == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT_URI,
        "state": "st4te",
    }


def test_it_never_puts_the_secret_in_consent_params() -> None:
    params = flows.consent_params(make_client(), redirect_uri=REDIRECT_URI, state="s", code_challenge="c")
    assert CLIENT_SECRET not in json.dumps(params)


def test_it_keeps_the_auth_urls_query() -> None:
    auth_url = "https://login.example.com/b2c/oauth2/v2.0/authorize?p=B2C_1_signin&prompt=consent"
    params = {"response_type": "code", "client_id": CLIENT_ID, "scope": SCOPE, "state": "st4te"}
    url = flows.consent_url(auth_url, params)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", HOST, "/b2c/oauth2/v2.0/authorize")
    assert parse_qsl(parts.query, strict_parsing=True) == [
        ("p", "B2C_1_signin"),
        ("prompt", "consent"),
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("scope", SCOPE),
        ("state", "st4te"),
    ]


def test_it_percent_encodes_the_consent_url() -> None:
    url = flows.consent_url("https://login.example.com/authorize", {"scope": "a b", "client_id": "x+y&z"})
    assert url == "https://login.example.com/authorize?scope=a%20b&client_id=x%2By%26z"


def test_it_builds_a_consent_url_from_params() -> None:
    client = make_client(resource=RESOURCE)
    params = flows.consent_params(client, redirect_uri=REDIRECT_URI, state="st4te", code_challenge="ch")
    query = dict(parse_qsl(urlsplit(flows.consent_url("https://login.example.com/authorize", params)).query))
    assert query == params


# --- PKCE and state ----------------------------------------------------------------------------------


def test_it_makes_an_s256_pkce_pair() -> None:
    verifier, challenge = flows.new_pkce_pair()
    assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", verifier)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    assert challenge == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert len(challenge) == 43


def test_its_s256_challenge_matches_the_rfc_7636_example() -> None:
    # RFC 7636, Appendix B: a verifier and the challenge the standard gives for it.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert flows.s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_it_makes_a_new_pkce_pair_each_time() -> None:
    assert flows.new_pkce_pair() != flows.new_pkce_pair()


def test_it_makes_unguessable_states() -> None:
    states = {flows.new_state() for _ in range(20)}
    assert len(states) == 20
    assert all(len(state) >= 32 for state in states)


# --- Issuer (RFC 9207) --------------------------------------------------------------------------------

AUTH_URL = "https://login.example.com/contoso/oauth2/v2.0/authorize"


def test_it_accepts_the_expected_issuer() -> None:
    expected = "https://login.example.com/contoso/v2.0"
    assert flows.issuer_matches(expected, expected=expected, auth_url=AUTH_URL)
    assert flows.issuer_matches(expected + "/", expected=expected, auth_url=AUTH_URL)


def test_it_rejects_another_issuer_than_expected() -> None:
    expected = "https://login.example.com/contoso/v2.0"
    assert not flows.issuer_matches(
        "https://login.example.com/fabrikam/v2.0", expected=expected, auth_url=AUTH_URL
    )
    assert not flows.issuer_matches("https://evil.example/contoso/v2.0", expected=expected, auth_url=AUTH_URL)
    assert not flows.issuer_matches("", expected=expected, auth_url=AUTH_URL)


def test_it_accepts_an_issuer_on_the_auth_urls_origin() -> None:
    assert flows.issuer_matches("https://LOGIN.example.com/contoso/v2.0", expected="", auth_url=AUTH_URL)


def test_it_rejects_an_issuer_on_another_origin() -> None:
    assert not flows.issuer_matches("https://evil.example.com", expected="", auth_url=AUTH_URL)
    assert not flows.issuer_matches("http://login.example.com", expected="", auth_url=AUTH_URL)
    assert not flows.issuer_matches("https://login.example.com:8443", expected="", auth_url=AUTH_URL)
    assert not flows.issuer_matches("https://login.example.com.evil.example", expected="", auth_url=AUTH_URL)
    assert not flows.issuer_matches("not a url", expected="", auth_url=AUTH_URL)
