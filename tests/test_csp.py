"""The Content-Security-Policy header: on every page, strict, and widened only for a provider."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from csp.middleware import CSPMiddleware
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.shortcuts import render
from django.test import Client, RequestFactory, override_settings

from connectit.csp import allow_form_action, origin, policy
from oauth2_auth.models import Authorization, GrantType
from tests.conftest import make_authorization
from tests.test_definition_create import make_definition

REPO = Path(__file__).resolve().parent.parent
TEMPLATES = REPO / "templates"
PROVIDER = "https://login.microsoftonline.com"
AUTH_URL = PROVIDER + "/contoso/oauth2/v2.0/authorize?prompt=consent"

# The policy every page gets, directive by directive (django-csp writes them in no fixed order).
STRICT = {
    "default-src": ["'none'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}


def directives(response) -> dict[str, list[str]]:
    """The response's Content-Security-Policy as {directive: [sources]}."""
    assert "Content-Security-Policy" in response, "no Content-Security-Policy header"
    parsed: dict[str, list[str]] = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        assert name not in parsed, f"{name} twice"
        parsed[name] = sources
    return parsed


def strict_with(**changes: list[str]) -> dict[str, list[str]]:
    return {**STRICT, **{name.replace("_", "-"): sources for name, sources in changes.items()}}


# --- Inline script and style, found in the templates and in the pages -----------------------------

_TAG = re.compile(r"<[A-Za-z][^>]*>")
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
_STYLE_ATTR = re.compile(r"\sstyle\s*=", re.IGNORECASE)


def inline_code(html: str) -> list[str]:
    """What the policy would refuse: inline <script> and <style>, on...= handlers, style=
    attributes and javascript: URLs."""
    found = []
    for attrs, body in _SCRIPT.findall(html):
        if body.strip() or "src=" not in attrs:
            found.append(f"inline <script{attrs}>")
    if re.search(r"<style\b", html, re.IGNORECASE):
        found.append("<style> element")
    for tag in _TAG.findall(html):
        if _HANDLER.search(tag):
            found.append(f"event handler attribute in {tag}")
        if _STYLE_ATTR.search(tag):
            found.append(f"style attribute in {tag}")
        if "javascript:" in tag.lower():
            found.append(f"javascript: URL in {tag}")
    return found


def test_the_scanner_finds_what_the_policy_refuses() -> None:
    html = (
        '<script>alert(1)</script><script src="/a.js"></script><style>p{}</style>'
        '<a href="javascript:go()">x</a><button onclick="go()">y</button><p style="color:red">z</p>'
    )
    assert len(inline_code(html)) == 5
    assert inline_code('<script src="/static/a.js"></script><p class="one">on=</p>') == []


@pytest.mark.parametrize(
    "template", sorted(TEMPLATES.rglob("*.html")), ids=lambda path: str(path.relative_to(TEMPLATES))
)
def test_no_template_has_inline_script_or_style(template: Path) -> None:
    assert inline_code(template.read_text()) == []


# --- The header on the pages ----------------------------------------------------------------------


def assert_strict_page(response, status: int = 200) -> None:
    assert response.status_code == status
    assert directives(response) == STRICT
    assert inline_code(response.content.decode()) == []


def assert_strict_page_but(response, **changes: list[str]) -> None:
    assert response.status_code == 200
    assert directives(response) == strict_with(**changes)
    assert inline_code(response.content.decode()) == []


def test_the_login_page(client: Client, admin_user: User) -> None:
    assert_strict_page(client.get("/accounts/login/"))


def test_the_redirect_to_the_login_page(client: Client, admin_user: User) -> None:
    assert directives(client.get("/oauth2/authorizations/")) == STRICT


def test_the_first_administrator_page(client: Client, db) -> None:
    assert_strict_page(client.get("/setup/"))


def test_the_authorization_list(admin_client: Client, authorization: Authorization) -> None:
    assert_strict_page(admin_client.get("/oauth2/authorizations/"))


def test_the_new_authorization_form(admin_client: Client) -> None:
    response = admin_client.get("/oauth2/authorizations/new/")
    assert_strict_page(response)
    # The code is shown upper-case by a class now, not by an inline style.
    assert re.search(r'<input[^>]*name="code"[^>]*class="[^"]*text-uppercase', response.content.decode())


def test_a_client_credentials_record_keeps_form_action_self(
    admin_client: Client, authorization: Authorization
) -> None:
    Authorization.objects.filter(pk=authorization.pk).update(auth_url=AUTH_URL)
    assert_strict_page(admin_client.get(f"/oauth2/authorizations/{authorization.pk}/"))


def test_a_definition_page(admin_client: Client, authorization: Authorization) -> None:
    definition = make_definition(authorization=authorization)
    assert_strict_page(admin_client.get(f"/definitions/{definition.pk}/"))
    assert_strict_page(admin_client.get("/definitions/new/"))
    assert_strict_page(admin_client.get("/definitions/"))
    assert_strict_page(admin_client.get("/definitions/runs/"))


def test_an_unusable_sign_in_answer_lands_on_a_strict_page(admin_client: Client) -> None:
    response = admin_client.get("/oauth2/callback/", {"state": "unknown", "code": "x"}, follow=True)
    assert_strict_page(response)
    assert "This sign-in answer cannot be used" in response.content.decode()


def test_a_not_found_page(admin_client: Client) -> None:
    assert directives(admin_client.get("/no-such-page/")) == STRICT


def test_the_admin_pages(admin_client: Client, authorization: Authorization) -> None:
    # Django's admin is already free of inline script and style; the header covers it too.
    assert_strict_page(admin_client.get("/admin/"))
    assert_strict_page(admin_client.get("/admin/auth/user/"))
    assert_strict_page(admin_client.get("/admin/auth/user/add/"))


def test_static_files_carry_it_too(client: Client, db) -> None:
    assert directives(client.get("/static/connectit/app.css")) == STRICT


# --- A form sent to the provider ------------------------------------------------------------------


@pytest.fixture
def auth_code(db) -> Authorization:
    return make_authorization(
        code="BC",
        grant_type=GrantType.AUTHORIZATION_CODE,
        auth_url=AUTH_URL,
        redirect_url="https://connectit.example.com/oauth2/callback/",
    )


def test_the_consent_post_page_may_post_to_the_provider(
    admin_client: Client, auth_code: Authorization
) -> None:
    Authorization.objects.filter(pk=auth_code.pk).update(auth_method="POST")
    response = admin_client.post(f"/oauth2/authorizations/{auth_code.pk}/get-token/")
    assert response.status_code == 200
    assert f'action="{AUTH_URL}"' in response.content.decode()
    assert directives(response) == strict_with(form_action=["'self'", PROVIDER])
    assert inline_code(response.content.decode()) == []


def test_the_record_page_lets_get_token_redirect_to_the_provider(
    admin_client: Client, auth_code: Authorization
) -> None:
    # Get Token answers its form with a redirect to the auth URL, and Chromium checks that
    # redirect against the record page's form-action.
    response = admin_client.get(f"/oauth2/authorizations/{auth_code.pk}/")
    assert_strict_page_but(response, form_action=["'self'", PROVIDER])


def through_middleware(response: HttpResponse, path: str = "/") -> HttpResponse:
    request = RequestFactory().get(path)
    return CSPMiddleware(lambda request: response)(request)


def test_allow_form_action_adds_the_origin_to_the_rendered_consent_page(auth_code: Authorization) -> None:
    """The helper on its own, as get_token uses it: render, widen, and let the middleware write."""
    request = RequestFactory().post("/")
    start = {"url": AUTH_URL, "params": {"state": "s"}}
    response = render(request, "oauth2_auth/consent_post.html", {"start": start, "record": auth_code})
    assert allow_form_action(response, AUTH_URL) is response
    assert directives(through_middleware(response)) == strict_with(form_action=["'self'", PROVIDER])


def test_allow_form_action_adds_to_an_earlier_update() -> None:
    response = allow_form_action(HttpResponse(), "https://a.example.com/authorize")
    allow_form_action(response, "https://b.example.com:8443/authorize")
    assert directives(through_middleware(response))["form-action"] == [
        "'self'",
        "https://a.example.com",
        "https://b.example.com:8443",
    ]


@pytest.mark.parametrize("url", [None, "", "javascript:alert(1)", "https://a.example.com;script-src *"])
def test_allow_form_action_leaves_the_policy_alone_without_a_usable_url(url: str | None) -> None:
    assert directives(through_middleware(allow_form_action(HttpResponse(), url))) == STRICT


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://login.microsoftonline.com/t/oauth2/authorize?x=1", "https://login.microsoftonline.com"),
        ("HTTPS://Login.Example.COM/authorize", "https://login.example.com"),
        ("http://127.0.0.1:8001/o/authorize/", "http://127.0.0.1:8001"),
        ("https://user:pass@idp.example.com/authorize", "https://idp.example.com"),
        ("https://[::1]:9443/authorize", "https://[::1]:9443"),
        ("  https://idp.example.com  ", "https://idp.example.com"),
        # Nothing that could end the source list or add a directive reaches the header.
        ("https://idp.example.com;script-src *", None),
        ("https://idp.example.com 'unsafe-inline'/", None),
        ("https://idp.example.com'/", None),
        ("https://idp.example.com:99999/", None),
        ("ftp://idp.example.com/", None),
        ("data:text/html,x", None),
        ("/relative/path", None),
    ],
)
def test_origin(url: str, expected: str | None) -> None:
    assert origin(url) == expected


# --- HTTPS ----------------------------------------------------------------------------------------


def test_https_upgrades_insecure_requests() -> None:
    assert policy(https=True)["DIRECTIVES"]["upgrade-insecure-requests"] is True
    assert "upgrade-insecure-requests" not in policy(https=False)["DIRECTIVES"]
    with override_settings(CONTENT_SECURITY_POLICY=policy(https=True)):
        assert directives(through_middleware(HttpResponse())) == strict_with(upgrade_insecure_requests=[])


@pytest.mark.parametrize(("public_url", "upgrades"), [("https://connectit.example.com", True), ("", False)])
def test_the_settings_follow_the_public_url(tmp_path: Path, public_url: str, upgrades: bool) -> None:
    environ = {
        "PATH": os.environ["PATH"],
        "CONNECTIT_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "connectit.settings",
        "CONNECTIT_PUBLIC_URL": public_url,
    }
    code = "import json; from django.conf import settings as s; print(json.dumps(s.CONTENT_SECURITY_POLICY))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == policy(https=upgrades)
