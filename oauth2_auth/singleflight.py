"""In-process single flight: concurrent calls with the same key share one execution."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class _Call(Generic[T]):
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: T | None = None
        self.error: BaseException | None = None


class SingleFlight(Generic[T]):
    """The first caller for a key runs the function; callers that arrive while it runs wait
    and get its result, or an exception like the one it raised."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._calls: dict[Hashable, _Call[T]] = {}

    def share(self, key: Hashable, function: Callable[[], T]) -> T:
        with self._guard:
            call = self._calls.get(key)
            leader = call is None
            if leader:
                call = self._calls[key] = _Call()
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise _copy(call.error)
            return call.result
        try:
            call.result = function()
            return call.result
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            with self._guard:
                del self._calls[key]
            call.done.set()


def _copy(error: BaseException) -> BaseException:
    # Each waiter raises its own exception object, so tracebacks do not pile up across threads.
    try:
        copied = type(error)(*error.args)
    except Exception:  # noqa: BLE001 - exotic constructors: share the original
        return error
    copied.__dict__.update(error.__dict__)
    return copied
