from __future__ import annotations

import threading
import time

import pytest

from oauth2_auth.singleflight import SingleFlight
from oauth2_auth.tokens import TokenError


def in_threads(count: int, target) -> list:
    results: list = []
    barrier = threading.Barrier(count)

    def worker() -> None:
        barrier.wait()
        try:
            results.append(target())
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return results


def test_concurrent_callers_share_one_execution() -> None:
    flight: SingleFlight[int] = SingleFlight()
    calls = []

    def slow() -> int:
        calls.append(1)
        time.sleep(0.2)
        return 42

    assert in_threads(8, lambda: flight.share("key", slow)) == [42] * 8
    assert len(calls) == 1


def test_waiters_get_their_own_copy_of_the_error() -> None:
    flight: SingleFlight[int] = SingleFlight()

    def failing() -> int:
        time.sleep(0.2)
        raise TokenError("BC: refused", consent_required=True)

    results = in_threads(4, lambda: flight.share("key", failing))
    assert all(isinstance(r, TokenError) and str(r) == "BC: refused" and r.consent_required for r in results)
    assert len({id(r) for r in results}) == 4


def test_later_calls_and_other_keys_run_again() -> None:
    flight: SingleFlight[str] = SingleFlight()
    assert flight.share("a", lambda: "one") == "one"
    assert flight.share("a", lambda: "two") == "two"
    assert flight.share("b", lambda: "three") == "three"
    with pytest.raises(ValueError):
        flight.share("a", lambda: int("x"))
    assert flight.share("a", lambda: "four") == "four"
