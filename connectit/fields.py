"""EncryptedTextField: secrets encrypted at rest with MultiFernet.

The first configured key encrypts, every configured key decrypts, so keys can be rotated
(``manage.py rotate_encryption_keys``). Values are decrypted lazily, on first attribute access,
so listing records never pays for decryption, and a value no key can decrypt raises
``DecryptionError`` naming the field and the record instead of leaking ciphertext or a traceback.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.query_utils import DeferredAttribute


class DecryptionError(Exception):
    """A stored secret that none of the configured keys can decrypt."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    # Keyed on the settings value so tests that override the keys get a matching MultiFernet.
    return _fernet(tuple(settings.CONNECTIT_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    return fernet().decrypt(token.encode()).decode()


def uses_primary_key(token: str) -> bool:
    """True when the first (newest) key already encrypted this token."""
    try:
        Fernet(settings.CONNECTIT_ENCRYPTION_KEYS[0]).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


class Ciphertext(str):
    """A value exactly as stored: saved back unchanged, decrypted only when read."""

    __slots__ = ()


class EncryptedAttribute(DeferredAttribute):
    """Decrypts on first read and caches the plaintext on the instance."""

    def __get__(self, instance: models.Model | None, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, Ciphertext):
            value = self._decrypt(instance, value)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = value

    def _decrypt(self, instance: models.Model, token: Ciphertext) -> str:
        try:
            return decrypt(token)
        except InvalidToken:
            label = instance._meta.verbose_name
            raise DecryptionError(
                f"The stored {self.field.verbose_name} of {label} {instance} cannot be decrypted "
                "with any configured encryption key. Restore the key that encrypted it to "
                "CONNECTIT_ENCRYPTION_KEYS, or enter the value again."
            ) from None


class EncryptedTextField(models.TextField):
    """Stores Fernet tokens; the empty string stays empty so "not set" needs no key."""

    descriptor_class = EncryptedAttribute

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("unique") or kwargs.get("db_index") or kwargs.get("primary_key"):
            raise ValueError("EncryptedTextField cannot be unique, indexed or a primary key")
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def get_lookup(self, lookup_name: str) -> Any:
        raise FieldError(f"{self.name} is encrypted and cannot be filtered ({lookup_name})")

    def get_transform(self, lookup_name: str) -> Any:
        raise FieldError(f"{self.name} is encrypted and cannot be filtered ({lookup_name})")

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if not value:
            return ""
        return Ciphertext(value)

    def pre_save(self, model_instance: models.Model, add: bool) -> Any:
        # Read __dict__ directly: a value never read is still ciphertext and is saved unchanged,
        # so saving a record never needs (or fails for want of) a key for untouched secrets.
        return model_instance.__dict__.get(self.attname, "")

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        if value is None or value == "":
            return ""
        if isinstance(value, Ciphertext):
            return str(value)
        return encrypt(str(value))


def is_stored(instance: models.Model, name: str) -> bool:
    """Whether an encrypted field holds a value, without decrypting it."""
    return bool(instance.__dict__.get(instance._meta.get_field(name).attname))
