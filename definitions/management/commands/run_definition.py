"""Run a definition from cron: exits non-zero when the run failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from definitions import runner
from definitions.models import Definition, Outcome
from oauth2_auth.tokens import Trigger


class Command(BaseCommand):
    help = "Run the definition CODE now; --param name=value fills placeholders."

    def add_arguments(self, parser) -> None:
        parser.add_argument("code")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
        parser.add_argument(
            "--payload", metavar="FILE", help="Body to send instead of the template (export)."
        )

    def handle(self, *args: Any, code: str, param: list[str], payload: str | None, **options: Any) -> None:
        definition = Definition.objects.select_related("authorization").filter(code=code.upper()).first()
        if definition is None:
            raise CommandError(f"There is no definition with code {code.upper()!r}.")
        if not definition.active:
            raise CommandError(f"Definition {definition.code} is not active.")
        result = runner.run(
            definition,
            params=_params(param),
            payload=_read(payload),
            trigger=Trigger("command run_definition"),
        )
        status = f"HTTP {result.http_status}" if result.http_status else "no HTTP answer"
        summary = f"Run {result.pk} of {definition.code}: {result.outcome} ({status}, {result.pages} page(s))"
        if result.outcome != Outcome.SUCCESS:
            raise CommandError(f"{summary}: {result.message}")
        self.stdout.write(summary + (f": {result.message}" if result.message else ""))


def _params(pairs: list[str]) -> dict[str, str]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"--param takes NAME=VALUE (got {pair!r}).")
        params[name] = value
    return params


def _read(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CommandError(f"Cannot read the payload file {path}: {exc.strerror}") from None
