"""Exceptions carrying the service's error envelope.

Every non-2xx answer becomes an ``ApiError`` subclass chosen by HTTP status, so callers can catch broadly
(``ApiError``) or narrowly (``NotFound``), and branch on the stable ``code`` rather than on message text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from sovits_client._models import Task


class ApiError(Exception):
    """A non-2xx answer. ``code`` is the stable catalogue code (see the service's docs/errors.md)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        category: str = "CLIENT",
        retryable: bool = False,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.category = category
        self.message = message
        self.retryable = retryable
        self.details: dict[str, Any] = details or {}
        self.request_id = request_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class ValidationError(ApiError):
    """400: the request itself is wrong; ``details`` usually names the fields."""


class AuthenticationError(ApiError):
    """401: the API key is missing, unknown or revoked."""


class PermissionDenied(ApiError):
    """403: the key is valid but may not do this."""


class NotFound(ApiError):
    """404: no such resource for this tenant."""


class RateLimited(ApiError):
    """429: too many requests; ``retry_after`` is the server's advice in seconds, when it gave one."""

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the service failed; often worth retrying, which the clients already did."""


class TaskFailed(ApiError):
    """A task ended FAILED or CANCELLED. Carries the task's own error, and the task itself as ``task``."""

    def __init__(self, task: Task) -> None:
        error = task.get("error") or {}
        status = task["status"]
        super().__init__(
            200,  # the HTTP exchange succeeded; the work did not
            error.get("code") or f"TASK_{status}",
            error.get("message") or f"Task {task['id']} ended {status}",
            category=error.get("category", "CLIENT"),
            retryable=bool(error.get("retryable", False)),
            details=error.get("details"),
        )
        self.task = task


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFound,
    429: RateLimited,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait, from either form HTTP allows (a number, or a date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # "-0000" dates parse naive; HTTP dates are UTC
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def error_from_response(response: httpx.Response) -> ApiError:
    """The envelope as an exception. A body that is not an envelope (a proxy's HTML page) still gives a
    usable error, with code ``HTTP_<status>``, so callers never have to handle a second failure shape."""
    status = response.status_code
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        error = {}
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ApiError)
    kwargs: dict[str, Any] = {
        "category": error.get("category") or ("SERVER" if status >= 500 else "CLIENT"),
        "retryable": bool(error.get("retryable", status in (429, 502, 503, 504))),
        "details": error.get("details") if isinstance(error.get("details"), dict) else {},
        "request_id": error.get("request_id") or response.headers.get("X-Request-ID"),
    }
    if kind is RateLimited:
        kwargs["retry_after"] = parse_retry_after(response.headers.get("Retry-After"))
    message = error.get("message") or (response.text[:200].strip() if body is None else "") or f"HTTP {status}"
    return kind(status, error.get("code") or f"HTTP_{status}", message, **kwargs)
