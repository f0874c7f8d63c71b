"""A tour of every page of the app, for checks that must hold on all of them (issue 12, item 5):
no sideways scrolling on a phone (``assert_fits``) and no serious accessibility violation
(``assert_accessible``). ``tour_pages`` is the one list of pages: add a page there and every
check that tours the app visits it.

The seeded records carry the values that break layouts: long codes and URLs, a one-line JSON
body, a long error text, so a page that fits here fits with real data.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from connectit.models import AlertChannel, AlertDelivery, AlertEvent, AuditAction, AuditEntry, Incident
from connectit.roles import VIEWER
from definitions.models import Definition, Outcome, Run, RunPage
from oauth2_auth.models import GrantType, TokenState
from tests.browser import log_in
from tests.conftest import PASSWORD, make_authorization

# Who looks at a page: the tour signs in as each in turn (anonymous last).
ADMIN, VIEWER_USER, ANONYMOUS = "admin", "viewer", "anonymous"

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}

LONG_URL = (
    "https://api.businesscentral.dynamics.com/v2.0/0f8fad5b-d9cb-469f-a165-70867728950e/"
    "Production-Europe-West/api/v2.0/companies(9f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b)/items"
    "?$filter=lastModifiedDateTime%20gt%202026-01-01T00:00:00Z&$select=number,displayName"
)
LONG_ERROR = (
    "The provider answered invalid_client (AADSTS7000215: Invalid client secret provided. Ensure the "
    "secret being sent in the request is the client secret value, not the client secret ID, for a "
    "secret added to app '11111111-2222-3333-4444-555555555555'. Trace ID: "
    "0f8fad5b-d9cb-469f-a165-70867728950e Correlation ID: 7c9e6679-7425-40de-944b-e07fc1f90ae7)"
)


@dataclass(frozen=True)
class TourPage:
    name: str
    path: str
    who: str = ADMIN
    status: int = 200


def seed() -> dict[str, int]:
    """Records for every page to show, with long values; returns the primary keys the paths need."""
    failed = make_authorization(
        code="BC-PROD-EUROPE-WEST1",
        environment="Business Central production, Europe West, company CRONUS International Ltd.",
        token_url="https://login.microsoftonline.com/0f8fad5b-d9cb-469f-a165-70867728950e/oauth2/v2.0/token",
        resource_url=LONG_URL[:200],
        access_token="at-value-never-shown",
        refresh_token="rt-value-never-shown-0123456789",
        obtained_at=timezone.now() - timedelta(hours=2),
        expires_at=timezone.now() - timedelta(hours=1),
        token_state=TokenState.FAILED,
        last_error=LONG_ERROR,
    )
    make_authorization(
        code="BC-CONSENT",
        grant_type=GrantType.AUTHORIZATION_CODE,
        auth_url="https://login.microsoftonline.com/contoso/oauth2/v2.0/authorize",
        token_state=TokenState.CONSENT_REQUIRED,
        last_error="The refresh token is dead (invalid_grant): give consent again.",
    )
    make_authorization(code="NEW-ONE", environment="")
    make_authorization(  # failed, but its token still works: the longest status badge
        code="GRAPH-FAILED",
        access_token="at-value-never-shown",
        obtained_at=timezone.now() - timedelta(minutes=50),
        expires_at=timezone.now() + timedelta(minutes=10),
        token_state=TokenState.FAILED,
        last_error="The token endpoint did not answer within 15 s.",
    )
    definition = Definition.objects.create(
        code="ITEMS-EUROPE-WEST-01",
        description="Items changed since the first of January, from the production company in Europe West",
        endpoint_url=LONG_URL,
        authorization=failed,
    )
    run = _run(definition)
    viewer = User.objects.create_user("viewer", "viewer@example.com", PASSWORD)
    viewer.groups.add(Group.objects.get(name=VIEWER))
    invited = User.objects.create_user("invited-person-with-a-long-name", "invited.person@example.com")
    invited.set_unusable_password()
    invited.save()
    _alerts_and_audit(failed.code)
    return {"authorization": failed.pk, "definition": definition.pk, "run": run.pk, "user": invited.pk}


def _invitation_path(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("accept_invitation", args=[uid, default_token_generator.make_token(user)])


def _run(definition: Definition) -> Run:
    body = json.dumps(
        {"value": [{"number": f"ITEM-{n:05d}", "displayName": "Bicycle " * 6} for n in range(20)]}
    )
    now = timezone.now()
    run = Run.objects.create(
        definition=definition,
        trigger="admin",
        started_at=now - timedelta(seconds=3),
        running_since=now - timedelta(seconds=3),
        finished_at=now,
        outcome=Outcome.FAILED,
        http_status=500,
        pages=1,
        message="Page 2 failed: " + LONG_ERROR,
        parameters={"since": "2026-01-01T00:00:00Z", "company": "9f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"},
        request_line=f"GET {LONG_URL}",
        request_headers="Authorization: Bearer [redacted]\nAccept: application/json",
        response_headers="Content-Type: application/json\nrequest-id: 0f8fad5b-d9cb-469f-a165-70867728950e",
        response_content_type="application/json",
        request_sent=True,
    )
    RunPage.objects.create(run=run, number=1, http_status=200, url=LONG_URL, body=body, size=len(body))
    return run


def _alerts_and_audit(code: str) -> None:
    incident = Incident.objects.create(
        kind="token_failed",
        key=f"token:{code}",
        source="oauth2",
        subject=f"OAuth2 authorization {code}: token requests fail",
        message=f"Last error: {LONG_ERROR}",
        action="Check the client secret on the Credentials tab, then click Get Token.",
        path="/oauth2/authorizations/",
    )
    AlertDelivery.objects.create(
        incident=incident,
        event=AlertEvent.OPENED,
        channel=AlertChannel.WEBHOOK,
        attempts=5,
        last_error="Connection refused by https://hooks.example.com/services/T00000000/B00000000/" + "x" * 60,
    )
    AuditEntry.objects.create(
        actor="admin",
        address="2001:db8:85a3::8a2e:370:7334",
        action=AuditAction.CHANGED,
        target_type="authorization",
        target=code,
        fields=["client_secret", "token_url", "resource_url", "api_hosts", "access_token_property"],
    )


def tour_pages(keys: dict[str, int]) -> list[TourPage]:
    """Every page of the app, with ``keys`` from ``seed``."""
    auth, definition, run, user = keys["authorization"], keys["definition"], keys["run"], keys["user"]
    return [
        TourPage("authorizations", "/oauth2/authorizations/"),
        TourPage("authorizations needing consent", "/oauth2/authorizations/?status=consent_required"),
        TourPage("authorizations by status", "/oauth2/authorizations/?sort=status"),
        TourPage("new authorization", "/oauth2/authorizations/new/"),
        TourPage("authorization", f"/oauth2/authorizations/{auth}/"),
        TourPage("clear token", f"/oauth2/authorizations/{auth}/clear-token/"),
        TourPage("delete authorization", f"/oauth2/authorizations/{auth}/delete/"),
        TourPage("definitions", "/definitions/"),
        TourPage("new definition", "/definitions/new/"),
        TourPage("definition", f"/definitions/{definition}/"),
        TourPage("run a definition", f"/definitions/{definition}/run/"),
        TourPage("delete definition", f"/definitions/{definition}/delete/"),
        TourPage("runs", "/definitions/runs/"),
        TourPage("run", f"/definitions/runs/{run}/"),
        TourPage("run page", f"/definitions/runs/{run}/pages/1/"),
        TourPage("users", "/users/"),
        TourPage("invite a user", "/users/new/"),
        TourPage("user", f"/users/{user}/"),
        TourPage("audit trail", "/audit/"),
        TourPage("alerts", "/alerts/"),
        TourPage("404", "/no-such-page/", status=404),
        TourPage("403", "/oauth2/authorizations/new/", who=VIEWER_USER, status=403),
        TourPage("login", "/accounts/login/", who=ANONYMOUS),
        TourPage("accept an invitation", _invitation_path(User.objects.get(pk=user)), who=ANONYMOUS),
        TourPage("a used invitation", "/invitation/MQ/used-link/", who=ANONYMOUS, status=403),
    ]


def visit_all(page, live_server_url: str, keys: dict[str, int], *checks) -> None:
    """Open every tour page as its user and call each ``check(page)`` on it. Collects the failures
    of all pages and checks before failing, so one run shows everything that is wrong."""
    failures: list[str] = []
    signed_in = None
    for item in tour_pages(keys):
        if item.who != signed_in:
            _sign_in_as(page, live_server_url, item.who)
            signed_in = item.who
        response = page.goto(live_server_url + item.path)
        if response is None or response.status != item.status:
            failures.append(f"{item.name} ({item.path}): HTTP {response and response.status}")
            continue
        for check in checks:
            try:
                check(page)
            except AssertionError as exc:
                failures.append(f"{item.name} ({item.path}): {exc}")
    assert not failures, "\n".join(failures)


def _sign_in_as(page, live_server_url: str, who: str) -> None:
    page.context.clear_cookies()
    if who != ANONYMOUS:
        log_in(page, live_server_url, who, PASSWORD)
        page.wait_for_url(lambda url: "/accounts/login/" not in url)


_WIDEST = """() => {
  const limit = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.right > limit + 1 && box.width > 0) {
      const classes = typeof el.className === "string" ? el.className.trim().split(/\\s+/) : [];
      const name = [el.tagName.toLowerCase() + (el.id ? "#" + el.id : ""), ...classes].join(".");
      wide.push(`${name} right=${Math.round(box.right)}`);
    }
  }
  return wide.slice(0, 5);
}"""


def assert_fits(page) -> None:
    """The page scrolls only up and down: nothing makes the document wider than the window."""
    width, window = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    if width > window:
        raise AssertionError(f"{width} px wide in a {window} px window; too wide: {page.evaluate(_WIDEST)}")


def assert_tabs_in_one_row(page) -> None:
    """Form tabs stay on one row (their bar scrolls sideways) instead of wrapping."""
    rows = page.evaluate(
        """() => [...document.querySelectorAll(".nav-tabs")].map(
             bar => new Set([...bar.querySelectorAll(".nav-link")].filter(t => t.offsetParent)
               .map(t => Math.round(t.getBoundingClientRect().top))).size)"""
    )
    if any(count > 1 for count in rows):
        raise AssertionError(f"tabs wrap onto {max(rows)} rows")


# Only what blocks or seriously hinders someone: moderate and minor findings are advice.
_FAILING_IMPACTS = {"serious", "critical"}


# Resolves once nothing fades any more: Bootstrap shows a tab pane in two steps (active, then,
# after a timer, show and a fade-in), so wait until every faded element is fully shown and no
# finite animation runs (spinners turn forever), or 3 s pass.
_SETTLED = """() => new Promise((resolve) => {
  const until = performance.now() + 3000;
  const still = () => [...document.querySelectorAll(".fade.active, .fade.show")]
      .every((el) => el.classList.contains("show") && getComputedStyle(el).opacity === "1")
    && document.getAnimations().every(
      (a) => a.playState !== "running" || (a.effect && a.effect.getTiming().iterations === Infinity));
  let quiet = 0;
  const poll = () => {
    quiet = still() ? quiet + 1 : 0;
    if (quiet >= 2 || performance.now() > until) resolve(); else requestAnimationFrame(poll);
  };
  requestAnimationFrame(poll);
})"""


@functools.cache
def _axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


def assert_accessible(page) -> None:
    """axe-core finds no serious or critical violation. It is injected through page.evaluate
    (the DevTools protocol), which the page's Content-Security-Policy does not govern."""
    # A tab pane fading in is half transparent: let it settle before contrast is measured.
    # (page.evaluate, not wait_for_function: that one evals in the page, which the CSP refuses.)
    page.evaluate(_SETTLED)
    results = _axe().run(page)
    found = [v for v in results.response["violations"] if v["impact"] in _FAILING_IMPACTS]
    if found:
        lines = []
        for violation in found:
            targets = ", ".join(str(node["target"]) for node in violation["nodes"][:5])
            lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
        raise AssertionError("; ".join(lines))
