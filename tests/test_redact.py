"""Unit tests of connectit.redact: secret values, and the forms a server echoes them in, replaced."""

from __future__ import annotations

import base64
import html
import json
import re
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


# --- Escapes written another way: hex in either case, one character at a time -------------------

SLASHY = "tok/en+abc/XYZ=="


def _json_unicode(value: str, upper: bool = False) -> str:
    """Every character as a JSON \\uXXXX escape, as some writers do for '+', '/', '<' and others."""
    return "".join(f"\\u{ord(char):04X}" if upper else f"\\u{ord(char):04x}" for char in value)


MIXED = {
    "quote_lowercase_hex": lambda value: re.sub(
        r"%[0-9A-F]{2}", lambda m: m[0].lower(), quote(value, safe="")
    ),
    "percent_every_character_lowercase": lambda value: "".join(f"%{byte:02x}" for byte in value.encode()),
    "percent_every_character": lambda value: "".join(f"%{byte:02X}" for byte in value.encode()),
    "json_unicode_lowercase": _json_unicode,
    "json_unicode_uppercase": lambda value: _json_unicode(value, upper=True),
    "json_dotnet_style": lambda value: value.replace("+", "\\u002B").replace("/", "\\u002f"),
    "html_decimal": lambda value: "".join(f"&#{ord(char)};" for char in value),
    "html_hex": lambda value: "".join(f"&#x{ord(char):x};" for char in value),
    "one_of_each": lambda value: "t%6Fk\\/e&#110;%2b\\u0061bc%2fXYZ%3d=",
    "hex": lambda value: value.encode().hex(),
    "hex_uppercase": lambda value: value.encode().hex().upper(),
}


@pytest.mark.parametrize("encode", MIXED.values(), ids=MIXED.keys())
def test_it_redacts_escapes_in_any_case_and_mix(encode) -> None:
    encoded = encode(SLASHY)
    assert encoded != SLASHY
    text = Redactor(SLASHY)(f'{{"echo": "{encoded}"}}')
    assert text == f'{{"echo": "{REDACTED}"}}', encoded


def test_the_lowercase_percent_form_is_what_servers_write() -> None:
    # The case: "%2f" where quote() writes "%2F".
    assert Redactor("a/b/c/d")("x=a%2fb%2fc%2fd") == f"x={REDACTED}"


def test_it_redacts_non_ascii_escaped_per_character() -> None:
    value = "päss-wörd-😀"
    escaped = json.dumps(value)[1:-1]  # \u00e4 ... \ud83d\ude00
    assert Redactor(value)(re.sub(r"\\u[0-9a-f]{4}", lambda m: "\\u" + m[0][2:].upper(), escaped)) == REDACTED
    assert Redactor(value)(quote(value).lower()) == REDACTED


def test_case_stays_significant_outside_escapes() -> None:
    # A token and its upper-case twin are different secrets; only the hex of escapes is caseless.
    assert Redactor("abcdefgh")("ABCDEFGH") == "ABCDEFGH"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", '{"token": "' + _json_unicode(SLASHY) + '", "n": 1}'),
        ("application/json", '["x", {"' + _json_unicode(SLASHY) + '": true}]'),
        ("text/xml", "<a><b>" + "".join(f"&#{ord(c)};" for c in SLASHY) + "</b></a>"),
        ("text/xml", '<a b="' + "".join(f"&#x{ord(c):x};" for c in SLASHY) + '"/>'),
        # No escape at all: the parser joins the pieces, so only the decoded text shows the secret.
        ("text/xml", "<a>tok/en<![CDATA[+abc]]>/XYZ==</a>"),
        ("application/xml", '<a b="tok/en+abc/XYZ==&#10;" c="x"/>'),
    ],
    ids=["json-value", "json-key", "xml-text", "xml-attribute", "xml-cdata", "xml-plain"],
)
def test_a_body_shows_no_secret_once_decoded(content_type: str, body: str) -> None:
    stored = Redactor(SLASHY).body(body, content_type)
    assert SLASHY not in stored
    if "json" in content_type:
        assert SLASHY not in json.dumps(json.loads(stored), ensure_ascii=False)
    else:
        from lxml import etree

        assert SLASHY not in etree.tostring(etree.fromstring(stored.encode()), encoding="unicode")
    assert REDACTED in stored


def test_a_body_without_secrets_is_stored_as_it_came() -> None:
    body = '{"value": [ {"id": 1} ],\n "odd":   "spacing", "esc": "\\u0041"}'
    assert Redactor(SLASHY).body(body, "application/json") == body
    assert Redactor(SLASHY).body("<a>&#65;</a>", "text/xml") == "<a>&#65;</a>"
    assert Redactor(SLASHY).body("not json {", "application/json") == "not json {"
