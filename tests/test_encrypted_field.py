from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import FieldError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from connectit.fields import Ciphertext, DecryptionError, decrypt
from oauth2_auth.models import Authorization, BearerToken
from tests.conftest import make_authorization

SECRET_COLUMNS = ("client_secret", "access_token", "refresh_token")
PLAINTEXT = {
    "client_secret": "client-secret-plaintext-1",
    "access_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.access-plaintext",
    "refresh_token": "refresh-plaintext-0.AXoA",
}


# (table, key column, secret columns): the token columns live in the bearer token's own row.
TABLES = (
    (Authorization._meta.db_table, "id", ("client_secret",)),
    (BearerToken._meta.db_table, "authorization_id", ("access_token", "refresh_token")),
)


def raw_row(pk: int) -> dict[str, str]:
    row: dict[str, str] = {}
    with connection.cursor() as cursor:
        for table, key, columns in TABLES:
            cursor.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = %s", [pk])
            found = cursor.fetchone() or ("",) * len(columns)  # no token row yet: nothing stored
            row.update(zip(columns, found, strict=True))
    return row


def raw_dump() -> str:
    """Every column of every authorization and token row, as a database dump would show them."""
    rows = []
    with connection.cursor() as cursor:
        for table, _key, _columns in TABLES:
            cursor.execute(f"SELECT * FROM {table}")
            rows.extend(cursor.fetchall())
    return repr(rows)


def read(record: Authorization, column: str) -> str:
    owner = record if column == "client_secret" else record.token
    return getattr(owner, column)


@pytest.fixture
def record(db) -> Authorization:
    return make_authorization(**PLAINTEXT)


def test_it_stores_no_plaintext(record: Authorization) -> None:
    row = raw_row(record.pk)
    dump = raw_dump()
    for column, plaintext in PLAINTEXT.items():
        assert plaintext not in row[column]
        assert plaintext not in dump
        assert row[column].startswith("gAAAA")  # a Fernet token


def test_it_round_trips_through_the_orm(record: Authorization) -> None:
    fresh = Authorization.objects.get(pk=record.pk)
    for column, plaintext in PLAINTEXT.items():
        assert read(fresh, column) == plaintext


def test_it_keeps_empty_values_empty(db) -> None:
    record = make_authorization(client_secret="")
    assert raw_row(record.pk)["client_secret"] == ""
    assert Authorization.objects.get(pk=record.pk).client_secret == ""


def test_it_saves_untouched_ciphertext_unchanged(record: Authorization) -> None:
    before = raw_row(record.pk)
    fresh = Authorization.objects.get(pk=record.pk)
    fresh.environment = "changed"
    fresh.save()
    assert raw_row(record.pk) == before


def test_it_refuses_lookups(record: Authorization) -> None:
    with pytest.raises(FieldError, match="encrypted"):
        list(Authorization.objects.filter(client_secret="x"))


def test_rotation_reencrypts_with_the_new_key_and_drops_the_old(record: Authorization) -> None:
    from django.conf import settings

    old_key = settings.CONNECTIT_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    before = raw_row(record.pk)

    with override_settings(CONNECTIT_ENCRYPTION_KEYS=[new_key, old_key]):
        out = StringIO()
        call_command("rotate_encryption_keys", stdout=out)
        assert "Re-encrypted 3 value(s)" in out.getvalue()
        out = StringIO()
        call_command("rotate_encryption_keys", stdout=out)
        assert "Re-encrypted 0 value(s)" in out.getvalue()
        assert "3 already used it" in out.getvalue()

    after = raw_row(record.pk)
    assert all(after[c] != before[c] for c in SECRET_COLUMNS)
    with override_settings(CONNECTIT_ENCRYPTION_KEYS=[new_key]):
        fresh = Authorization.objects.get(pk=record.pk)
        assert fresh.client_secret == PLAINTEXT["client_secret"]
        assert fresh.token.refresh_token == PLAINTEXT["refresh_token"]


def test_a_wrong_key_gives_a_clear_error(record: Authorization) -> None:
    with override_settings(CONNECTIT_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        fresh = Authorization.objects.get(pk=record.pk)
        with pytest.raises(DecryptionError) as raised:
            fresh.client_secret  # noqa: B018
    message = str(raised.value)
    assert "password or secret" in message
    assert "ENDPOINT" in message
    assert "CONNECTIT_ENCRYPTION_KEYS" in message
    assert "gAAAA" not in message


def test_rotation_with_a_missing_key_changes_nothing(record: Authorization) -> None:
    before = raw_row(record.pk)
    wrong_key = Fernet.generate_key().decode()
    with (
        override_settings(CONNECTIT_ENCRYPTION_KEYS=[wrong_key]),
        pytest.raises(CommandError, match="cannot be"),
    ):
        call_command("rotate_encryption_keys", stdout=StringIO())
    assert raw_row(record.pk) == before


def test_the_page_explains_an_undecryptable_secret(admin_client, record: Authorization) -> None:
    with override_settings(CONNECTIT_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        response = admin_client.get(f"/oauth2/authorizations/{record.pk}/")
    # The edit page never decrypts the client secret; the refresh token it masks says it is broken.
    assert response.status_code == 200
    assert b"cannot be decrypted" in response.content
    assert b"gAAAA" not in response.content


# --- Serialisation (dumpdata/loaddata); only client_secret, whose column stays on Authorization ---


def test_a_fernet_token_from_a_fixture_is_kept_as_stored_ciphertext() -> None:
    field = Authorization._meta.get_field("client_secret")
    token = Fernet(Fernet.generate_key()).encrypt(b"from another install").decode()
    value = field.to_python(token)
    assert isinstance(value, Ciphertext)
    assert value == token
    assert field.get_db_prep_save(value, connection) == token


@pytest.mark.parametrize("value", ["plain-secret", "gAAAAA-not-base64!", "gAAAAAB" + "A" * 10, ""])
def test_anything_else_from_a_fixture_is_plaintext(value: str) -> None:
    field = Authorization._meta.get_field("client_secret")
    assert not isinstance(field.to_python(value), Ciphertext)
    assert field.to_python(value) == value


def test_serialising_a_never_read_secret_needs_no_key(db) -> None:
    record = make_authorization(client_secret=PLAINTEXT["client_secret"])
    stored = Authorization.objects.get(pk=record.pk)
    field = Authorization._meta.get_field("client_secret")
    with override_settings(CONNECTIT_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        assert field.value_to_string(stored) == raw_client_secret(record.pk)
    assert isinstance(stored.__dict__["client_secret"], Ciphertext)  # still not decrypted


def test_serialising_a_deferred_secret_reads_the_ciphertext(db) -> None:
    record = make_authorization(client_secret=PLAINTEXT["client_secret"])
    stored = Authorization.objects.defer("client_secret").get(pk=record.pk)
    field = Authorization._meta.get_field("client_secret")
    with override_settings(CONNECTIT_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        assert field.value_to_string(stored) == raw_client_secret(record.pk)


def test_serialising_a_plaintext_value_encrypts_it() -> None:
    unsaved = Authorization(client_secret=PLAINTEXT["client_secret"])
    text = Authorization._meta.get_field("client_secret").value_to_string(unsaved)
    assert text.startswith("gAAAA")
    assert decrypt(text) == PLAINTEXT["client_secret"]
    assert unsaved.client_secret == PLAINTEXT["client_secret"]  # the instance is left as it was


def test_serialising_an_empty_value_gives_an_empty_string() -> None:
    field = Authorization._meta.get_field("client_secret")
    assert field.value_to_string(Authorization(client_secret="")) == ""
    assert field.value_to_string(Authorization(client_secret=None)) == ""


def raw_client_secret(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT client_secret FROM {Authorization._meta.db_table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]
