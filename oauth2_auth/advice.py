"""One line of advice beside a provider's error text: what the administrator should do about it.

The table is data (provider_advice.json): OAuth ``error`` values, and for Microsoft Entra ID the
AADSTS codes, which Entra puts in ``error_codes`` and at the start of ``error_description``
("AADSTS7000215: Invalid client secret provided..."). An AADSTS code is more specific than the
OAuth error beside it, so its advice wins. Advice is static text from the table: it never quotes
the request, so it cannot carry a secret.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

TABLE_PATH = Path(__file__).with_name("provider_advice.json")
# "AADSTS7000215:" at the start of an Entra description (or anywhere in it: some wrap it).
_AADSTS = re.compile(r"\bAADSTS(\d{4,8})\b")
UNKNOWN_AADSTS = "Microsoft explains this error code on its error page."
MAX_CODES = 10  # a body can list any number; the first few are the ones that matter


@dataclass(frozen=True)
class Table:
    oauth: dict[str, str]
    aadsts: dict[str, str]
    error_pages: dict[str, str]


@dataclass(frozen=True)
class Advice:
    text: str
    link: str = ""

    def __str__(self) -> str:
        return f"Advice: {self.text}" + (f" More: {self.link}" if self.link else "")


@cache
def table() -> Table:
    """The advice table, read once per process."""
    data = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    return Table(oauth=data["oauth"], aadsts=data["aadsts"], error_pages=data["error_pages"])


def for_oauth_error(error: str) -> str | None:
    return table().oauth.get(error.strip())


def for_aadsts(code: str) -> str | None:
    return table().aadsts.get(code.strip().removeprefix("AADSTS"))


def aadsts_link(code: str) -> str:
    """Entra's own page about an AADSTS code (it exists for every code, known to us or not)."""
    return table().error_pages["aadsts"].format(code=code)


def aadsts_codes(body: dict[str, Any]) -> list[str]:
    """The AADSTS codes of an error body: ``error_codes`` first, then the description's prefix."""
    found: list[str] = []
    listed = body.get("error_codes")
    if isinstance(listed, list):
        found += [str(code) for code in listed if isinstance(code, int | str) and str(code).isdigit()]
    description = body.get("error_description")
    if isinstance(description, str):
        found += _AADSTS.findall(description[:2000])
    return list(dict.fromkeys(found))[:MAX_CODES]  # in order, once each


def for_error(body: dict[str, Any]) -> Advice | None:
    """Advice for a provider's error body, or None when the table has nothing for it."""
    codes = aadsts_codes(body)
    link = aadsts_link(codes[0]) if codes else ""
    for code in codes:
        text = for_aadsts(code)
        if text:
            return Advice(text, aadsts_link(code))
    text = for_oauth_error(str(body.get("error") or ""))
    if text:
        return Advice(text, link)
    if link:  # a code we have no advice for: Entra's page still explains it
        return Advice(UNKNOWN_AADSTS, link)
    return None


_LINKED = re.compile(r"^(?P<text>.*?)(?: More: (?P<link>https://\S+))?$", re.DOTALL)


def split(message: str) -> tuple[str, Advice | None]:
    """A stored error message as (the provider's part, its advice), for pages that show the two
    apart. Only advice that is in the table counts, and only a link the table builds: a provider
    cannot get a link of its choosing shown by writing "Advice:" in its own text."""
    head, marker, tail = message.rpartition(" Advice: ")
    if not marker:
        return message, None
    match = _LINKED.match(tail)
    text, link = match.group("text"), match.group("link") or ""
    known = text == UNKNOWN_AADSTS or text in table().oauth.values() or text in table().aadsts.values()
    code = link.rpartition("=")[2]
    if not known or (link and not (code.isdigit() and link == aadsts_link(code))):
        return message, None
    return head, Advice(text, link)
