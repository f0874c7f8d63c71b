"""Unit tests of connectit.redact: secret values, and the forms a server echoes them in, replaced."""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus, urlencode

import pytest

from connectit import redact
from connectit.redact import REDACTED, Redactor

# "/+= &", a quote, a backslash and accents: every encoding below writes this differently (its
# Base64 has "/" and padding too).
SECRET = 's3cr3t:+ /%&=va"lu\\é~?é'

ENCODINGS = {
    "raw": lambda value: value,
    "quote": quote,
    "quote_nothing_safe": lambda value: quote(value, safe=""),
    "quote_plus": quote_plus,
    "form": lambda value: urlencode({"": value})[1:],
    "json": lambda value: json.dumps(value)[1:-1],
    "json_utf8": lambda value: json.dumps(value, ensure_ascii=False)[1:-1],
    "json_escaped_slash": lambda value: json.dumps(value)[1:-1].replace("/", "\\/"),
    "json_utf8_escaped_slash": lambda value: json.dumps(value, ensure_ascii=False)[1:-1].replace("/", "\\/"),
    "json_of_quote": lambda value: json.dumps(quote(value))[1:-1].replace("/", "\\/"),
    "base64": lambda value: base64.b64encode(value.encode()).decode(),
    "base64_unpadded": lambda value: base64.b64encode(value.encode()).decode().rstrip("="),
    "base64_urlsafe": lambda value: base64.urlsafe_b64encode(value.encode()).decode(),
    "html": html.escape,
    "html_text": lambda value: html.escape(value, quote=False),
}


@pytest.mark.parametrize("encode", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_it_redacts_each_encoding(encode) -> None:
    encoded = encode(SECRET)
    text = Redactor(SECRET)(f"before {encoded} after")
    assert text.startswith(f"before {REDACTED}")
    assert text.endswith(" after")
    assert encoded not in text
    assert "s3cr3t" not in text


def test_the_encodings_differ_from_the_raw_value() -> None:
    # Otherwise the tests above would pass on a redactor that knows only the raw value.
    forms = {name: encode(SECRET) for name, encode in ENCODINGS.items()}
    # urlencode writes what quote_plus writes; every other pair differs.
    assert forms.pop("form") == forms["quote_plus"]
    assert len(set(forms.values())) == len(forms)


def test_it_redacts_every_occurrence() -> None:
    assert Redactor("abcd1234")("abcd1234 and abcd1234") == f"{REDACTED} and {REDACTED}"


def test_it_redacts_added_values() -> None:
    redactor = Redactor()
    assert redactor("token-1 token-2") == "token-1 token-2"
    redactor.add("token-1")
    redactor.add("token-2", "")
    assert redactor("token-1 token-2") == f"{REDACTED} {REDACTED}"
    assert redactor.secrets == {"token-1", "token-2"}


@pytest.mark.parametrize("value", ["", "a", "ab", "abc"])
def test_it_ignores_very_short_values(value: str) -> None:
    redactor = Redactor(value)
    text = f"a ab abc {quote(value)} {base64.b64encode(value.encode()).decode()}"
    assert redactor(text) == text
    assert redactor.secrets == set()


def test_it_redacts_a_value_of_four_characters() -> None:
    assert Redactor("abcd")("x abcd y") == f"x {REDACTED} y"


def test_it_replaces_the_longest_value_first() -> None:
    # Replacing "abcd" first would leave "efgh" of the longer secret behind.
    redactor = Redactor("abcd", "abcdefgh")
    assert redactor("abcdefgh") == REDACTED
    assert Redactor("abcdefgh", "abcd")("abcdefgh abcd") == f"{REDACTED} {REDACTED}"


def test_it_redacts_overlapping_values_whole() -> None:
    # Whichever goes first, the other must not leave its tail in the text.
    assert Redactor("abcdef", "defghi")("xabcdefghix") == f"x{REDACTED}x"


def test_it_keeps_adjacent_values_apart() -> None:
    assert Redactor("abcd", "wxyz")("abcdwxyz") == REDACTED * 2


def test_it_does_not_redact_inside_its_own_marker() -> None:
    # A value that happens to be part of "[redacted]" must not rewrite the marker it left.
    assert Redactor("dact", "secret-value")("secret-value dact") == f"{REDACTED} {REDACTED}"


def test_it_leaves_text_without_secrets_alone() -> None:
    assert Redactor("secret-value")("nothing to hide\n  here") == "nothing to hide\n  here"


def test_it_lists_the_forms_of_a_value() -> None:
    forms = redact.encodings("a/b c")
    assert {"a/b c", "a%2Fb%20c", "a/b%20c", "a%2Fb+c", "a\\/b c", "YS9iIGM"} <= forms


def test_the_definitions_redactor_is_the_shared_one() -> None:
    from definitions.calls import REDACTED as DEFINITIONS_REDACTED
    from definitions.calls import Redactor as DefinitionsRedactor

    assert DEFINITIONS_REDACTED == REDACTED
    redactor = DefinitionsRedactor()
    assert isinstance(redactor, Redactor)
    redactor.add(SECRET)
    assert redactor(f"echo {quote_plus(SECRET)}") == f"echo {REDACTED}"
    headers = redactor.headers({"Authorization": "Bearer x", "X-Echo": quote(SECRET)}, {"authorization"})
    assert headers == f"Authorization: Bearer {REDACTED}\nX-Echo: {REDACTED}"
