"""The OAuth2 authorization of a definition: a select, or a code box when there are thousands."""

from __future__ import annotations

from definitions.forms import DefinitionForm
from definitions.models import AuthType, Definition
from oauth2_auth.models import Authorization
from tests.conftest import make_authorization


def definition(authorization: Authorization) -> Definition:
    return Definition.objects.create(
        code="ITEMS",
        endpoint_url="https://api.example.com/items",
        auth_type=AuthType.OAUTH2,
        authorization=authorization,
    )


def test_the_select_shows_the_stored_authorization(admin_client, db) -> None:
    make_authorization(code="OTHER")
    record = definition(make_authorization(code="BC", environment="Production"))
    body = admin_client.get(f"/definitions/{record.pk}/").content.decode()
    assert '<option value="BC" selected>BC — Production (not connected)</option>' in body


def test_many_authorizations_are_typed_by_code(admin_client, db, monkeypatch) -> None:
    monkeypatch.setattr("definitions.forms.SELECT_LIMIT", 2)
    for code in ("A1", "A2"):
        make_authorization(code=code)
    record = definition(make_authorization(code="BC"))
    body = admin_client.get(f"/definitions/{record.pk}/").content.decode()
    assert 'name="authorization" value="BC"' in body
    assert '<option value="A1"' not in body

    form = DefinitionForm(
        data={**_post(record), "authorization": "a2"},
        instance=record,
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["authorization"].code == "A2"
    form = DefinitionForm(data={**_post(record), "authorization": "NOPE"}, instance=record)
    assert not form.is_valid()
    assert "authorization" in form.errors


def _post(record: Definition) -> dict[str, str]:
    return {
        "code": record.code,
        "kind": "rest",
        "direction": "import",
        "endpoint_url": record.endpoint_url,
        "timeout": "30",
        "auth_type": "oauth2",
        "http_method": "GET",
        "content_type": "application/json",
        "accept": "application/json",
        "paging": "none",
        "page_start": "1",
        "max_pages": "100",
        "soap_version": "1.1",
        "soap_mode": "wsdl",
        "active": "on",
    }
