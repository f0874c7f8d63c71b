"""Many callers, one token request: threads and separate processes sharing the database."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from oauth2_auth import tokens
from oauth2_auth.models import Authorization, BearerToken
from tests.processes import in_processes
from tests.provider_helpers import ac_record, call_api, cc_record, give_consent

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parent.parent
THREADS = 20
PROCESSES = 4


@pytest.fixture
def provider(oauth_provider):
    oauth_provider.reset()
    yield oauth_provider
    oauth_provider.reset()


def expire(record: Authorization) -> None:
    BearerToken.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=5))


def expired_auth_code_record(provider, client) -> Authorization:
    record = ac_record(provider)
    give_consent(client, provider, record)
    expire(record)
    provider.reset()
    # A slow token endpoint makes every caller arrive while the one refresh is in flight.
    provider.set_token_delay(0.3)
    return record


def in_threads(code: str, count: int) -> list[str]:
    barrier = threading.Barrier(count)
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        from django.db import connections

        try:
            barrier.wait()
            results.append(tokens.get_access_token(code))
        except BaseException as exc:  # reported below with the test's failure
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def test_threads_cause_one_refresh(provider, admin_client) -> None:
    record = expired_auth_code_record(provider, admin_client)
    results = in_threads(record.code, THREADS)
    assert len(results) == THREADS
    assert len(set(results)) == 1
    assert provider.stats()["refresh_token"] == 1
    assert provider.stats()["total"] == 1
    assert call_api(provider, results[0]) == 200


def test_threads_cause_one_client_credentials_request(provider) -> None:
    record = cc_record(provider)
    provider.set_token_delay(0.3)
    results = in_threads(record.code, THREADS)
    assert len(set(results)) == 1
    assert provider.stats()["client_credentials"] == 1


def test_processes_cause_one_refresh(provider, admin_client) -> None:
    record = expired_auth_code_record(provider, admin_client)
    results = in_processes(record.code, PROCESSES)
    assert all("token" in result for result in results), results
    assert len({result["token"] for result in results}) == 1
    assert provider.stats()["total"] == 1
    record.refresh_from_db()
    assert record.token.access_token == results[0]["token"]
    assert call_api(provider, record.token.access_token) == 200
