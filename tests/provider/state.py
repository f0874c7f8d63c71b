"""In-memory counters and knobs of the test provider.

gunicorn runs one worker process with many threads, so module globals guarded by one lock are
shared by every request and exact: the single-flight tests assert "exactly one token request".
"""

from __future__ import annotations

import threading
import time
from collections import Counter

TOKEN_GRANTS = ("client_credentials", "authorization_code", "refresh_token")
COUNTER_KEYS = (*TOKEN_GRANTS, "other_grant", "total", "api", "api_unauthorized", "introspect")

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_token_delay = 0.0
_token_hang = 0.0


def count_token_request(grant_type: str) -> None:
    key = grant_type if grant_type in TOKEN_GRANTS else "other_grant"
    with _lock:
        _counts[key] += 1
        _counts["total"] += 1


def count(key: str) -> None:
    with _lock:
        _counts[key] += 1


def snapshot() -> dict[str, int]:
    with _lock:
        return {key: _counts[key] for key in COUNTER_KEYS}


def reset() -> None:
    """Zero the counters and the token delay, so one test's knobs never leak into the next."""
    global _token_delay, _token_hang
    with _lock:
        _counts.clear()
        _token_delay = 0.0
        _token_hang = 0.0


def set_token_delay(seconds: float) -> None:
    global _token_delay
    with _lock:
        _token_delay = max(0.0, seconds)


def set_token_hang(seconds: float) -> None:
    global _token_hang
    with _lock:
        _token_hang = max(0.0, seconds)


def hang_token_endpoint() -> bool:
    """With a hang set, a token request waits that long and is then dropped unprocessed (the
    caller gets 503): a request lost on its way, whose caller may die waiting."""
    with _lock:
        hang = _token_hang
    if hang:
        time.sleep(hang)
    return bool(hang)


def pause_token_endpoint() -> None:
    with _lock:
        delay = _token_delay
    # Sleep outside the lock so concurrent token requests overlap, as a slow server's would.
    if delay:
        time.sleep(delay)
