"""The periodic jobs of OAuth2 authorizations, run by the workers (connectit.worker)."""

from __future__ import annotations

from connectit import alerts, worker
from oauth2_auth import alert_sources, keepalive


@worker.periodic("oauth2.keepalive", every=lambda: 60.0)
def keep_tokens_warm() -> None:
    keepalive.keep_warm()


# Consent needed again, renewals that keep failing: alerts (connectit.alerts).
alerts.register_source("oauth2", alert_sources.problems)
