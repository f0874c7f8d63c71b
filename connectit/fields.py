"""EncryptedTextField: secrets encrypted at rest with MultiFernet.

The first configured key encrypts, every configured key decrypts, so keys can be rotated
(``manage.py rotate_encryption_keys``). Values are decrypted lazily, on first attribute access,
so listing records never pays for decryption, and a value no key can decrypt raises
``DecryptionError`` naming the field and the record instead of leaking ciphertext or a traceback.

Serialisation (``dumpdata``, ``loaddata``) works on the stored form: a dump holds the Fernet
tokens exactly as stored, never plaintext, and needs no key; loading a dump saves those tokens
unchanged, so a dump made with key A loads anywhere A is one of the configured keys. (The XML
format reads each value through the attribute to test it for None, so it does need the keys;
its output is ciphertext all the same.)
"""

from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_save, pre_save


class DecryptionError(Exception):
    """A stored secret that none of the configured keys can decrypt."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key) for key in keys])


def fernet() -> MultiFernet:
    # Keyed on the settings value so tests that override the keys get a matching MultiFernet.
    return _fernet(tuple(settings.CONNECTIT_ENCRYPTION_KEYS))


@lru_cache(maxsize=8)
def _derived_fernet(keys: tuple[str, ...], purpose: str) -> MultiFernet:
    def derive(key: str) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
        return base64.urlsafe_b64encode(hkdf.derive(base64.urlsafe_b64decode(key)))

    return MultiFernet([Fernet(derive(key)) for key in keys])


def fernet_for(purpose: str) -> MultiFernet:
    """A Fernet for tokens that leave the server (in a page) for ``purpose``: its keys are
    derived from the encryption keys (HKDF-SHA256, the purpose as info), so such a token is never
    a ciphertext under the keys that protect stored secrets, and rotating the keys rotates it."""
    return _derived_fernet(tuple(settings.CONNECTIT_ENCRYPTION_KEYS), purpose)


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


# A Fernet token: urlsafe base64 of version byte 0x80, 8-byte timestamp, 16-byte IV, AES-CBC
# ciphertext (whole 16-byte blocks, at least one) and a 32-byte HMAC.
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_FERNET_MIN_BYTES = 1 + 8 + 16 + 16 + 32


def looks_like_fernet_token(value: str) -> bool:
    """Whether ``value`` has the shape of a Fernet token; checked without any key, so a dump
    made where the key is missing (or with another key) is still recognised as ciphertext."""
    if not value.startswith("gAAAA") or not _BASE64URL.fullmatch(value):
        return False
    try:
        data = base64.urlsafe_b64decode(value)
    except (binascii.Error, ValueError):
        return False
    return data[0] == 0x80 and len(data) >= _FERNET_MIN_BYTES and (len(data) - _FERNET_MIN_BYTES) % 16 == 0


# Set on an instance while loaddata saves it (a "raw" save). Django then reads every field with
# getattr() instead of pre_save(), which would decrypt the loaded ciphertext (needing the key)
# and re-encrypt it; with the flag set, reads return the ciphertext, which is saved unchanged.
# post_save removes it; a raw save that fails leaves it on an instance loaddata then discards.
_RAW_SAVE = "_connectit_raw_save"


class EncryptedAttribute(DeferredAttribute):
    """Decrypts on first read and caches the plaintext on the instance."""

    def __get__(self, instance: models.Model | None, cls: Any = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, Ciphertext) and not instance.__dict__.get(_RAW_SAVE):
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

    def to_python(self, value: Any) -> Any:
        """Values from a fixture (loaddata): a Fernet token is a dumped, stored value and becomes
        ``Ciphertext`` so it is saved as it is, not encrypted a second time; anything else is
        plaintext (a hand-written fixture) and is encrypted on save.

        The shape is all there is to go on (the key may be missing here), so a secret whose
        plaintext is itself a Fernet token would be taken for ciphertext; no credential this
        application stores is expected to be one.
        """
        if value is None or isinstance(value, Ciphertext):
            return value
        value = super().to_python(value)
        return Ciphertext(value) if looks_like_fernet_token(value) else value

    def value_from_object(self, obj: models.Model) -> str:
        """The value as stored, for serializers (dumpdata): ciphertext, never plaintext.

        Nothing is decrypted, so dumping needs no key and a never-read value is written exactly
        as stored. A value set in plaintext (not yet saved, or read and cached) is encrypted for
        the output; the instance itself is left unchanged. Forms never call this: the field is
        not editable.
        """
        if self.attname in obj.__dict__:
            value = obj.__dict__[self.attname]
        else:
            # Deferred: the descriptor would decrypt while loading it, so read the column itself.
            value = (
                type(obj)
                ._base_manager.db_manager(obj._state.db)
                .filter(pk=obj.pk)
                .values_list(self.attname, flat=True)
                .get()
            )
            obj.__dict__[self.attname] = value
        if value is None or value == "":
            return ""
        if isinstance(value, Ciphertext):
            return str(value)
        return encrypt(str(value))

    def value_to_string(self, obj: models.Model) -> str:
        return self.value_from_object(obj)

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


def _has_encrypted_fields(model: type[models.Model]) -> bool:
    return any(isinstance(field, EncryptedTextField) for field in model._meta.concrete_fields)


def _raw_save_started(sender: type[models.Model], instance: models.Model, raw: bool, **kwargs: Any) -> None:
    if raw and _has_encrypted_fields(type(instance)):
        instance.__dict__[_RAW_SAVE] = True


def _raw_save_finished(sender: type[models.Model], instance: models.Model, raw: bool, **kwargs: Any) -> None:
    instance.__dict__.pop(_RAW_SAVE, None)


# Connected for every model (not per sender): loaddata sends the signals with the proxy class
# as sender when a fixture names a proxy model. Both handlers are a dict lookup for normal saves.
pre_save.connect(_raw_save_started, dispatch_uid="connectit.fields.raw_save_started")
post_save.connect(_raw_save_finished, dispatch_uid="connectit.fields.raw_save_finished")


def is_stored(instance: models.Model, name: str) -> bool:
    """Whether an encrypted field holds a value, without decrypting it."""
    return bool(instance.__dict__.get(instance._meta.get_field(name).attname))
