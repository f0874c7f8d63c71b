"""dumpdata/loaddata keep secrets encrypted: backups and SQLite -> PostgreSQL moves hold ciphertext.

Every secret is a distinct, recognisable string, searched for in the dump. Only the client secret
of ``Authorization`` and the definitions' own secrets are used here.
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core import serializers
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from connectit.fields import DecryptionError
from definitions.models import AuthType, Definition
from oauth2_auth.models import Authorization
from tests.conftest import make_authorization

LABELS = ("oauth2_auth.authorization", "definitions.definition")
CLIENT_SECRET = "client-secret-DUMP-1111"
PASSWORD = "basic-password-DUMP-2222"
BEARER = "bearer-token-DUMP-3333"
API_KEY = "api-key-value-DUMP-4444"
DEFINITION_SECRETS = {"auth_password": PASSWORD, "bearer_token": BEARER, "api_key_value": API_KEY}
ALL_SECRETS = (CLIENT_SECRET, PASSWORD, BEARER, API_KEY)


def new_key() -> str:
    return Fernet.generate_key().decode()


def make_records() -> tuple[Authorization, Definition]:
    authorization = make_authorization(client_secret=CLIENT_SECRET)
    definition = Definition.objects.create(
        code="DUMPED",
        endpoint_url="https://api.example.com/customers",
        auth_type=AuthType.BASIC,
        auth_username="svc-user",
        api_key_header="X-Api-Key",
        **DEFINITION_SECRETS,
    )
    return authorization, definition


@pytest.fixture
def records(db) -> tuple[Authorization, Definition]:
    return make_records()


def stored_columns() -> dict[str, str]:
    """The secret columns exactly as the database holds them, read with raw SQL."""
    columns: dict[str, str] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT client_secret FROM {Authorization._meta.db_table} WHERE code = 'ENDPOINT'")
        (columns["client_secret"],) = cursor.fetchone()
        names = ", ".join(DEFINITION_SECRETS)
        cursor.execute(f"SELECT {names} FROM {Definition._meta.db_table} WHERE code = 'DUMPED'")
        columns.update(zip(DEFINITION_SECRETS, cursor.fetchone(), strict=True))
    return columns


def dumpdata(*args: str) -> str:
    out = StringIO()
    call_command("dumpdata", *LABELS, *args, stdout=out)
    return out.getvalue()


def dumped_fields(dump: str) -> dict[str, dict[str, Any]]:
    return {entry["model"]: entry["fields"] for entry in json.loads(dump)}


def delete_records() -> None:
    Definition.objects.all().delete()  # first: a definition protects its authorization
    Authorization.objects.all().delete()


def loaddata(dump: str, tmp_path: Path) -> None:
    fixture = tmp_path / "backup.json"
    fixture.write_text(dump, encoding="utf-8")
    call_command("loaddata", str(fixture), stdout=StringIO())


def assert_secrets_read_back() -> None:
    assert Authorization.objects.get(code="ENDPOINT").client_secret == CLIENT_SECRET
    definition = Definition.objects.get(code="DUMPED")
    for name, plaintext in DEFINITION_SECRETS.items():
        assert getattr(definition, name) == plaintext


def test_dumpdata_writes_the_stored_ciphertext_and_no_plaintext(records) -> None:
    dump = dumpdata()
    for secret in ALL_SECRETS:
        assert secret not in dump
    fields = dumped_fields(dump)
    stored = stored_columns()
    assert fields["oauth2_auth.authorization"]["client_secret"] == stored["client_secret"]
    for name in DEFINITION_SECRETS:
        assert fields["definitions.definition"][name] == stored[name]
        assert stored[name].startswith("gAAAA")  # a Fernet token


def test_dumpdata_after_reading_a_secret_still_writes_no_plaintext(records) -> None:
    # The in-memory instance now holds the decrypted value; serialising it must encrypt again.
    authorization, definition = records
    assert definition.bearer_token == BEARER
    text = serializers.serialize("json", [authorization, definition])
    for secret in ALL_SECRETS:
        assert secret not in text


@pytest.mark.parametrize("format_", ["json", "jsonl", "xml", "yaml"])
def test_an_unsaved_plaintext_value_is_serialised_encrypted(db, format_: str) -> None:
    unsaved = Definition(code="NEW", endpoint_url="https://api.example.com/", bearer_token=BEARER)
    text = serializers.serialize(format_, [unsaved])
    assert BEARER not in text
    (loaded,) = serializers.deserialize(format_, text)
    assert loaded.object.bearer_token == BEARER


def test_loaddata_restores_secrets_unchanged(records, tmp_path: Path) -> None:
    before = stored_columns()
    dump = dumpdata()
    delete_records()
    assert not Definition.objects.exists()

    loaddata(dump, tmp_path)

    # Saved as dumped: not encrypted a second time, not decrypted and re-encrypted either.
    assert stored_columns() == before
    assert_secrets_read_back()


def test_empty_secrets_stay_empty(db, tmp_path: Path) -> None:
    Definition.objects.create(code="DUMPED", endpoint_url="https://api.example.com/")
    dump = dumpdata()
    assert all(dumped_fields(dump)["definitions.definition"][name] == "" for name in DEFINITION_SECRETS)
    delete_records()
    loaddata(dump, tmp_path)
    definition = Definition.objects.get(code="DUMPED")
    assert all(getattr(definition, name) == "" for name in DEFINITION_SECRETS)


def test_a_dump_made_with_one_key_loads_where_that_key_is_the_old_one(db, tmp_path: Path) -> None:
    key_a, key_b = new_key(), new_key()
    with override_settings(CONNECTIT_ENCRYPTION_KEYS=[key_a]):
        make_records()
        before = stored_columns()
        dump = dumpdata()
    delete_records()

    with override_settings(CONNECTIT_ENCRYPTION_KEYS=[key_b, key_a]):
        loaddata(dump, tmp_path)
        assert_secrets_read_back()
    assert stored_columns() == before  # still key A's tokens: rotate_encryption_keys moves them on


def test_dumpdata_and_loaddata_need_no_key(records, tmp_path: Path) -> None:
    before = stored_columns()
    with override_settings(CONNECTIT_ENCRYPTION_KEYS=[new_key()]):
        dump = dumpdata()
        delete_records()
        loaddata(dump, tmp_path)
        assert stored_columns() == before
        with pytest.raises(DecryptionError):
            Definition.objects.get(code="DUMPED").bearer_token  # noqa: B018
    assert_secrets_read_back()


def test_a_hand_written_fixture_with_plaintext_is_stored_encrypted(db, tmp_path: Path) -> None:
    fixture: list[dict[str, Any]] = [
        {
            "model": "definitions.definition",
            "pk": 1,
            "fields": {
                "code": "DUMPED",
                "endpoint_url": "https://api.example.com/",
                "created_at": "2026-01-01T00:00:00Z",
                "updated_at": "2026-01-01T00:00:00Z",
                **DEFINITION_SECRETS,
            },
        }
    ]
    loaddata(json.dumps(fixture), tmp_path)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {Definition._meta.db_table}")
        row = " ".join(str(value) for value in cursor.fetchone())
    for secret in DEFINITION_SECRETS.values():
        assert secret not in row
    definition = Definition.objects.get(code="DUMPED")
    for name, plaintext in DEFINITION_SECRETS.items():
        assert getattr(definition, name) == plaintext
