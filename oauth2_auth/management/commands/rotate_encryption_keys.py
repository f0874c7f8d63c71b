"""Re-encrypt every stored secret with the first (newest) configured key.

Put the new key first in CONNECTIT_ENCRYPTION_KEYS, keep the old ones after it, restart the app,
run this command, then drop the old keys. Values already encrypted with the newest key are left
as they are.

The app keeps running meanwhile: a token renewal may store a new (rotated) refresh token at any
moment. So each value is rewritten with a compare-and-set: the re-encrypted value is written only
if the column still holds the ciphertext that was read, and otherwise the new value is read and
rotated in turn. Nothing the app wrote meanwhile is ever overwritten with an older value.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.models import Model

from connectit.fields import EncryptedTextField, fernet, uses_primary_key


def encrypted_fields() -> list[tuple[type[Model], list[EncryptedTextField]]]:
    found = []
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            found.append((model, fields))
    return found


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the first key of CONNECTIT_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        rewritten = current = 0
        for model, fields in encrypted_fields():
            rows = list(model._base_manager.values_list("pk", *(f.attname for f in fields)))
            # Every value must decrypt before any is changed: a lost key leaves this kind of
            # record exactly as it was.
            for pk, *values in rows:
                for field, token in zip(fields, values, strict=True):
                    _check(model, pk, field, token)
            for pk, *values in rows:
                for field, token in zip(fields, values, strict=True):
                    if not token:
                        continue
                    if _rotate(model, pk, field, str(token)):
                        rewritten += 1
                    else:
                        current += 1
        self.stdout.write(
            f"Re-encrypted {rewritten} value(s) with the newest key; {current} already used it."
        )


def _check(model: type[Model], pk: Any, field: EncryptedTextField, token: str) -> None:
    if not token or uses_primary_key(token):
        return
    try:
        fernet().decrypt(str(token).encode())
    except InvalidToken:
        raise CommandError(
            f"{model._meta.verbose_name} {pk}: {field.name} cannot be decrypted with any "
            "configured key. Nothing was changed for this kind of record; add the key "
            "that encrypted it and run the command again."
        ) from None


def _rotate(model: type[Model], pk: Any, field: EncryptedTextField, token: str | None) -> bool:
    """Compare-and-set until the column holds a value under the newest key; True if we wrote."""
    while token and not uses_primary_key(token):
        rotated = fernet().rotate(token.encode()).decode()
        if _swap(model, pk, field, token, rotated):
            return True
        token = _read(model, pk, field)  # written meanwhile: rotate what is there now
    return False


def _swap(model: type[Model], pk: Any, field: EncryptedTextField, old: str, new: str) -> bool:
    table, column, key = _names(model, field)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {key} = %s AND {column} = %s", [new, pk, old])  # noqa: S608 - quoted names
        return cursor.rowcount == 1


def _read(model: type[Model], pk: Any, field: EncryptedTextField) -> str | None:
    table, column, key = _names(model, field)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE {key} = %s", [pk])  # noqa: S608 - quoted names
        row = cursor.fetchone()
    return row[0] if row else None


def _names(model: type[Model], field: EncryptedTextField) -> tuple[str, str, str]:
    quote = connection.ops.quote_name
    return quote(model._meta.db_table), quote(field.column), quote(model._meta.pk.column)
