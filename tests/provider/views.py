"""Views of the test provider: counting token endpoint, protected JSON API, test controls."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from oauth2_provider.decorators import protected_resource
from oauth2_provider.models import AccessToken, RefreshToken, get_application_model
from oauth2_provider.views import IntrospectTokenView, TokenView

from tests.provider import state

PAGE_SIZE = 10

# Canned collections in the shape of Business Central's API ({"value": [...]}).
COLLECTIONS: dict[str, list[dict[str, Any]]] = {
    "items": [
        {"id": n, "number": f"ITEM-{n:04d}", "displayName": f"Item {n}", "unitPrice": n * 1.5}
        for n in range(1, 26)
    ],
    "customers": [
        {"id": 1, "number": "C-0001", "displayName": "Adatum Corporation"},
        {"id": 2, "number": "C-0002", "displayName": "Trey Research"},
        {"id": 3, "number": "C-0003", "displayName": "School of Fine Art"},
    ],
    "orders": [
        {"id": n, "number": f"SO-{n:05d}", "customerId": 1 + n % 3, "amount": n * 100} for n in range(1, 13)
    ],
}


# --- Token endpoint -----------------------------------------------------------------------


class CountingTokenView(TokenView):
    """DOT's token endpoint, counted on arrival and optionally slowed down."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        state.count_token_request(request.POST.get("grant_type", ""))
        if state.hang_token_endpoint():
            return JsonResponse({"error": "temporarily_unavailable"}, status=503)
        state.pause_token_endpoint()
        return super().post(request, *args, **kwargs)


@method_decorator(csrf_exempt, name="dispatch")
class CountingIntrospectView(IntrospectTokenView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        state.count("introspect")
        return super().dispatch(request, *args, **kwargs)


# --- Protected API ------------------------------------------------------------------------


@csrf_exempt
def api(request: HttpRequest, path: str) -> HttpResponse:
    state.count("api")
    response = _protected_api(request, path)
    if response.status_code == 401:
        state.count("api_unauthorized")
    return response


# advertise_metadata: 401 + "WWW-Authenticate: Bearer ..." instead of DOT's bare 403.
@protected_resource(advertise_metadata=True)
def _protected_api(request: HttpRequest, path: str) -> HttpResponse:
    if request.method in ("POST", "PUT", "PATCH"):
        return _echo(request)
    if request.method == "DELETE":
        return HttpResponse(status=204)
    parts = [part for part in path.split("/") if part]
    if parts == ["paged"]:
        return _next_link_page(request)
    if parts == ["whoami"]:
        return _whoami(request)
    if parts and parts[0] in COLLECTIONS and len(parts) <= 2:
        return _collection(request, parts)
    return JsonResponse({"error": "not_found", "path": f"/api/{path}"}, status=404)


def _echo(request: HttpRequest) -> HttpResponse:
    try:
        body = json.loads(request.body) if request.body else None
    except ValueError:
        return JsonResponse({"error": "invalid_json"}, status=400)
    status = 201 if request.method == "POST" else 200
    return JsonResponse(body, status=status, safe=False)


def _collection(request: HttpRequest, parts: list[str]) -> HttpResponse:
    rows = COLLECTIONS[parts[0]]
    if len(parts) == 2:
        match = [row for row in rows if str(row["id"]) == parts[1]]
        if not match:
            return JsonResponse({"error": "not_found"}, status=404)
        return JsonResponse(match[0])
    if "page" not in request.GET:
        return JsonResponse({"value": rows})
    page = _int_param(request, "page", 1)
    size = _int_param(request, "page_size", PAGE_SIZE)
    total_pages = max(1, math.ceil(len(rows) / size))
    value = rows[(page - 1) * size : page * size]
    return JsonResponse({"value": value, "page": page, "total_pages": total_pages})


def _next_link_page(request: HttpRequest) -> HttpResponse:
    rows = COLLECTIONS["items"]
    page = _int_param(request, "page", 1)
    size = _int_param(request, "page_size", PAGE_SIZE)
    value = rows[(page - 1) * size : page * size]
    has_next = page * size < len(rows)
    next_url = request.build_absolute_uri(f"?page={page + 1}&page_size={size}") if has_next else None
    return JsonResponse({"value": value, "next": next_url})


def _whoami(request: HttpRequest) -> HttpResponse:
    # Lets tests check which authorization's token the app actually sent.
    raw = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    checksum = hashlib.sha256(raw.encode()).hexdigest()
    token = AccessToken.objects.select_related("application", "user").get(token_checksum=checksum)
    return JsonResponse(
        {
            "client_id": token.application.client_id if token.application else None,
            "username": token.user.get_username() if token.user else None,
            "scope": token.scope,
        }
    )


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    try:
        return max(1, int(request.GET.get(name, default)))
    except ValueError:
        return default


# --- Test controls ------------------------------------------------------------------------


def loopback_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The controls have no authentication, so refuse anything not from this machine."""

    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.META.get("REMOTE_ADDR") not in ("127.0.0.1", "::1"):
            return JsonResponse({"error": "forbidden"}, status=403)
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapper)


@loopback_only
@require_GET
def stats(request: HttpRequest) -> HttpResponse:
    return JsonResponse(state.snapshot())


@loopback_only
@require_POST
def reset(request: HttpRequest) -> HttpResponse:
    state.reset()
    return JsonResponse(state.snapshot())


@loopback_only
@require_POST
def redirect_uris(request: HttpRequest) -> HttpResponse:
    client_id = request.POST.get("client_id", "")
    uris = " ".join(request.POST.get("uris", "").split())
    updated = get_application_model().objects.filter(client_id=client_id).update(redirect_uris=uris)
    if not updated:
        return JsonResponse({"error": "unknown client_id"}, status=404)
    return JsonResponse({"client_id": client_id, "redirect_uris": uris.split()})


@loopback_only
@require_POST
def expire(request: HttpRequest) -> HttpResponse:
    past = timezone.now() - timedelta(seconds=1)
    return JsonResponse({"expired": AccessToken.objects.update(expires=past)})


@loopback_only
@require_POST
def revoke(request: HttpRequest) -> HttpResponse:
    """Revoke every grant: delete the access tokens and revoke the refresh tokens.

    DOT 3.4 already rejects a refresh token whose access token was deleted; revoking them
    explicitly states the intent: afterwards a refresh answers invalid_grant.
    """
    revoked = RefreshToken.objects.filter(revoked=None).update(revoked=timezone.now())
    deleted, _ = AccessToken.objects.all().delete()
    return JsonResponse({"deleted": deleted, "refresh_revoked": revoked})


def _seconds_knob(request: HttpRequest, setter: Callable[[float], None]) -> HttpResponse:
    try:
        seconds = float(request.POST.get("seconds", "0"))
    except ValueError:
        return JsonResponse({"error": "seconds must be a number"}, status=400)
    setter(seconds)
    return JsonResponse({"seconds": seconds})


@loopback_only
@require_POST
def token_delay(request: HttpRequest) -> HttpResponse:
    return _seconds_knob(request, state.set_token_delay)


@loopback_only
@require_POST
def token_hang(request: HttpRequest) -> HttpResponse:
    return _seconds_knob(request, state.set_token_hang)


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ConnectIT test OAuth2 provider\n", content_type="text/plain")
