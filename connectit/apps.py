from __future__ import annotations

from django.apps import AppConfig


class ConnectITConfig(AppConfig):
    name = "connectit"
    verbose_name = "ConnectIT"

    def ready(self) -> None:
        from connectit import alerts, audit  # noqa: F401 - sign-in receivers; the alert jobs
