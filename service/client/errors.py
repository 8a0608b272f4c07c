"""The client's exceptions: one per kind of error envelope the server answers with.

Every non-2xx answer of docsum is ``{"error": {"code", "message", "param", ...}, "request_id"}``
(``service.errors``); :func:`error_from_response` turns one into the matching exception, keeping
the code, the parameter, any extra fields and the request id, so a caller can branch on the class
(status) or on ``code``.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

__all__ = [
    "AuthenticationError",
    "ConflictError",
    "DocsumError",
    "InvalidRequestError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServerError",
    "StreamError",
    "UnavailableError",
    "error_from_body",
    "error_from_response",
]


class DocsumError(Exception):
    """An error the server answered with (or sent as a stream's ``error`` event)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "unknown",
        param: str | None = None,
        request_id: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}" + (f" (HTTP {status})" if status else ""))
        self.message = message
        self.status = status
        self.code = code
        self.param = param
        self.request_id = request_id
        self.details = details or {}
        self.retry_after = retry_after


class InvalidRequestError(DocsumError):
    """400 or 422: the request itself is wrong (options, documents, JSON); retrying will not help."""


class AuthenticationError(DocsumError):
    """401: no API key, or an unknown one."""


class PermissionDeniedError(DocsumError):
    """403: the key may not do this."""


class NotFoundError(DocsumError):
    """404: no such model or job (a job may also have expired, or belong to another key)."""


class ConflictError(DocsumError):
    """405, 406, 408, 409, 415, 431 and other 4xx: the request's form is wrong for this route."""


class PayloadTooLargeError(DocsumError):
    """413: a body or document over the server's limits."""


class RateLimitedError(DocsumError):
    """429: the server is busy or a limit is reached; ``retry_after`` says when to come back."""


class UnavailableError(DocsumError):
    """503: shutting down, not ready, or the model cannot load."""


class ServerError(DocsumError):
    """Any other 5xx."""


class StreamError(DocsumError):
    """A stream (``stream: true``) ended with an ``error`` event after it had started."""


_BY_STATUS: dict[int, type[DocsumError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: InvalidRequestError,
    429: RateLimitedError,
    503: UnavailableError,
}


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds: an integer, or an HTTP date (RFC 9110); None if absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime  # rare: dates are allowed, docsum sends seconds

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_from_body(body: Any, status: int | None, retry_after: float | None = None) -> DocsumError:
    """The exception for an error envelope (a decoded JSON body); something else becomes a bare ``DocsumError``."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        kind = _kind(status)
        return kind(f"unexpected answer: {str(body)[:200]}", status=status, retry_after=retry_after)
    details = {key: value for key, value in error.items() if key not in ("code", "message", "param")}
    kind = StreamError if status is None else _kind(status)
    return kind(
        str(error.get("message", "")),
        status=status,
        code=str(error.get("code", "unknown")),
        param=error.get("param"),
        request_id=body.get("request_id"),
        details=details,
        retry_after=retry_after,
    )


def error_from_response(response: httpx.Response) -> DocsumError:
    """The exception for a non-2xx response whose body has been read."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = response.text
    return error_from_body(body, response.status_code, retry_after_seconds(response))


def _kind(status: int | None) -> type[DocsumError]:
    if status is None:
        return StreamError
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ConflictError
