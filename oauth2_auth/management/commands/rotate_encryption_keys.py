"""Re-encrypt every stored secret with the first (newest) configured key.

Put the new key first in CONNECTIT_ENCRYPTION_KEYS, keep the old ones after it, run this command,
then drop the old keys. Values already encrypted with the newest key are left as they are.
"""

from __future__ import annotations

from typing import Any

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connectit.fields import Ciphertext, EncryptedTextField, fernet, uses_primary_key


def encrypted_fields() -> list[tuple[type, list[str]]]:
    found = []
    for model in apps.get_models():
        names = [f.attname for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if names:
            found.append((model, names))
    return found


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the first key of CONNECTIT_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        rewritten = current = 0
        for model, names in encrypted_fields():
            # One transaction per model: a failure leaves that model's values as they were.
            with transaction.atomic():
                for row in list(model._base_manager.values_list("pk", *names)):
                    changes = self._rotate_row(model, row[0], dict(zip(names, row[1:], strict=True)))
                    rewritten += len(changes)
                    current += sum(1 for value in row[1:] if value) - len(changes)
                    if changes:
                        model._base_manager.filter(pk=row[0]).update(**changes)
        self.stdout.write(
            f"Re-encrypted {rewritten} value(s) with the newest key; {current} already used it."
        )

    def _rotate_row(self, model: type, pk: Any, values: dict[str, str]) -> dict[str, Ciphertext]:
        changes = {}
        for name, token in values.items():
            if not token or uses_primary_key(token):
                continue
            try:
                changes[name] = Ciphertext(fernet().rotate(token.encode()).decode())
            except InvalidToken:
                raise CommandError(
                    f"{model._meta.verbose_name} {pk}: {name} cannot be decrypted with any "
                    "configured key. Nothing was changed for this kind of record; add the key "
                    "that encrypted it and run the command again."
                ) from None
        return changes
