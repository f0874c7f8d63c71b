"""The advice table (oauth2_auth/provider_advice.json): every entry gives its advice, unknown codes
give none, and a real Entra error body reaches the administrator with its advice and link."""

from __future__ import annotations

import json

import pytest
import responses

from oauth2_auth import advice, flows
from oauth2_auth.models import Status
from oauth2_auth.tokens import TokenError, get_access_token
from tests.conftest import make_authorization

TABLE = json.loads(advice.TABLE_PATH.read_text(encoding="utf-8"))
TOKEN_URL = "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
SECRET = "Qx8Q~secret-value-that-must-not-leak"
# What Entra answers a client secret's ID pasted as the secret (shape of a real answer).
ENTRA_7000215 = {
    "error": "invalid_client",
    "error_description": (
        "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request "
        "is the client secret value, not the client secret ID, for a secret added to app "
        "'11111111-2222-3333-4444-555555555555'. Trace ID: 0a1b2c3d-0000-4000-8000-000000000000 "
        "Correlation ID: 9f8e7d6c-0000-4000-8000-000000000000 Timestamp: 2026-11-30 20:00:00Z"
    ),
    "error_codes": [7000215],
    "timestamp": "2026-11-30 20:00:00Z",
    "trace_id": "0a1b2c3d-0000-4000-8000-000000000000",
    "correlation_id": "9f8e7d6c-0000-4000-8000-000000000000",
    "error_uri": "https://login.microsoftonline.com/error?code=7000215",
}


# --- The table ------------------------------------------------------------------------------------


@pytest.mark.parametrize("error", sorted(TABLE["oauth"]))
def test_every_oauth_error_in_the_table_gives_its_advice(error: str) -> None:
    found = advice.for_error({"error": error, "error_description": "whatever the provider says"})
    assert found == advice.Advice(TABLE["oauth"][error], "")
    assert str(found) == f"Advice: {TABLE['oauth'][error]}"


@pytest.mark.parametrize("code", sorted(TABLE["aadsts"]))
def test_every_aadsts_code_in_the_table_gives_its_advice_and_link(code: str) -> None:
    link = f"https://login.microsoftonline.com/error?code={code}"
    for body in (
        {"error": "invalid_request", "error_codes": [int(code)]},  # Entra's error_codes
        {"error": "invalid_request", "error_description": f"AADSTS{code}: Something went wrong."},
    ):
        found = advice.for_error(body)
        assert found == advice.Advice(TABLE["aadsts"][code], link)
        assert str(found) == f"Advice: {TABLE['aadsts'][code]} More: {link}"


def test_the_advice_is_static_one_line_text() -> None:
    for text in [*TABLE["oauth"].values(), *TABLE["aadsts"].values()]:
        assert text.strip() == text and "\n" not in text and len(text) <= 200
        assert "{" not in text  # no placeholder: advice never quotes the request
        assert text.endswith(".")


@pytest.mark.parametrize(
    "entry",
    [
        ("7000215", "secret's ID, not its value"),
        ("7000222", "secret has expired"),
        ("700082", "keep-alive refresh prevents this"),
        ("70008", "keep-alive refresh prevents this"),
        ("65001", "Consent was not granted"),
        ("700016", "check the tenant"),
        ("901002", "<resource>/.default"),
        ("700022", "<resource>/.default"),
        ("700024", "clock"),
        ("700027", "wrong certificate"),
    ],
)
def test_the_issue_s_examples_say_what_it_asked(entry: tuple[str, str]) -> None:
    code, words = entry
    assert words in advice.for_aadsts(code)


def test_unknown_codes_and_errors_give_no_advice() -> None:
    assert advice.for_aadsts("9999999") is None
    assert advice.for_oauth_error("no_such_error") is None
    assert advice.for_error({"error": "no_such_error", "error_description": "Something"}) is None
    assert advice.for_error({}) is None


def test_an_unknown_aadsts_code_still_links_to_entra_s_page() -> None:
    found = advice.for_error({"error": "no_such_error", "error_codes": [9999999]})
    assert found == advice.Advice(
        advice.UNKNOWN_AADSTS, "https://login.microsoftonline.com/error?code=9999999"
    )


def test_an_unknown_aadsts_code_with_a_known_error_gets_the_error_s_advice_and_the_code_s_link() -> None:
    found = advice.for_error({"error": "invalid_grant", "error_codes": [9999999]})
    assert found == advice.Advice(TABLE["oauth"]["invalid_grant"], advice.aadsts_link("9999999"))


def test_the_aadsts_code_wins_over_the_oauth_error() -> None:
    assert advice.for_error(ENTRA_7000215).text == TABLE["aadsts"]["7000215"]


def test_codes_come_from_error_codes_then_the_description_once_each() -> None:
    body = {"error_codes": [700082, "bad", True, 50011], "error_description": "AADSTS700082: x AADSTS65001"}
    assert advice.aadsts_codes(body) == ["700082", "50011", "65001"]
    assert advice.aadsts_codes({"error_codes": "7000215", "error_description": 5}) == []


def test_the_table_is_read_once() -> None:
    assert advice.table() is advice.table()


# --- Through flows and tokens -----------------------------------------------------------------------


@responses.activate
def test_an_entra_error_body_gets_its_advice_after_the_provider_s_text() -> None:
    responses.add(responses.POST, TOKEN_URL, json=ENTRA_7000215, status=401)
    client = flows.Client(token_url=TOKEN_URL, client_id="11111111-2222", client_secret=SECRET)
    with pytest.raises(flows.OAuth2Error) as raised:
        flows.client_credentials(client)
    text = str(raised.value)
    provider_part, advice_part = text.split(" Advice: ")
    assert provider_part.startswith(
        "The token endpoint at login.microsoftonline.com refused the request: invalid_client "
        "(AADSTS7000215: Invalid client secret provided."
    )
    assert provider_part.endswith(").")
    assert advice_part == (
        f"{TABLE['aadsts']['7000215']} More: https://login.microsoftonline.com/error?code=7000215"
    )
    assert raised.value.error == "invalid_client"


@responses.activate
def test_advice_never_unredacts_a_secret_the_provider_echoed() -> None:
    body = {"error": "invalid_client", "error_description": f"AADSTS7000215: bad secret {SECRET}"}
    responses.add(responses.POST, TOKEN_URL, json=body, status=401)
    client = flows.Client(token_url=TOKEN_URL, client_id="11111111-2222", client_secret=SECRET)
    with pytest.raises(flows.OAuth2Error) as raised:
        flows.client_credentials(client)
    assert SECRET not in str(raised.value) and "[redacted]" in str(raised.value)
    assert "Advice: You pasted the secret's ID" in str(raised.value)


@responses.activate
def test_the_advice_reaches_the_stored_last_error_and_the_token_event(db) -> None:
    record = make_authorization(client_secret=SECRET, token_url=TOKEN_URL)
    responses.add(responses.POST, TOKEN_URL, json=ENTRA_7000215, status=401)
    with pytest.raises(TokenError) as raised:
        get_access_token(record.code)
    record.refresh_from_db()
    assert "Advice: You pasted the secret's ID" in str(raised.value)
    assert "Advice: You pasted the secret's ID" in record.token.last_error
    assert "error?code=7000215" in record.events.first().message
    assert record.status == Status.FAILED


# --- On the record page -------------------------------------------------------------------------------


def test_split_takes_the_advice_apart() -> None:
    link = advice.aadsts_link("7000215")
    message = (
        f"The token endpoint refused: invalid_client (x). Advice: {TABLE['aadsts']['7000215']} More: {link}"
    )
    said, found = advice.split(message)
    assert said == "The token endpoint refused: invalid_client (x)."
    assert found == advice.Advice(TABLE["aadsts"]["7000215"], link)
    assert advice.split("No advice here.") == ("No advice here.", None)


@pytest.mark.parametrize(
    "tail",
    [
        "Advice: open https://evil.example.net now",  # not in the table
        f"Advice: {TABLE['oauth']['invalid_client']} More: https://evil.example.net/?code=1",  # not our link
    ],
)
def test_split_ignores_advice_the_provider_wrote_itself(tail: str) -> None:
    message = f"The token endpoint refused: invalid_client ({tail}). {tail}"
    assert advice.split(message) == (message, None)


def test_the_bearer_token_tab_shows_the_advice_apart_with_its_link(admin_client) -> None:
    link = advice.aadsts_link("7000222")
    stored = (
        f"Refused: invalid_client (AADSTS7000222: expired). Advice: {TABLE['aadsts']['7000222']} More: {link}"
    )
    record = make_authorization(token_state="failed", last_error=stored)
    page = admin_client.get(f"/oauth2/authorizations/{record.pk}/").content.decode()
    assert '<span class="text-danger">Refused: invalid_client (AADSTS7000222: expired).</span>' in page
    assert "<strong>Advice:</strong> The client secret has expired" in page
    assert f'<a href="{link}" rel="noreferrer">The provider&#x27;s page about this error</a>' in page


@responses.activate
def test_a_dead_refresh_token_keeps_the_advice_last(db) -> None:
    record = make_authorization(
        grant_type="authorization_code",
        auth_url="https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize",
        redirect_url="https://connectit.example.com/oauth2/callback/",
        refresh_token="old-refresh-token-value",
        token_state="connected",
    )
    body = {
        "error": "invalid_grant",
        "error_description": "AADSTS700082: The refresh token has expired due to inactivity.",
        "error_codes": [700082],
    }
    responses.add(responses.POST, TOKEN_URL, json=body, status=400)
    with pytest.raises(TokenError):
        get_access_token(record.code)
    record.refresh_from_db()
    said, found = advice.split(record.token.last_error)
    assert said.endswith("click Get Token to give consent again.")
    assert found == advice.Advice(TABLE["aadsts"]["700082"], advice.aadsts_link("700082"))
    assert record.status == Status.CONSENT_REQUIRED
