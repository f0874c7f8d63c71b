"""The one wrapper every outbound HTTP call goes through.

It always sets a timeout (a hung endpoint must never hang a page or a worker) and reads at most
``max_bytes`` of the body (a misconfigured URL that streams a huge file must not eat memory).
Errors are turned into ``HttpError`` with a message that names only the host: request URLs can
carry secrets in their query string (a GET token endpoint), so they never reach a message.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
import urllib3
from django.conf import settings

USER_AGENT = "ConnectIT-OAuth2/1.0"
_local = threading.local()


class HttpError(Exception):
    """A request that got no usable answer (timeout, refused connection, oversized body)."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    content: bytes
    truncated: bool = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


def session() -> requests.Session:
    """One keep-alive session per thread: requests.Session is not thread-safe."""
    current = getattr(_local, "session", None)
    if current is None:
        current = _local.session = requests.Session()
        current.headers["User-Agent"] = USER_AGENT
    return current


def host_of(url: str) -> str:
    try:
        return urlsplit(url).netloc.rsplit("@", 1)[-1] or url[:40]
    except ValueError:
        return "the server"


def send(
    method: str,
    url: str,
    *,
    max_bytes: int,
    timeout: float | None = None,
    truncate: bool = False,
    **kwargs,
) -> Response:
    """Send a request and read at most ``max_bytes`` of the answer.

    A longer answer raises ``HttpError``, or with ``truncate`` is cut at ``max_bytes``.
    """
    timeout = timeout or settings.CONNECTIT_HTTP_TIMEOUT
    host = host_of(url)
    # requests' timeout bounds each connect and each read; a server trickling bytes would pass
    # both forever, so the whole answer gets the same limit as a deadline.
    deadline = time.monotonic() + timeout
    try:
        with session().request(
            method, url, timeout=timeout, stream=True, allow_redirects=False, **kwargs
        ) as answer:
            content, truncated = _read_capped(answer, max_bytes, host, truncate, deadline)
            return Response(
                status=answer.status_code,
                headers={k.lower(): v for k, v in answer.headers.items()},
                content=content,
                truncated=truncated,
            )
    except (requests.Timeout, urllib3.exceptions.TimeoutError):
        raise HttpError(f"{host} did not answer within {timeout:g} seconds.") from None
    except requests.ConnectionError as exc:
        raise HttpError(f"Could not connect to {host} ({_reason(exc)}).") from None
    except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
        # Reading the body goes to urllib3 directly (see _read_capped), so its errors land here.
        raise HttpError(f"The request to {host} failed ({type(exc).__name__}).") from None


def _read_capped(
    answer: requests.Response, max_bytes: int, host: str, truncate: bool, deadline: float
) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    # read1 returns what one receive brought, so the deadline is checked as bytes trickle in
    # (iter_content would block until a whole chunk had arrived).
    while chunk := answer.raw.read1(65536, decode_content=True):
        if time.monotonic() > deadline:
            raise requests.Timeout()
        size += len(chunk)
        if size > max_bytes:
            if not truncate:
                raise HttpError(
                    f"The answer from {host} is larger than {max_bytes // 1024} KiB; it was not read."
                )
            chunks.append(chunk[: len(chunk) - (size - max_bytes)])
            return b"".join(chunks), True
        chunks.append(chunk)
    return b"".join(chunks), False


def _reason(exc: requests.ConnectionError) -> str:
    # The exception text embeds the full URL; name the kind of failure only.
    text = str(exc).lower()
    if "refused" in text:
        return "connection refused"
    if "name or service not known" in text or "nodename nor servname" in text or "resolve" in text:
        return "host name not found"
    if "ssl" in text or "certificate" in text:
        return "TLS/certificate error"
    if "reset" in text:
        return "connection reset"
    return "network error"
