from __future__ import annotations

from django.apps import AppConfig


class ConnectITConfig(AppConfig):
    name = "connectit"
    verbose_name = "ConnectIT"

    def ready(self) -> None:
        # Sign-in receivers; the alert jobs; the job that forgets old form submission keys.
        from connectit import alerts, audit, submissions  # noqa: F401
