"""Print a valid access token for an authorization (refreshing it if needed)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from oauth2_auth import tokens


class Command(BaseCommand):
    help = "Print a valid access token for the authorization CODE to standard output."

    def add_arguments(self, parser) -> None:
        parser.add_argument("code")

    def handle(self, *args: Any, code: str, **options: Any) -> None:
        try:
            token = tokens.get_access_token(code, trigger=tokens.Trigger("command get_token"))
        except tokens.TokenError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(token)
